//! The bot API against a real server in-process: refused joins and
//! publishes carry the server's code, webinar roles, layer switching seen
//! from both ends, keyframe requests, bad input, unpublishing.

use std::time::{Duration, Instant};

use relais_loadtest::protocol::{ClientMessage, ErrorCode, Quality, Role, RoomMode, ServerMessage};
use relais_loadtest::{
    Bot, BotError, BotHandle, JoinOptions, PublishOptions, TrackReceipt, VideoOptions,
};
use relais_signaling::auth::{mint_token, unix_now, Claims};
use relais_signaling::{start, RunningServer, ServerConfig};

const WAIT: Duration = Duration::from_secs(15);

async fn server() -> RunningServer {
    start(ServerConfig::default()).await.expect("server starts")
}

async fn join(server: &RunningServer, room: &str, name: &str) -> BotHandle {
    Bot::join(&server.ws_url(), JoinOptions::new(room, name))
        .await
        .expect("joins")
}

/// The latest 20 video packets are all of `layer` and arrived after `t`.
fn settled_on(layer: u8, t: Instant) -> impl Fn(&TrackReceipt) -> bool {
    move |r| {
        let last: Vec<_> = r.since(t).filter(|p| !p.is_audio()).collect();
        last.len() >= 20
            && last[last.len() - 20..]
                .iter()
                .all(|p| p.layer == Some(layer))
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_refused_join_carries_the_servers_code() {
    let s = start(ServerConfig {
        secret: Some("s3cret".into()),
        ..ServerConfig::default()
    })
    .await
    .unwrap();
    let e = Bot::join(&s.ws_url(), JoinOptions::new("r", "nobody"))
        .await
        .expect_err("no token, no join");
    assert_eq!(e.code(), Some(ErrorCode::Unauthorized), "{e}");
    let e = Bot::join(
        &s.ws_url(),
        JoinOptions::new("r", "x").token("forged.token.here"),
    )
    .await
    .expect_err("a forged token is refused");
    assert_eq!(e.code(), Some(ErrorCode::Unauthorized), "{e}");
    let mut claims = Claims::new("r", "late", Duration::ZERO);
    claims.exp = unix_now() - 60;
    let expired = JoinOptions::new("r", "late").token(mint_token("s3cret", &claims));
    let e = Bot::join(&s.ws_url(), expired)
        .await
        .expect_err("an expired token is refused");
    assert_eq!(e.code(), Some(ErrorCode::Unauthorized), "{e}");
    let host = Bot::join(
        &s.ws_url(),
        JoinOptions::new("r", "boss")
            .role(Role::Host)
            .mode(RoomMode::Webinar)
            .signed("s3cret", Duration::from_secs(60)),
    )
    .await
    .expect("a signed token joins");
    assert_eq!(host.joined().role, Role::Host);
    assert_eq!(host.joined().mode, RoomMode::Webinar);
    assert!(!host.joined().development);
    let e = Bot::join(
        &s.ws_url(),
        JoinOptions::new("r", "x").signed("wrong", Duration::from_secs(60)),
    )
    .await
    .expect_err("a token signed with another secret is refused");
    assert_eq!(e.code(), Some(ErrorCode::Unauthorized), "{e}");
    host.leave().await.unwrap();
    let e = Bot::join("ws://127.0.0.1:1/ws", JoinOptions::new("r", "x"))
        .await
        .expect_err("nothing listens there");
    assert!(matches!(e, BotError::Connect { .. }), "{e}");
    s.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn webinar_attendee_is_refused_then_promoted() {
    let s = server().await;
    let host = Bot::join(
        &s.ws_url(),
        JoinOptions::new("w", "host")
            .role(Role::Host)
            .mode(RoomMode::Webinar),
    )
    .await
    .unwrap();
    assert_eq!(host.joined().mode, RoomMode::Webinar);
    let attendee = Bot::join(&s.ws_url(), JoinOptions::new("w", "a").role(Role::Attendee))
        .await
        .unwrap();
    assert_eq!(attendee.joined().role, Role::Attendee);

    let e = attendee
        .publish(PublishOptions::audio_only())
        .await
        .expect_err("attendees cannot publish");
    match &e {
        BotError::Refused { code, message } => {
            assert_eq!(*code, ErrorCode::Forbidden);
            assert!(!message.is_empty());
        }
        other => panic!("not a refusal: {other}"),
    }

    host.request(ClientMessage::SetRole {
        req: None,
        participant_id: attendee.participant_id().to_string(),
        role: Role::Presenter,
    })
    .await
    .expect("the host promotes");
    attendee
        .next_event(
            |m| {
                matches!(
                    m,
                    ServerMessage::RoleChanged {
                        role: Role::Presenter,
                        ..
                    }
                )
            },
            WAIT,
        )
        .await
        .expect("the attendee is told");
    let published = attendee
        .publish(PublishOptions::audio_only())
        .await
        .expect("a presenter publishes");
    let track = published.audio.unwrap();
    host.wait_received(&track, |r| r.audio_packets >= 25, WAIT)
        .await
        .expect("the host hears the new presenter");
    s.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn switching_layers_lands_on_keyframes_without_gaps() {
    let s = server().await;
    let publisher = join(&s, "m", "pub").await;
    let video = publisher
        .publish(PublishOptions::video_only(VideoOptions::default()))
        .await
        .unwrap()
        .video
        .unwrap();
    let viewer = join(&s, "m", "viewer").await;

    viewer.subscribe(&video, Quality::Low).await.unwrap();
    let t0 = Instant::now();
    viewer
        .wait_received(&video, settled_on(0, t0), WAIT)
        .await
        .expect("settles on the low layer");

    for (quality, layer) in [(Quality::High, 2), (Quality::Medium, 1), (Quality::Low, 0)] {
        let before = publisher.publisher_stats().await.keyframe_requests;
        let t = Instant::now();
        viewer.subscribe(&video, quality).await.unwrap();
        let r = viewer
            .wait_received(&video, settled_on(layer, t), WAIT)
            .await
            .unwrap_or_else(|e| panic!("no switch to layer {layer}: {e}"));
        let first = r.first_of_layer_after(layer, t).expect("the new layer");
        assert!(
            first.keyframe,
            "the switch to {layer} lands on a keyframe: {first:?}"
        );
        r.check_continuity_since(t0)
            .unwrap_or_else(|e| panic!("switch to {layer}: {e}"));
        assert_eq!(r.ssrcs.len(), 1);
        let after = publisher.publisher_stats().await.keyframe_requests;
        assert!(
            after[usize::from(layer)] > before[usize::from(layer)],
            "the publisher saw a PLI for layer {layer}: {before:?} then {after:?}"
        );
        viewer
            .next_event(
                |m| matches!(m, ServerMessage::LayerChanged { layer: Some(l), .. } if *l == layer),
                WAIT,
            )
            .await
            .expect("layer_changed");
    }

    let t = Instant::now();
    viewer.subscribe_size(&video, 640, 360).await.unwrap();
    viewer
        .wait_received(&video, settled_on(1, t), WAIT)
        .await
        .expect("640x360 is the middle layer");

    // A PLI from the viewer reaches the publisher (throttled to 2/s per layer).
    tokio::time::sleep(Duration::from_millis(600)).await;
    let before = publisher.publisher_stats().await.keyframe_requests[1];
    viewer.request_keyframe(&video).await.unwrap();
    let deadline = Instant::now() + WAIT;
    while publisher.publisher_stats().await.keyframe_requests[1] == before {
        assert!(
            Instant::now() < deadline,
            "the PLI never reached the publisher"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    s.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_late_subscriber_gets_a_keyframe_promptly() {
    let s = server().await;
    let publisher = join(&s, "late", "pub").await;
    let video = publisher
        .publish(PublishOptions::video_only(VideoOptions {
            keyframe_interval: Duration::from_secs(10),
            ..VideoOptions::default()
        }))
        .await
        .unwrap()
        .video
        .unwrap();
    // Let the track run past its first keyframe.
    let deadline = Instant::now() + WAIT;
    while publisher.publisher_stats().await.frames_sent[2] < 30 {
        assert!(Instant::now() < deadline, "the publisher never connected");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    let before = publisher.publisher_stats().await;
    let joined_at = Instant::now();
    let viewer = join(&s, "late", "viewer").await;
    let r = viewer
        .wait_received(&video, |r| r.video_packets() >= 10, WAIT)
        .await
        .unwrap();
    let first = r.log.front().unwrap();
    assert!(
        first.keyframe,
        "the first packet starts a keyframe: {first:?}"
    );
    assert!(
        first.at - joined_at < Duration::from_secs(2),
        "a keyframe {:?} after joining, long before the next periodic one",
        first.at - joined_at
    );
    let after = publisher.publisher_stats().await;
    let asked = |s: &relais_loadtest::PublisherStats| s.keyframe_requests.iter().sum::<u64>();
    assert!(asked(&after) > asked(&before), "{before:?} then {after:?}");
    r.check_continuity().unwrap();
    s.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bad_input_and_unpublish() {
    let s = server().await;
    let publisher = join(&s, "b", "pub").await;
    let audio = publisher
        .publish(PublishOptions::audio_only())
        .await
        .unwrap()
        .audio
        .unwrap();
    let listener = join(&s, "b", "ear").await;
    listener
        .wait_received(&audio, |r| r.audio_packets >= 10, WAIT)
        .await
        .unwrap();

    let troll = join(&s, "b", "troll").await;
    troll.send_raw("{oops").await.unwrap();
    let e = troll
        .next_event(|m| matches!(m, ServerMessage::Error { .. }), WAIT)
        .await
        .unwrap();
    assert!(
        matches!(
            e,
            ServerMessage::Error {
                code: ErrorCode::BadMessage,
                ..
            }
        ),
        "{e:?}"
    );
    let e = troll
        .subscribe("p999t9", Quality::Low)
        .await
        .expect_err("no such track");
    assert_eq!(e.code(), Some(ErrorCode::UnknownTrack), "{e}");
    let pong = troll
        .request(ClientMessage::Ping { req: None })
        .await
        .unwrap();
    assert!(matches!(pong, ServerMessage::Pong { .. }));

    // Audio kept flowing, in one continuous stream.
    let before = listener.received(&audio).await.unwrap().audio_packets;
    let r = listener
        .wait_received(&audio, |r| r.audio_packets >= before + 10, WAIT)
        .await
        .unwrap();
    r.check_continuity().unwrap();

    publisher.unpublish(&audio).await.unwrap();
    listener
        .next_event(
            |m| matches!(m, ServerMessage::TrackUnpublished { track_id } if *track_id == audio),
            WAIT,
        )
        .await
        .expect("the listener is told");
    assert_eq!(
        publisher
            .unpublish(&audio)
            .await
            .err()
            .and_then(|e| e.code()),
        Some(ErrorCode::UnknownTrack)
    );
    troll.leave().await.unwrap();
    assert!(!troll.is_running());
    assert!(matches!(
        troll.send(ClientMessage::Ping { req: None }).await,
        Err(BotError::Closed)
    ));
    s.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_second_publish_adds_a_screen_share() {
    let s = server().await;
    let publisher = join(&s, "share", "pub").await;
    let camera = publisher
        .publish(PublishOptions::camera_and_mic())
        .await
        .unwrap();
    let screen = publisher
        .publish(PublishOptions::video_only(
            VideoOptions::screen().with_layers(1),
        ))
        .await
        .expect("a renegotiation adds a line")
        .video
        .unwrap();
    assert_ne!(Some(&screen), camera.video.as_ref());
    let viewer = join(&s, "share", "viewer").await;
    let info = viewer
        .joined()
        .tracks
        .iter()
        .find(|t| t.id == screen)
        .expect("joined lists the screen share")
        .clone();
    assert_eq!(info.source, relais_loadtest::protocol::Source::Screen);
    assert_eq!(info.layers, 1);
    for track in [
        &screen,
        camera.video.as_ref().unwrap(),
        camera.audio.as_ref().unwrap(),
    ] {
        let r = viewer
            .wait_received(track, |r| r.packets >= 30, WAIT)
            .await
            .unwrap_or_else(|e| panic!("{track}: {e}"));
        r.check_continuity()
            .unwrap_or_else(|e| panic!("{track}: {e}"));
    }
    let shared = viewer.received(&screen).await.unwrap();
    assert_eq!(
        shared.per_layer[0],
        shared.video_packets(),
        "one layer, index 0"
    );
    s.shutdown().await;
}
