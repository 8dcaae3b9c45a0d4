//! The web client's HTTP side: room links serve the client, and a webinar
//! host gets invitation links from `POST /api/invites`.

mod support;

use std::time::Duration;

use relais_signaling::auth::{mint_token, verify, Claims};
use relais_signaling::protocol::{Role, RoomMode};
use relais_signaling::ServerConfig;
use serde_json::Value;
use support::{http_get, http_request, server};

const SECRET: &str = "web-client-test-secret";

async fn post(
    addr: std::net::SocketAddr,
    path: &str,
    auth: Option<&str>,
    body: &str,
) -> (u16, Value) {
    let auth = auth
        .map(|t| format!("Authorization: Bearer {t}\r\n"))
        .unwrap_or_default();
    let req = format!(
        "POST {path} HTTP/1.0\r\nHost: x\r\nContent-Type: application/json\r\n{auth}Content-Length: {}\r\n\r\n{body}",
        body.len()
    );
    let (status, body) = http_request(addr, &req).await;
    (status, serde_json::from_str(&body).unwrap_or(Value::Null))
}

fn token(room: &str, role: Role) -> String {
    let mut c = Claims::new(room, "someone", Duration::from_secs(60));
    c.role = Some(role);
    c.mode = Some(RoomMode::Webinar);
    mint_token(SECRET, &c)
}

fn token_of(link: &str) -> &str {
    link.split_once("?token=").expect("a token in the link").1
}

#[tokio::test]
async fn room_links_serve_the_client() {
    let server = server(ServerConfig::default()).await;
    let (status, body) = http_get(&server, "/room/team-standup").await;
    assert_eq!(status, 200);
    assert!(body.contains("/app.js"), "{body}");
    let (status, _) = http_get(&server, "/app.js").await;
    assert_eq!(status, 200);
    let (status, _) = http_get(&server, "/lib/client.js").await;
    assert_eq!(status, 200);
    let (status, _) = http_get(&server, "/no-such-file.js").await;
    assert_eq!(status, 404);
    server.shutdown().await;
}

#[tokio::test]
async fn development_invites_state_the_role() {
    let server = server(ServerConfig::default()).await;
    let (status, links) = post(
        server.http_addr(),
        "/api/invites",
        None,
        r#"{"room":"town-hall"}"#,
    )
    .await;
    assert_eq!(status, 200, "{links}");
    assert_eq!(
        links["presenter"],
        "/room/town-hall?mode=webinar&role=presenter"
    );
    assert_eq!(
        links["attendee"],
        "/room/town-hall?mode=webinar&role=attendee"
    );
    let (status, _) = post(
        server.http_addr(),
        "/api/invites",
        None,
        r#"{"room":"no spaces"}"#,
    )
    .await;
    assert_eq!(status, 400);
    server.shutdown().await;
}

#[tokio::test]
async fn only_the_host_gets_invites_with_fresh_tokens() {
    let config = ServerConfig {
        secret: Some(SECRET.into()),
        ..ServerConfig::default()
    };
    let server = server(config).await;
    let addr = server.http_addr();
    let body = r#"{"room":"town-hall"}"#;

    let (status, e) = post(addr, "/api/invites", None, body).await;
    assert_eq!(status, 401, "{e}");
    let (status, e) = post(addr, "/api/invites", Some("not.a.jwt"), body).await;
    assert_eq!(status, 401, "{e}");
    let (status, e) = post(
        addr,
        "/api/invites",
        Some(&token("elsewhere", Role::Host)),
        body,
    )
    .await;
    assert_eq!(status, 401, "{e}");
    let (status, e) = post(
        addr,
        "/api/invites",
        Some(&token("town-hall", Role::Attendee)),
        body,
    )
    .await;
    assert_eq!(status, 403, "{e}");

    let (status, links) = post(
        addr,
        "/api/invites",
        Some(&token("town-hall", Role::Host)),
        body,
    )
    .await;
    assert_eq!(status, 200, "{links}");
    let presenter = verify(
        SECRET,
        token_of(links["presenter"].as_str().unwrap()),
        "town-hall",
    )
    .unwrap();
    assert_eq!(presenter.role, Some(Role::Presenter));
    assert_eq!(presenter.mode, Some(RoomMode::Webinar));
    let attendee = verify(
        SECRET,
        token_of(links["attendee"].as_str().unwrap()),
        "town-hall",
    )
    .unwrap();
    assert_eq!(attendee.role, Some(Role::Attendee));
    assert!(links["expires_at"].as_u64().unwrap() >= presenter.exp);
    server.shutdown().await;
}

async fn get_as(addr: std::net::SocketAddr, path: &str, auth: Option<&str>) -> (u16, Value) {
    let auth = auth
        .map(|t| format!("Authorization: Bearer {t}\r\n"))
        .unwrap_or_default();
    let req = format!("GET {path} HTTP/1.0\r\nHost: x\r\n{auth}\r\n");
    let (status, body) = http_request(addr, &req).await;
    (status, serde_json::from_str(&body).unwrap_or(Value::Null))
}

#[tokio::test]
async fn only_the_host_reads_a_room_s_downlinks() {
    let config = ServerConfig {
        secret: Some(SECRET.into()),
        ..ServerConfig::default()
    };
    let server = server(config).await;
    let addr = server.http_addr();
    let path = "/api/rooms/town-hall/downlinks";

    let (status, e) = get_as(addr, path, None).await;
    assert_eq!(status, 401, "{e}");
    let (status, e) = get_as(addr, path, Some(&token("elsewhere", Role::Host))).await;
    assert_eq!(status, 401, "{e}");
    let (status, e) = get_as(addr, path, Some(&token("town-hall", Role::Attendee))).await;
    assert_eq!(status, 403, "{e}");
    assert!(
        e["error"].as_str().unwrap().contains("host"),
        "the refusal says who may: {e}"
    );
    let (status, e) = get_as(addr, path, Some(&token("town-hall", Role::Host))).await;
    assert_eq!(status, 404, "the host passes; the room is not open: {e}");
    assert_eq!(e["error"], "no such room");
    server.shutdown().await;
}
