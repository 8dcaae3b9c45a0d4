//! Room life over real WebSockets: joins and leaves, chat and hands, host
//! powers, grace periods, HTTP endpoints and shutdown. No media flows here;
//! the media tests live with the client library.

mod support;

use std::time::Duration;

use relais_signaling::ServerConfig;
use serde_json::json;
use support::{http_get, server, Client, WAIT};

#[tokio::test]
async fn join_chat_hand_and_leave() {
    let s = server(ServerConfig::default()).await;
    let mut a = Client::connect(&s).await;
    let ja = a.join("r", "Ann").await;
    assert_eq!(ja["protocol_version"], 1);
    assert_eq!(ja["role"], "participant");
    assert_eq!(ja["mode"], "meeting");
    assert_eq!(ja["participants"], json!([]));
    let a_id = ja["participant_id"].as_str().unwrap().to_string();
    let mut b = Client::connect(&s).await;
    let jb = b.join("r", "Bob").await;
    assert_eq!(jb["participants"][0]["id"], a_id.as_str());
    assert_eq!(jb["participants"][0]["name"], "Ann");
    let joined = a.recv_type("participant_joined").await;
    assert_eq!(joined["participant"]["name"], "Bob");

    b.send(json!({"type": "chat", "text": "hello", "req": "c1"}))
        .await;
    let (m1, m2) = (b.recv().await, b.recv().await);
    let (ok, own) = if m1["type"] == "ok" {
        (m1, m2)
    } else {
        (m2, m1)
    };
    assert_eq!(ok, json!({"type": "ok", "req": "c1"}));
    assert_eq!(own["type"], "chat", "the sender gets its own chat too");
    let chat = a.recv_type("chat").await;
    assert_eq!(chat["text"], "hello");
    assert_eq!(chat["name"], "Bob");
    assert_eq!(chat["participant_id"], own["participant_id"]);
    assert!(chat["timestamp_ms"].as_u64().unwrap() > 1_700_000_000_000);

    a.send(json!({"type": "raise_hand", "raised": true})).await;
    let hand = b.recv_type("hand_raised").await;
    assert_eq!(hand["participant_id"], a_id.as_str());
    assert_eq!(hand["raised"], true);

    a.send(json!({"type": "leave", "req": "bye"})).await;
    assert_eq!(a.recv_type("ok").await["req"], "bye");
    a.expect_closed().await;
    let left = b.recv_type("participant_left").await;
    assert_eq!(left["participant_id"], a_id.as_str());
    assert_eq!(left["reason"], "left");

    drop(b);
    let s2 = Client::connect(&s).await;
    drop(s2);
    s.shutdown().await;
}

#[tokio::test]
async fn a_dropped_socket_is_a_disconnect() {
    let s = server(ServerConfig::default()).await;
    let mut a = Client::connect(&s).await;
    a.join("r", "a").await;
    let mut b = Client::connect(&s).await;
    let b_id = b.join("r", "b").await["participant_id"].clone();
    drop(b);
    let left = a.recv_type("participant_left").await;
    assert_eq!(left["participant_id"], b_id);
    assert_eq!(left["reason"], "disconnected");
    s.shutdown().await;
}

#[tokio::test]
async fn host_promotes_demotes_mutes_and_removes() {
    let s = server(ServerConfig::default()).await;
    let mut host = Client::connect(&s).await;
    host.join_with(json!({"type": "join", "room": "w", "name": "h", "mode": "webinar"}))
        .await;
    let mut att = Client::connect(&s).await;
    let id = att.join("w", "a").await["participant_id"]
        .as_str()
        .unwrap()
        .to_string();
    let mut other = Client::connect(&s).await;
    other.join("w", "o").await;

    host.send(json!({"type": "set_role", "participant_id": id, "role": "presenter", "req": "up"}))
        .await;
    assert_eq!(host.recv_type("ok").await["req"], "up");
    let changed = att.recv_type("role_changed").await;
    assert_eq!(changed["participant_id"], id.as_str());
    assert_eq!(changed["role"], "presenter");
    // A presenter may publish: the offer now reaches the core (which finds the SDP bad).
    att.send(json!({"type": "publish_offer", "sdp": "nonsense"}))
        .await;
    att.expect_error("bad_sdp").await;

    host.send(json!({"type": "set_role", "participant_id": id, "role": "attendee"}))
        .await;
    assert_eq!(other.recv_type("role_changed").await["role"], "presenter");
    assert_eq!(other.recv_type("role_changed").await["role"], "attendee");
    att.recv_type("role_changed").await;
    att.send(json!({"type": "publish_offer", "sdp": "nonsense"}))
        .await;
    att.expect_error("forbidden").await;

    host.send(json!({"type": "mute_participant", "participant_id": id}))
        .await;
    att.recv_type("muted_by_host").await;

    host.send(json!({"type": "remove_participant", "participant_id": id}))
        .await;
    let seen = att.expect_closed().await;
    assert!(
        seen.iter()
            .any(|m| m["type"] == "closing" && m["reason"] == "removed"),
        "{seen:?}"
    );
    let left = other.recv_type("participant_left").await;
    assert_eq!(left["participant_id"], id.as_str());
    assert_eq!(left["reason"], "removed");
    host.send(json!({"type": "set_role", "participant_id": id, "role": "presenter"}))
        .await;
    host.expect_error("unknown_participant").await;
    s.shutdown().await;
}

#[tokio::test]
async fn empty_rooms_close_after_the_grace_period() {
    let s = server(ServerConfig {
        room_grace: Duration::from_millis(200),
        ..ServerConfig::default()
    })
    .await;
    let mut a = Client::connect(&s).await;
    let first = a
        .join_with(json!({"type": "join", "room": "g", "mode": "webinar"}))
        .await;
    assert_eq!(first["role"], "host");
    drop(a);
    let registry = &s.state().registry;
    let deadline = tokio::time::Instant::now() + WAIT;
    while registry.room_count() > 0 {
        assert!(tokio::time::Instant::now() < deadline, "room never closed");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    // A new room of that name starts afresh, in its own mode.
    let mut b = Client::connect(&s).await;
    let j = b.join("g", "b").await;
    assert_eq!(j["mode"], "meeting");
    assert_eq!(j["role"], "participant");
    s.shutdown().await;
}

#[tokio::test]
async fn health_metrics_and_web_client() {
    let s = server(ServerConfig::default()).await;
    let mut a = Client::connect(&s).await;
    a.join("r", "a").await;
    a.send(json!({"type": "bogus"})).await;
    a.expect_error("bad_message").await;
    assert_eq!(http_get(&s, "/healthz").await, (200, "ok".to_string()));
    let (status, body) = http_get(&s, "/metrics").await;
    assert_eq!(status, 200);
    for name in [
        "relais_rooms 1",
        "relais_participants 1",
        "relais_published_tracks 0",
        "relais_peers{state=\"connecting\"}",
        "relais_peers{state=\"connected\"}",
        "relais_rtp_packets_received_total",
        "relais_rtp_bytes_received_total",
        "relais_rtp_packets_forwarded_total",
        "relais_rtp_bytes_forwarded_total",
        "relais_keyframe_requests_total{direction=\"sent\"}",
        "relais_keyframe_requests_total{direction=\"received\"}",
        "relais_layer_switches_total",
        "relais_unroutable_datagrams_total",
        "relais_peer_panics_total",
        "relais_send_dropped_total",
        "relais_relay_dropped_total",
        "relais_downtracks{layer=\"paused\"} 0",
        "relais_bandwidth_pauses_total 0",
        "relais_video_freezes_total 0",
        "relais_downlink_estimate_bps_bucket{le=\"1000000\"} 0",
        "relais_downlink_estimate_bps_count 0",
        "relais_downlink_rtt_seconds_bucket{le=\"0.05\"} 0",
        "relais_downlink_loss_ratio_bucket{le=\"0.01\"} 0",
        "relais_websocket_connections 1",
        "relais_signaling_errors_total{code=\"bad_message\"} 1",
        "process_cpu_seconds_total",
        "process_resident_memory_bytes",
    ] {
        assert!(body.contains(name), "metrics lack {name}:\n{body}");
    }
    let (status, page) = http_get(&s, "/").await;
    assert_eq!(status, 200);
    assert!(page.contains("Relais"));
    assert_eq!(http_get(&s, "/nope.js").await.0, 404);
    s.shutdown().await;
}

#[tokio::test]
async fn shutdown_tells_every_client() {
    let s = server(ServerConfig::default()).await;
    let mut a = Client::connect(&s).await;
    a.join("r", "a").await;
    let mut idle = Client::connect(&s).await;
    let addr = s.http_addr();
    tokio::time::timeout(Duration::from_secs(10), s.shutdown())
        .await
        .expect("shutdown finishes");
    for c in [&mut a, &mut idle] {
        let seen = c.expect_closed().await;
        assert!(
            seen.iter()
                .any(|m| m["type"] == "closing" && m["reason"] == "server shutting down"),
            "{seen:?}"
        );
    }
    assert!(tokio::net::TcpStream::connect(addr).await.is_err());
}

#[tokio::test]
async fn a_client_that_does_not_read_is_dropped_without_slowing_the_room() {
    let s = server(ServerConfig {
        max_messages_per_sec: 100_000,
        ..ServerConfig::default()
    })
    .await;
    let mut talker = Client::connect(&s).await;
    talker.join("r", "talker").await;
    let mut sleeper = Client::connect(&s).await;
    let sleeper_id = sleeper.join("r", "sleeper").await["participant_id"].clone();
    talker.recv_type("participant_joined").await;
    // Enough chat to fill the sleeper's socket buffers and then its queue.
    let text = "z".repeat(4000);
    let started = tokio::time::Instant::now();
    let mut left = None;
    for i in 0..20_000 {
        talker
            .send(json!({"type": "chat", "text": text.clone()}))
            .await;
        loop {
            let m = talker.recv().await;
            match m["type"].as_str() {
                Some("chat") => break,
                Some("participant_left") => left = Some(m),
                _ => panic!("unexpected {m}"),
            }
        }
        if left.is_some() {
            assert!(
                i > 512,
                "dropped only after its queue filled ({i} messages)"
            );
            break;
        }
    }
    let left = left.expect("the sleeper was dropped");
    assert_eq!(left["participant_id"], sleeper_id);
    assert_eq!(left["reason"], "disconnected");
    assert!(
        started.elapsed() < Duration::from_secs(20),
        "the talker was never held up for long"
    );
    talker.assert_alive().await;
    drop(sleeper);
    s.shutdown().await;
}

#[tokio::test]
async fn core_events_reach_the_right_clients() {
    use relais_sfu::{CoreEvent, ParticipantId, TrackId};
    use relais_signaling::dispatcher::route;

    let s = server(ServerConfig::default()).await;
    let mut a = Client::connect(&s).await;
    let a_id: ParticipantId = a.join("r", "a").await["participant_id"]
        .as_str()
        .unwrap()
        .parse()
        .unwrap();
    let mut b = Client::connect(&s).await;
    let b_id: ParticipantId = b.join("r", "b").await["participant_id"]
        .as_str()
        .unwrap()
        .parse()
        .unwrap();
    a.recv_type("participant_joined").await;

    let track = TrackId {
        owner: a_id,
        index: 0,
    };
    route(
        s.state(),
        CoreEvent::LayerSwitched {
            participant: b_id,
            track,
            layer: Some(1),
        },
    );
    let m = b.recv_type("layer_changed").await;
    assert_eq!(m["track_id"], track.to_string());
    assert_eq!(m["layer"], 1);

    let room = s.state().registry.room("r").unwrap().id;
    route(
        s.state(),
        CoreEvent::ActiveSpeaker {
            room,
            participant: Some(a_id),
        },
    );
    for c in [&mut a, &mut b] {
        let m = c.recv_type("active_speaker").await;
        assert_eq!(m["participant_id"], a_id.to_string());
    }

    route(
        s.state(),
        CoreEvent::ParticipantFailed {
            participant: a_id,
            reason: "ICE timed out".into(),
        },
    );
    let seen = a.expect_closed().await;
    assert!(
        seen.iter()
            .any(|m| m["type"] == "closing" && m["reason"] == "failed"),
        "{seen:?}"
    );
    assert!(
        !seen.iter().any(|m| m["type"] == "layer_changed"),
        "layer_changed went only to its subscriber"
    );
    let left = b.recv_type("participant_left").await;
    assert_eq!(left["participant_id"], a_id.to_string());
    assert_eq!(left["reason"], "failed");
    s.shutdown().await;
}
