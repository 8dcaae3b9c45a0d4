//! A meeting through a real server in-process, over real UDP: a publisher
//! with three simulcast layers and audio, subscribers asking for different
//! qualities, and a running subscription switched down and up. Everything
//! is judged from the packets the subscribers actually receive.

use std::time::{Duration, Instant};

use relais_loadtest::protocol::Quality;
use relais_loadtest::{Bot, BotHandle, JoinOptions, PublishOptions, TrackReceipt};
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

/// The layers of the last `n` video packets received.
fn recent_layers(r: &TrackReceipt, n: usize) -> Vec<u8> {
    r.log
        .iter()
        .rev()
        .filter(|p| !p.is_audio())
        .take(n)
        .filter_map(|p| p.layer)
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_subscribers_get_the_layers_they_asked_for_and_audio() {
    let server = server().await;
    let publisher = join(&server, "layers", "presenter").await;
    let published = publisher
        .publish(PublishOptions::camera_and_mic())
        .await
        .expect("publish");
    let (video, audio) = (published.video.unwrap(), published.audio.unwrap());
    let low = join(&server, "layers", "low").await;
    let high = join(&server, "layers", "high").await;
    low.subscribe(&video, Quality::Low).await.unwrap();
    high.subscribe(&video, Quality::High).await.unwrap();

    let got_low = low
        .wait_received(
            &video,
            |r| recent_layers(r, 60).len() == 60 && recent_layers(r, 60).iter().all(|l| *l == 0),
            WAIT,
        )
        .await
        .expect("the low subscriber settles on layer 0");
    let got_high = high
        .wait_received(&video, |r| r.per_layer[2] >= 100, WAIT)
        .await
        .expect("the high subscriber gets layer 2");
    assert!(
        recent_layers(&got_high, 60).iter().all(|l| *l == 2),
        "{:?}",
        recent_layers(&got_high, 60)
    );
    assert_eq!(got_high.ssrcs.len(), 1, "one SSRC for the whole stream");
    assert!(
        got_low.log.iter().find(|p| !p.is_audio()).unwrap().keyframe,
        "low starts at a keyframe"
    );
    assert!(
        got_high
            .log
            .iter()
            .find(|p| !p.is_audio())
            .unwrap()
            .keyframe,
        "high starts at a keyframe"
    );
    for bot in [&low, &high] {
        let a = bot
            .wait_received(&audio, |r| r.audio_packets >= 50, WAIT)
            .await
            .expect("audio arrives");
        assert!(
            a.check_continuity().is_ok(),
            "audio is continuous: {:?}",
            a.check_continuity()
        );
    }
    server.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_running_subscription_switches_down_and_up_at_keyframes_after_a_pli() {
    let server = server().await;
    let publisher = join(&server, "switch", "presenter").await;
    let video = publisher
        .publish(PublishOptions::camera_and_mic())
        .await
        .unwrap()
        .video
        .unwrap();
    let viewer = join(&server, "switch", "viewer").await;
    viewer
        .wait_received(&video, |r| r.per_layer[2] >= 60, WAIT)
        .await
        .expect("starts on the top layer");
    let start = Instant::now();

    for (quality, layer) in [
        (Quality::Low, 0u8),
        (Quality::Medium, 1),
        (Quality::High, 2),
    ] {
        let plis_before = publisher.publisher_stats().await.keyframe_requests[usize::from(layer)];
        let asked = Instant::now();
        viewer.subscribe(&video, quality).await.unwrap();
        let got = viewer
            .wait_received(
                &video,
                |r| {
                    r.first_of_layer_after(layer, asked).is_some()
                        && recent_layers(r, 20).iter().all(|l| *l == layer)
                        && recent_layers(r, 20).len() == 20
                },
                WAIT,
            )
            .await
            .unwrap_or_else(|r| panic!("switch to layer {layer}: {r:?}"));
        let first = got.first_of_layer_after(layer, asked).unwrap();
        assert!(
            first.keyframe,
            "the switch to layer {layer} lands on a keyframe: {first:?}"
        );
        let plis = publisher.publisher_stats().await.keyframe_requests[usize::from(layer)];
        assert!(
            plis > plis_before,
            "the publisher saw a PLI for layer {layer}"
        );
    }
    let got = viewer.received(&video).await.unwrap();
    assert_eq!(got.ssrcs.len(), 1, "a stable SSRC across switches");
    got.check_continuity_since(start)
        .expect("sequence numbers continuous, timestamps monotonic");
    server.shutdown().await;
}
