//! The room API's downlink report (`GET /api/rooms/{room}/downlinks`)
//! during a real call: two subscribers of one camera, one asking for the
//! high layer and one for the low, are listed with their names, the
//! server's estimate of their downlinks and the layer each one receives.

use std::time::Duration;

use relais_loadtest::load::http_get::get;
use relais_loadtest::protocol::Quality;
use relais_loadtest::{Bot, JoinOptions, PublishOptions};
use relais_signaling::{start, ServerConfig};
use serde_json::Value;

const WAIT: Duration = Duration::from_secs(15);

async fn get_json(addr: std::net::SocketAddr, path: &str) -> (u16, Value) {
    let (status, body) = get(&addr.to_string(), path, "", 1 << 20, WAIT)
        .await
        .expect("an answer");
    let code = status
        .split_whitespace()
        .nth(1)
        .and_then(|s| s.parse().ok())
        .unwrap_or(0);
    (code, serde_json::from_str(&body).unwrap_or(Value::Null))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_report_lists_each_subscriber_with_its_estimate_and_layer() {
    let server = start(ServerConfig::default()).await.expect("server starts");
    let url = server.ws_url();
    let alice = Bot::join(&url, JoinOptions::new("report", "Alice"))
        .await
        .expect("alice joins");
    let video = alice
        .publish(PublishOptions::camera_and_mic())
        .await
        .expect("alice publishes")
        .video
        .expect("a camera");
    let bob = Bot::join(&url, JoinOptions::new("report", "Bob"))
        .await
        .expect("bob joins");
    let carol = Bot::join(&url, JoinOptions::new("report", "Carol"))
        .await
        .expect("carol joins");
    bob.subscribe(&video, Quality::High)
        .await
        .expect("bob subscribes");
    carol
        .subscribe(&video, Quality::Low)
        .await
        .expect("carol subscribes");
    bob.wait_received(&video, |r| r.current_layer() == Some(2), WAIT)
        .await
        .expect("bob gets the high layer");
    carol
        .wait_received(&video, |r| r.current_layer() == Some(0), WAIT)
        .await
        .expect("carol gets the low layer");

    let (status, report) = get_json(server.http_addr(), "/api/rooms/report/downlinks").await;
    assert_eq!(status, 200, "{report}");
    assert_eq!(report["room"], "report");
    let subscribers = report["subscribers"].as_array().expect("a list");
    let of = |name: &str| {
        subscribers
            .iter()
            .find(|s| s["name"] == name)
            .unwrap_or_else(|| panic!("{name} in {report}"))
    };
    for (name, layer) in [("Bob", 2), ("Carol", 0)] {
        let s = of(name);
        let camera = s["video"]
            .as_array()
            .and_then(|v| v.iter().find(|t| t["track"] == video.as_str()))
            .unwrap_or_else(|| panic!("{name} receives the camera: {s}"));
        assert_eq!(camera["current"], layer, "{name}: {s}");
        assert_eq!(camera["target"], layer, "{name}: {s}");
        assert_eq!(s["estimate_source"], "twcc", "{name}: {s}");
        assert!(
            s["estimate_kbps"].as_u64().is_some_and(|k| k > 100),
            "{name} has an estimate: {s}"
        );
        assert!(s["participant"]
            .as_str()
            .is_some_and(|p| p.starts_with('p')));
    }
    let (status, e) = get_json(server.http_addr(), "/api/rooms/nowhere/downlinks").await;
    assert_eq!((status, &e["error"]), (404, &Value::from("no such room")));

    for b in [bob, carol, alice] {
        let _ = b.leave().await;
    }
    server.shutdown().await;
}
