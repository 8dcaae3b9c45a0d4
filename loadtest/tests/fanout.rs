//! A small fan-out: one publisher (three layers and audio) to twenty bots
//! joining at once, half asking for the low layer and half for the high one.
//! Every viewer gets its layer and the audio, without loss. Not a benchmark:
//! it prints what it saw and asserts no timings beyond generous timeouts.

use std::time::{Duration, Instant};

use futures_util::future::join_all;
use relais_loadtest::protocol::Quality;
use relais_loadtest::{Bot, JoinOptions, PublishOptions, TrackReceipt};
use relais_signaling::{start, ServerConfig};

const VIEWERS: usize = 20;
const WAIT: Duration = Duration::from_secs(30);

/// The latest 20 video packets are all of `layer`.
fn settled_on(layer: u8) -> impl Fn(&TrackReceipt) -> bool {
    move |r| {
        let last: Vec<_> = r
            .log
            .iter()
            .rev()
            .filter(|p| !p.is_audio())
            .take(20)
            .collect();
        last.len() == 20 && last.iter().all(|p| p.layer == Some(layer))
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn one_publisher_to_twenty_viewers() {
    let s = start(ServerConfig::default()).await.unwrap();
    let url = s.ws_url();
    let publisher = Bot::join(&url, JoinOptions::new("fan", "pub"))
        .await
        .unwrap();
    let published = publisher
        .publish(PublishOptions::camera_and_mic())
        .await
        .unwrap();
    let (video, audio) = (published.video.unwrap(), published.audio.unwrap());

    let started = Instant::now();
    let viewers = join_all((0..VIEWERS).map(|i| {
        let url = url.clone();
        async move { Bot::join(&url, JoinOptions::new("fan", format!("v{i}"))).await }
    }))
    .await
    .into_iter()
    .collect::<Result<Vec<_>, _>>()
    .expect("every viewer joins");
    let joined_in = started.elapsed();

    let quality = |i: usize| {
        if i.is_multiple_of(2) {
            (Quality::Low, 0)
        } else {
            (Quality::High, 2)
        }
    };
    join_all(
        viewers
            .iter()
            .enumerate()
            .map(|(i, v)| v.subscribe(&video, quality(i).0)),
    )
    .await
    .into_iter()
    .collect::<Result<Vec<_>, _>>()
    .expect("subscriptions accepted");

    let settled = join_all(
        viewers
            .iter()
            .enumerate()
            .map(|(i, v)| v.wait_received(&video, settled_on(quality(i).1), WAIT)),
    )
    .await;
    let heard = join_all(
        viewers
            .iter()
            .map(|v| v.wait_received(&audio, |r| r.audio_packets >= 100, WAIT)),
    )
    .await;

    let mut worst_p99 = Duration::ZERO;
    for (i, (video_r, audio_r)) in settled.into_iter().zip(heard).enumerate() {
        let v = video_r.unwrap_or_else(|e| panic!("viewer {i} video: {e}"));
        let a = audio_r.unwrap_or_else(|e| panic!("viewer {i} audio: {e}"));
        assert_eq!(v.current_layer(), Some(quality(i).1), "viewer {i}");
        assert!(
            v.log.front().unwrap().keyframe,
            "viewer {i} starts at a keyframe"
        );
        assert_eq!(v.lost(), 0, "viewer {i} lost video packets");
        assert_eq!(a.lost(), 0, "viewer {i} lost audio packets");
        v.check_continuity()
            .unwrap_or_else(|e| panic!("viewer {i}: {e}"));
        a.check_continuity()
            .unwrap_or_else(|e| panic!("viewer {i}: {e}"));
        worst_p99 = worst_p99.max(a.latency_percentile(99.0).unwrap_or_default());
    }
    let stats = publisher.publisher_stats().await;
    eprintln!(
        "{VIEWERS} viewers joined in {joined_in:?}; worst audio p99 latency {worst_p99:?}; publisher {stats:?}"
    );
    join_all(viewers.iter().map(|v| v.leave())).await;
    publisher.leave().await.unwrap();
    s.shutdown().await;
}
