//! Every kind of bad input gets an error that names the problem, and the
//! sender's room and the other participants carry on.

mod support;

use std::time::Duration;

use relais_signaling::auth::{mint_token, unix_now, Claims};
use relais_signaling::ServerConfig;
use serde_json::json;
use support::{server, Client};

#[tokio::test]
async fn malformed_json_and_unknown_types() {
    let s = server(ServerConfig::default()).await;
    let mut c = Client::connect(&s).await;
    c.send_text("{not json".into()).await;
    let e = c.expect_error("bad_message").await;
    assert!(e["message"].as_str().unwrap().contains("JSON"), "{e}");
    c.send(json!({"type": "teleport", "req": "r1"})).await;
    let e = c.expect_error("bad_message").await;
    assert_eq!(e["req"], "r1", "errors echo req");
    assert!(e["message"].as_str().unwrap().contains("teleport"), "{e}");
    c.send(json!({"no_type": true})).await;
    c.expect_error("bad_message").await;
    c.send(json!({"type": "join"})).await;
    let e = c.expect_error("bad_message").await;
    assert!(e["message"].as_str().unwrap().contains("room"), "{e}");
    c.send_binary(vec![1, 2, 3]).await;
    c.expect_error("bad_message").await;
    c.assert_alive().await;
    c.join("r", "ann").await;
    c.assert_alive().await;
    s.shutdown().await;
}

#[tokio::test]
async fn oversized_messages() {
    let s = server(ServerConfig::default()).await;
    let mut c = Client::connect(&s).await;
    c.join("r", "ann").await;
    let big = json!({"type": "chat", "text": "x".repeat(70 * 1024)}).to_string();
    c.send_text(big).await;
    let e = c.expect_error("message_too_large").await;
    assert!(e["message"].as_str().unwrap().contains("65536"), "{e}");
    c.send(json!({"type": "chat", "text": "y".repeat(5000), "req": "c"}))
        .await;
    let e = c.expect_error("message_too_large").await;
    assert_eq!(e["req"], "c");
    c.assert_alive().await;
    s.shutdown().await;
}

#[tokio::test]
async fn messages_before_join_and_second_join() {
    let s = server(ServerConfig::default()).await;
    let mut c = Client::connect(&s).await;
    for msg in [
        json!({"type": "chat", "text": "hi"}),
        json!({"type": "publish_offer", "sdp": "v=0"}),
        json!({"type": "subscribe", "track_id": "p1t0", "quality": "low"}),
        json!({"type": "leave"}),
    ] {
        c.send(msg).await;
        c.expect_error("not_joined").await;
    }
    c.join("r", "ann").await;
    c.send(json!({"type": "join", "room": "other", "req": "again"}))
        .await;
    let e = c.expect_error("already_joined").await;
    assert_eq!(e["req"], "again");
    s.shutdown().await;
}

#[tokio::test]
async fn floods_are_limited_then_closed_without_disturbing_others() {
    let s = server(ServerConfig {
        max_messages_per_sec: 10,
        ..ServerConfig::default()
    })
    .await;
    let mut calm = Client::connect(&s).await;
    calm.join("r", "calm").await;
    let mut flood = Client::connect(&s).await;
    flood.join("r", "flood").await;
    calm.recv_type("participant_joined").await;
    for _ in 0..200 {
        flood.send(json!({"type": "ping"})).await;
    }
    let seen = flood.expect_closed().await;
    let limited = seen
        .iter()
        .filter(|m| m["type"] == "error" && m["code"] == "rate_limited")
        .count();
    let pongs = seen.iter().filter(|m| m["type"] == "pong").count();
    assert!(limited > 0, "some messages were refused");
    // The burst is twice the rate; the join took one token, and a few may
    // have come back while the flood was being read.
    assert!((19..=30).contains(&pongs), "{pongs} pings passed");
    assert!(
        seen.iter()
            .any(|m| m["type"] == "closing" && m["reason"] == "rate limit exceeded"),
        "the flooder is told why it is closed"
    );
    let left = calm.recv_type("participant_left").await;
    assert_eq!(left["reason"], "disconnected");
    calm.send(json!({"type": "chat", "text": "still here"}))
        .await;
    let chat = calm.recv_type("chat").await;
    assert_eq!(chat["text"], "still here");
    s.shutdown().await;
}

#[tokio::test]
async fn bad_tokens_are_unauthorized() {
    let secret = "s3cret";
    let s = server(ServerConfig {
        secret: Some(secret.into()),
        ..ServerConfig::default()
    })
    .await;
    let mut c = Client::connect(&s).await;
    c.send(json!({"type": "join", "room": "r", "name": "x"}))
        .await;
    let e = c.expect_error("unauthorized").await;
    assert!(e["message"].as_str().unwrap().contains("token"), "{e}");

    let good = Claims::new("r", "alice", Duration::from_secs(60));
    let forged = mint_token("not-the-secret", &good);
    c.send(json!({"type": "join", "room": "r", "token": forged}))
        .await;
    c.expect_error("unauthorized").await;

    let mut expired = good.clone();
    expired.exp = unix_now() - 120;
    c.send(json!({"type": "join", "room": "r", "token": mint_token(secret, &expired)}))
        .await;
    let e = c.expect_error("unauthorized").await;
    assert!(e["message"].as_str().unwrap().contains("expired"), "{e}");

    let other_room = Claims::new("elsewhere", "alice", Duration::from_secs(60));
    c.send(json!({"type": "join", "room": "r", "token": mint_token(secret, &other_room)}))
        .await;
    c.expect_error("unauthorized").await;

    let mut presenter = good.clone();
    presenter.name = Some("Alice".into());
    presenter.role = Some(relais_signaling::protocol::Role::Presenter);
    let joined = c
        .join_with(
            json!({"type": "join", "room": "r", "token": mint_token(secret, &presenter),
            "role": "host", "name": "Mallory"}),
        )
        .await;
    assert_eq!(joined["development"], false);
    assert_eq!(
        joined["role"], "presenter",
        "the token's role, not the client's"
    );
    let mut d = Client::connect(&s).await;
    d.join_with(json!({"type": "join", "room": "r", "token": mint_token(secret, &good)}))
        .await;
    let j = c.recv_type("participant_joined").await;
    assert_eq!(
        j["participant"]["name"], "alice",
        "identity when no name claim"
    );
    s.shutdown().await;
}

#[tokio::test]
async fn a_full_room_refuses_and_closed_server_refuses() {
    let s = server(ServerConfig {
        max_participants: 2,
        ..ServerConfig::default()
    })
    .await;
    let mut a = Client::connect(&s).await;
    a.join("r", "a").await;
    let mut b = Client::connect(&s).await;
    b.join("r", "b").await;
    let mut c = Client::connect(&s).await;
    c.send(json!({"type": "join", "room": "r", "name": "c"}))
        .await;
    c.expect_error("room_full").await;
    c.join("another", "c").await;
    s.state().begin_shutdown();
    let mut late = Client::connect(&s).await;
    late.send(json!({"type": "join", "room": "r2"})).await;
    // Either refused with room_closed or closed right away with a reason.
    let first = late.next().await;
    if let Some(m) = first {
        assert!(
            m["code"] == "room_closed" || m["type"] == "closing",
            "unexpected {m}"
        );
    }
    s.shutdown().await;
}

#[tokio::test]
async fn forbidden_and_unknown_targets() {
    let s = server(ServerConfig::default()).await;
    let mut host = Client::connect(&s).await;
    let j = host
        .join_with(json!({"type": "join", "room": "w", "name": "host", "mode": "webinar"}))
        .await;
    assert_eq!(j["role"], "host");
    assert_eq!(j["mode"], "webinar");
    assert_eq!(j["development"], true);
    let mut att = Client::connect(&s).await;
    let j = att.join("w", "att").await;
    assert_eq!(j["role"], "attendee");
    let att_id = j["participant_id"].as_str().unwrap().to_string();

    att.send(json!({"type": "publish_offer", "sdp": "v=0", "req": "p"}))
        .await;
    let e = att.expect_error("forbidden").await;
    assert_eq!(e["req"], "p");
    assert!(e["message"].as_str().unwrap().contains("attendee"), "{e}");

    att.send(json!({"type": "set_role", "participant_id": att_id, "role": "presenter"}))
        .await;
    att.expect_error("forbidden").await;
    att.send(json!({"type": "remove_participant", "participant_id": "p1"}))
        .await;
    att.expect_error("forbidden").await;

    att.send(json!({"type": "subscribe", "track_id": "p999t0", "quality": "high"}))
        .await;
    att.expect_error("unknown_track").await;
    att.send(json!({"type": "subscribe", "track_id": "garbage", "quality": "high"}))
        .await;
    att.expect_error("unknown_track").await;
    att.send(json!({"type": "mute", "track_id": "p999t0", "muted": true}))
        .await;
    att.expect_error("unknown_track").await;

    host.send(json!({"type": "set_role", "participant_id": "p999", "role": "presenter"}))
        .await;
    host.expect_error("unknown_participant").await;
    host.send(json!({"type": "mute_participant", "participant_id": "nobody"}))
        .await;
    host.expect_error("unknown_participant").await;
    att.assert_alive().await;
    host.assert_alive().await;
    s.shutdown().await;
}

#[tokio::test]
async fn garbage_sdp_is_bad_sdp() {
    let s = server(ServerConfig::default()).await;
    let mut c = Client::connect(&s).await;
    c.join("m", "ann").await;
    c.send(json!({"type": "publish_offer", "sdp": "this is not sdp", "req": "o"}))
        .await;
    let e = c.expect_error("bad_sdp").await;
    assert_eq!(e["req"], "o");
    c.send(json!({"type": "subscribe_answer", "sdp": "v=0"}))
        .await;
    c.expect_error("bad_sdp").await;
    c.assert_alive().await;
    s.shutdown().await;
}
