//! Last-N, pins and dynacast as the client sees them over the WebSocket.
//! No media flows: a published simulcast track that nobody receives is
//! paused at its publisher, and resumed when someone joins.

mod support;

use std::time::{Duration, Instant};

use relais_signaling::ServerConfig;
use serde_json::{json, Value};
use str0m::media::{Direction, MediaKind, Simulcast, SimulcastLayer};
use str0m::{Candidate, Rtc};
use support::{server, Client};

/// Publish simulcast video and audio from `c`; the (video, audio) track ids.
async fn publish(c: &mut Client) -> (String, String) {
    let mut rtc = Rtc::builder().build(Instant::now());
    rtc.add_local_candidate(Candidate::host("127.0.0.1:9".parse().unwrap(), "udp").unwrap());
    let mut api = rtc.sdp_api();
    let simulcast = Simulcast {
        send: ["q", "h", "f"]
            .iter()
            .map(|r| SimulcastLayer::new(r))
            .collect(),
        recv: vec![],
    };
    let video = api.add_media(
        MediaKind::Video,
        Direction::SendOnly,
        None,
        None,
        Some(simulcast),
    );
    let audio = api.add_media(MediaKind::Audio, Direction::SendOnly, None, None, None);
    let (offer, _pending) = api.apply().unwrap();
    c.send(json!({"type": "publish_offer", "req": "pub", "sdp": offer.to_sdp_string()}))
        .await;
    let answer = c.recv_type("publish_answer").await;
    let id_of = |mid: String| {
        answer["tracks"]
            .as_array()
            .unwrap()
            .iter()
            .find(|t| t["mid"] == mid.as_str())
            .map(|t| t["track_id"].as_str().unwrap().to_string())
            .unwrap()
    };
    (id_of(video.to_string()), id_of(audio.to_string()))
}

fn layers(m: &Value) -> Vec<(String, bool)> {
    m["layers"]
        .as_array()
        .unwrap()
        .iter()
        .map(|l| {
            (
                l["rid"].as_str().unwrap().to_string(),
                l["active"].as_bool().unwrap(),
            )
        })
        .collect()
}

fn owned(v: &[(&str, bool)]) -> Vec<(String, bool)> {
    v.iter().map(|(r, a)| (r.to_string(), *a)).collect()
}

#[tokio::test]
async fn publisher_layers_pause_what_nobody_receives_and_resume_for_a_newcomer() {
    let s = server(ServerConfig::default()).await;
    let mut ann = Client::connect(&s).await;
    ann.join("dynacast", "Ann").await;
    let (video, _) = publish(&mut ann).await;
    let started = Instant::now();
    let m = ann.recv_type("publisher_layers").await;
    assert!(
        started.elapsed() >= Duration::from_millis(1500),
        "held off first"
    );
    assert_eq!(m["track_id"], video.as_str());
    assert_eq!(
        layers(&m),
        owned(&[("q", false), ("h", false), ("f", false)]),
        "nobody receives Ann's camera"
    );
    let mut bob = Client::connect(&s).await;
    bob.join("dynacast", "Bob").await;
    let m = ann.recv_type("publisher_layers").await;
    assert_eq!(layers(&m), owned(&[("q", true), ("h", true), ("f", true)]));
    // Bob asks for the low layer only: after the hold-off h and f pause.
    bob.send(json!({"type": "subscribe", "track_id": video, "quality": "low"}))
        .await;
    let m = ann.recv_type("publisher_layers").await;
    assert_eq!(
        layers(&m),
        owned(&[("q", true), ("h", false), ("f", false)])
    );
    s.shutdown().await;
}

#[tokio::test]
async fn pins_are_checked_and_last_n_is_announced() {
    let config = ServerConfig {
        media: relais_sfu::MediaPolicy {
            last_n: 1,
            ..Default::default()
        },
        ..ServerConfig::default()
    };
    let s = server(config).await;
    let mut ann = Client::connect(&s).await;
    ann.join("last-n", "Ann").await;
    let (ann_video, ann_audio) = publish(&mut ann).await;
    let mut bob = Client::connect(&s).await;
    bob.join("last-n", "Bob").await;
    let (bob_video, _) = publish(&mut bob).await;
    let mut cem = Client::connect(&s).await;
    cem.join("last-n", "Cem").await;
    // Nobody spoke: Cem receives the first camera to arrive, not Bob's.
    let m = cem.recv_type("last_n").await;
    assert_eq!(m["paused"], json!([bob_video]));
    cem.send(json!({"type": "pin", "req": "p1", "track_id": bob_video}))
        .await;
    let m = cem.recv_type("last_n").await;
    assert_eq!(m["paused"], json!([]), "a pinned track passes last-N");
    cem.send(json!({"type": "pin", "req": "p2", "track_id": ann_audio}))
        .await;
    cem.expect_error("bad_message").await;
    cem.send(json!({"type": "pin", "req": "p3", "track_id": "p99t1"}))
        .await;
    cem.expect_error("unknown_track").await;
    ann.send(json!({"type": "pin", "req": "p4", "track_id": ann_video}))
        .await;
    ann.expect_error("bad_message").await;
    cem.send(json!({"type": "pin", "req": "p5", "track_id": bob_video, "pinned": false}))
        .await;
    let m = cem.recv_type("last_n").await;
    assert_eq!(m["paused"], json!([bob_video]));
    cem.assert_alive().await;
    s.shutdown().await;
}

#[tokio::test]
async fn a_room_made_with_its_own_last_n_keeps_it_and_others_keep_the_default() {
    let s = server(ServerConfig::default()).await;
    let mut ann = Client::connect(&s).await;
    ann.join_with(json!({"type": "join", "room": "small", "name": "Ann", "last_n": 1}))
        .await;
    publish(&mut ann).await;
    let mut bob = Client::connect(&s).await;
    // Only the join that makes the room decides.
    bob.join_with(json!({"type": "join", "room": "small", "name": "Bob", "last_n": 0}))
        .await;
    let (bob_video, _) = publish(&mut bob).await;
    let mut cem = Client::connect(&s).await;
    cem.join("small", "Cem").await;
    let m = cem.recv_type("last_n").await;
    assert_eq!(m["paused"], json!([bob_video]));

    // Another room on the same server has no limit: nothing is paused.
    let mut dan = Client::connect(&s).await;
    dan.join("big", "Dan").await;
    publish(&mut dan).await;
    let mut eve = Client::connect(&s).await;
    eve.join("big", "Eve").await;
    publish(&mut eve).await;
    let mut fay = Client::connect(&s).await;
    fay.join("big", "Fay").await;
    fay.send(json!({"type": "ping", "req": "later"})).await;
    tokio::time::sleep(Duration::from_millis(500)).await;
    fay.send(json!({"type": "ping", "req": "done"})).await;
    loop {
        let m = fay.recv().await;
        assert_ne!(m["type"], "last_n", "no last-N in the big room: {m}");
        if m["type"] == "pong" && m["req"] == "done" {
            break;
        }
    }
    s.shutdown().await;
}

#[tokio::test]
async fn sdp_messages_may_be_larger_than_others_for_big_rooms() {
    let s = server(ServerConfig::default()).await;
    let mut c = Client::connect(&s).await;
    c.join("big-sdp", "Ann").await;
    // A 200 KiB answer (a room of about 50 publishers) is not too large: it
    // reaches the core, which has no offer waiting.
    let sdp = format!("v=0\r\n{}", "a=x\r\n".repeat(40 * 1024));
    c.send(json!({"type": "subscribe_answer", "req": "a", "sdp": sdp}))
        .await;
    let e = c.expect_error("bad_sdp").await;
    assert_eq!(e["req"], "a");
    // Other messages keep the 64 KiB limit, and SDP messages a 512 KiB one.
    c.send(json!({"type": "chat", "text": "x".repeat(200 * 1024)}))
        .await;
    c.expect_error("message_too_large").await;
    let sdp = "x".repeat(520 * 1024);
    c.send(json!({"type": "publish_offer", "sdp": sdp})).await;
    let e = c.expect_error("message_too_large").await;
    assert!(e["message"].as_str().unwrap().contains("524288"), "{e}");
    c.assert_alive().await;
    s.shutdown().await;
}
