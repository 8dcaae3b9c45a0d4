//! A participant leaves: the others are told, its tracks end, and the media
//! worker holds nothing of it.

use std::time::Duration;

use relais_loadtest::protocol::ServerMessage;
use relais_loadtest::{Bot, JoinOptions, PublishOptions};
use relais_sfu::ParticipantId;
use relais_signaling::{start, ServerConfig};

const WAIT: Duration = Duration::from_secs(15);

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_leaving_publisher_is_announced_and_forgotten() {
    let server = start(ServerConfig::default()).await.expect("server starts");
    let url = server.ws_url();
    let leaver = Bot::join(&url, JoinOptions::new("leave", "leaver"))
        .await
        .unwrap();
    let stayer = Bot::join(&url, JoinOptions::new("leave", "stayer"))
        .await
        .unwrap();
    let published = leaver
        .publish(PublishOptions::camera_and_mic())
        .await
        .unwrap();
    let stayer_video = stayer
        .publish(PublishOptions::camera_and_mic())
        .await
        .unwrap()
        .video
        .unwrap();
    let video = published.video.clone().unwrap();
    stayer
        .wait_received(&video, |r| r.video_packets() >= 30, WAIT)
        .await
        .expect("media flows first");
    leaver
        .wait_received(&stayer_video, |r| r.video_packets() >= 30, WAIT)
        .await
        .expect("both ways");

    let id = leaver.participant_id().to_string();
    leaver.leave().await.expect("leave");
    stayer
        .next_event(|m| matches!(m, ServerMessage::ParticipantLeft { participant_id, reason } if *participant_id == id && reason == "left"), WAIT)
        .await
        .expect("the others are told who left and why");
    for track in [published.video.unwrap(), published.audio.unwrap()] {
        stayer
            .next_event(
                |m| matches!(m, ServerMessage::TrackUnpublished { track_id } if *track_id == track),
                WAIT,
            )
            .await
            .unwrap_or_else(|e| panic!("{track} ends: {e}"));
    }
    // The stayer's receiving connection is offered again without those lines.
    stayer
        .next_event(|m| matches!(m, ServerMessage::SubscribeOffer { tracks, .. } if tracks.iter().all(|t| t.track_id != video)), WAIT)
        .await
        .expect("a new offer without the ended tracks");

    let gone: ParticipantId = id.parse().unwrap();
    let snapshot = server.sfu().worker(0).inspect().await.unwrap();
    assert!(!snapshot.participants.contains(&gone), "{snapshot:?}");
    assert!(
        snapshot.tracks.iter().all(|t| t.owner != gone),
        "{snapshot:?}"
    );
    assert!(
        snapshot
            .subscriptions
            .iter()
            .all(|(p, t)| *p != gone && t.owner != gone),
        "{snapshot:?}"
    );
    assert_eq!(
        snapshot.peers, 2,
        "only the stayer's two connections remain"
    );
    assert_eq!(snapshot.participants.len(), 1);
    server.shutdown().await;
}
