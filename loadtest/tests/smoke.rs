//! End to end through a real server in-process: one bot publishes three
//! simulcast VP8 layers and audio, another receives them over real UDP,
//! ICE, DTLS and SRTP. The subscriber, asking for high quality, gets the top
//! layer starting at a keyframe, in one continuous stream, and the audio.

use std::time::Duration;

use relais_loadtest::protocol::{Kind, Quality, ServerMessage};
use relais_loadtest::{Bot, JoinOptions, PublishOptions};
use relais_signaling::{start, ServerConfig};

const WAIT: Duration = Duration::from_secs(15);

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn simulcast_and_audio_reach_a_subscriber() {
    let server = start(ServerConfig::default()).await.expect("server starts");
    let url = server.ws_url();

    let publisher = Bot::join(&url, JoinOptions::new("smoke", "alice"))
        .await
        .expect("alice joins");
    let published = publisher
        .publish(PublishOptions::camera_and_mic())
        .await
        .expect("the server answers the publish offer");
    let video = published.video.expect("a video track id");
    let audio = published.audio.expect("an audio track id");

    let subscriber = Bot::join(&url, JoinOptions::new("smoke", "bob"))
        .await
        .expect("bob joins");
    let tracks = &subscriber.joined().tracks;
    let info = tracks
        .iter()
        .find(|t| t.id == video)
        .expect("joined lists the video");
    assert_eq!((info.kind, info.layers), (Kind::Video, 3));
    assert!(tracks
        .iter()
        .any(|t| t.id == audio && t.kind == Kind::Audio));
    subscriber
        .subscribe(&video, Quality::High)
        .await
        .expect("subscribe high");

    let got = subscriber
        .wait_received(&video, |r| r.per_layer[2] >= 100, WAIT)
        .await
        .expect("the top layer arrives");
    let first = got.log.front().expect("a first packet");
    assert!(first.keyframe, "the stream starts at a keyframe: {first:?}");
    // The server may step down while its estimate of the downlink settles;
    // it ends on the layer asked for.
    let settled = |r: &relais_loadtest::TrackReceipt| {
        let video: Vec<_> = r
            .log
            .iter()
            .rev()
            .filter(|p| !p.is_audio())
            .take(30)
            .collect();
        video.len() == 30 && video.iter().all(|p| p.layer == Some(2))
    };
    let got = subscriber
        .wait_received(&video, settled, WAIT)
        .await
        .expect("the subscriber settles on the top layer");
    assert_eq!(got.ssrcs.len(), 1, "one SSRC per track");
    assert_eq!(got.untagged, 0);
    got.check_continuity()
        .expect("one continuous stream across switches");
    assert_eq!(got.current_layer(), Some(2));
    // Latency once settled: over the last 30 video packets.
    let start = got
        .log
        .iter()
        .rev()
        .filter(|p| !p.is_audio())
        .nth(29)
        .expect("settled")
        .at;
    let p50 = got
        .latency_percentile_since(start, 50.0)
        .expect("tagged packets");
    assert!(
        p50 < Duration::from_millis(100),
        "latency p50 {p50:?} on loopback"
    );

    let heard = subscriber
        .wait_received(&audio, |r| r.audio_packets >= 50, WAIT)
        .await
        .expect("audio arrives");
    assert_eq!(heard.video_packets(), 0);
    heard.check_continuity().expect("audio is continuous");

    let stats = publisher.publisher_stats().await;
    eprintln!(
        "video: {} packets by layer {:?}, {} keyframes, latency p50 {:?} p99 {:?} (settled: p50 {:?} p99 {:?}); audio: {} packets; publisher: {stats:?}",
        got.packets,
        got.per_layer,
        got.keyframes,
        got.latency_percentile(50.0),
        got.latency_percentile(99.0),
        p50,
        got.latency_percentile_since(start, 99.0),
        heard.audio_packets,
    );
    assert!(stats.connected);
    assert!(stats.frames_sent.iter().all(|f| *f > 0), "{stats:?}");
    assert_eq!(stats.rtx, [true; 3], "every layer has an RTX stream");
    assert!(stats.audio_packets > 0);

    // The subscriber saw the publisher in the room; the publisher sees it leave.
    subscriber.leave().await.expect("bob leaves");
    let left = publisher
        .next_event(|m| matches!(m, ServerMessage::ParticipantLeft { .. }), WAIT)
        .await
        .expect("alice is told");
    assert!(
        matches!(left, ServerMessage::ParticipantLeft { participant_id, .. }
        if participant_id == subscriber.participant_id())
    );
    publisher.leave().await.expect("alice leaves");
    server.shutdown().await;
}
