//! Dynacast over real UDP: a bot publisher stops the simulcast layers that
//! no subscriber needs when the server says so, and resumes them, with a
//! keyframe, when a subscriber asks for them again.

use std::time::{Duration, Instant};

use relais_loadtest::protocol::{Quality, ServerMessage};
use relais_loadtest::{Bot, BotHandle, JoinOptions, PublishOptions, VideoOptions};
use relais_signaling::{start, RunningServer, ServerConfig};

const WAIT: Duration = Duration::from_secs(15);

async fn join(server: &RunningServer, name: &str) -> BotHandle {
    Bot::join(&server.ws_url(), JoinOptions::new("dyn", name))
        .await
        .expect("joins")
}

/// Wait until the publisher's paused layers are `paused`.
async fn until_paused(publisher: &BotHandle, paused: [bool; 3]) {
    let deadline = Instant::now() + WAIT;
    loop {
        let stats = publisher.publisher_stats().await;
        if stats.paused == paused {
            return;
        }
        assert!(
            Instant::now() < deadline,
            "the publisher's layers stayed {:?}, not {paused:?}",
            stats.paused
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_bot_publisher_stops_and_resumes_the_layers_its_viewers_need() {
    let s = start(ServerConfig::default()).await.expect("server starts");
    let publisher = join(&s, "pub").await;
    let video = publisher
        .publish(PublishOptions::video_only(VideoOptions::default()))
        .await
        .unwrap()
        .video
        .unwrap();
    let viewer = join(&s, "viewer").await;
    viewer.subscribe(&video, Quality::Low).await.unwrap();
    let asked = Instant::now();
    until_paused(&publisher, [false, true, true]).await;
    let took = asked.elapsed();
    assert!(took >= Duration::from_millis(1500), "held off: {took:?}");
    let msg = publisher
        .next_event(|m| matches!(m, ServerMessage::PublisherLayers { .. }), WAIT)
        .await
        .expect("publisher_layers reached the publisher");
    assert!(matches!(msg, ServerMessage::PublisherLayers { track_id, .. } if track_id == video));

    // Paused layers send nothing; the low layer goes on reaching the viewer.
    tokio::time::sleep(Duration::from_millis(300)).await;
    let before = publisher.publisher_stats().await.video_packets;
    let t = Instant::now();
    tokio::time::sleep(Duration::from_secs(1)).await;
    let after = publisher.publisher_stats().await.video_packets;
    assert!(after[0] > before[0]);
    assert_eq!(
        (after[1], after[2]),
        (before[1], before[2]),
        "h and f stopped"
    );
    viewer
        .wait_received(
            &video,
            |r| r.since(t).filter(|p| p.layer == Some(0)).count() > 20,
            WAIT,
        )
        .await
        .expect("low keeps flowing");

    // The viewer asks for high: the layers resume, the switch lands on a keyframe.
    let t = Instant::now();
    viewer.subscribe(&video, Quality::High).await.unwrap();
    until_paused(&publisher, [false, false, false]).await;
    let r = viewer
        .wait_received(&video, |r| r.first_of_layer_after(2, t).is_some(), WAIT)
        .await
        .expect("the high layer comes back");
    let first = r.first_of_layer_after(2, t).unwrap();
    assert!(first.keyframe, "{first:?}");
    let took = t.elapsed();
    assert!(
        took < Duration::from_secs(2),
        "high came back after {took:?}"
    );
    s.shutdown().await;
}
