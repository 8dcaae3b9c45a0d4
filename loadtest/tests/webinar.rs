//! A webinar through a real server: one presenter broadcasts to 50
//! attendees, spread over two media workers. An attendee's publish is
//! refused; once the host promotes it, its camera reaches the others.

use std::time::Duration;

use futures_util::future::join_all;
use relais_loadtest::protocol::{ErrorCode, Role, RoomMode, ServerMessage};
use relais_loadtest::{Bot, BotError, BotHandle, JoinOptions, PublishOptions};
use relais_signaling::{start, ServerConfig};

const WAIT: Duration = Duration::from_secs(30);
const ATTENDEES: usize = 50;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn fifty_attendees_receive_and_a_promoted_attendee_is_heard() {
    let config = ServerConfig {
        workers: 2,
        ..ServerConfig::default()
    };
    let server = start(config).await.expect("server starts");
    let url = server.ws_url();
    let as_role = |name: &str, role: Role| {
        JoinOptions::new("webinar", name)
            .role(role)
            .mode(RoomMode::Webinar)
    };

    let host = Bot::join(&url, as_role("host", Role::Host))
        .await
        .expect("host joins");
    let presenter = Bot::join(&url, as_role("presenter", Role::Presenter))
        .await
        .expect("presenter joins");
    let published = presenter
        .publish(PublishOptions::camera_and_mic())
        .await
        .expect("presenter publishes");
    let (video, audio) = (published.video.unwrap(), published.audio.unwrap());

    let joins = (0..ATTENDEES).map(|i| {
        let url = url.clone();
        let opts = as_role(&format!("attendee-{i}"), Role::Attendee);
        async move { Bot::join(&url, opts).await }
    });
    let attendees: Vec<BotHandle> = join_all(joins)
        .await
        .into_iter()
        .map(|r| r.expect("attendee joins"))
        .collect();

    // Everyone receives the presenter's video and audio.
    let receipts = join_all(
        attendees
            .iter()
            .map(|a| a.wait_received(&video, |r| r.video_packets() >= 60, WAIT)),
    )
    .await;
    for (i, r) in receipts.iter().enumerate() {
        let r = r
            .as_ref()
            .unwrap_or_else(|e| panic!("attendee {i} video: {e}"));
        assert!(
            r.log.iter().find(|p| !p.is_audio()).unwrap().keyframe,
            "attendee {i} starts at a keyframe"
        );
    }
    let audio_ok = join_all(
        attendees
            .iter()
            .map(|a| a.wait_received(&audio, |r| r.audio_packets >= 25, WAIT)),
    )
    .await;
    assert!(
        audio_ok.iter().all(Result::is_ok),
        "every attendee hears the presenter"
    );
    let spread: Vec<usize> = join_all(server.sfu().workers().iter().map(|w| w.inspect()))
        .await
        .into_iter()
        .map(|s| s.unwrap().participants.len())
        .collect();
    assert!(
        spread.iter().all(|n| *n >= ATTENDEES / 3),
        "the audience is spread over both workers: {spread:?}"
    );

    // An attendee may not publish.
    let speaker = &attendees[0];
    match speaker.publish(PublishOptions::camera_and_mic()).await {
        Err(BotError::Refused {
            code: ErrorCode::Forbidden,
            message,
        }) => {
            assert!(
                message.contains("attendee") || message.contains("publish"),
                "a clear message: {message}"
            )
        }
        other => panic!("an attendee's publish must be refused: {other:?}"),
    }

    // The host promotes it; its camera then reaches the others.
    let id = speaker.participant_id().to_string();
    host.request(relais_loadtest::protocol::ClientMessage::SetRole {
        req: None,
        participant_id: id.clone(),
        role: Role::Presenter,
    })
    .await
    .expect("the host promotes");
    speaker
        .next_event(|m| matches!(m, ServerMessage::RoleChanged { participant_id, role: Role::Presenter } if *participant_id == id), WAIT)
        .await
        .expect("the attendee is told");
    let promoted = speaker
        .publish(PublishOptions::camera_and_mic())
        .await
        .expect("a presenter may publish");
    let new_video = promoted.video.unwrap();
    for viewer in [&host, &presenter, &attendees[1], &attendees[ATTENDEES - 1]] {
        viewer
            .wait_received(&new_video, |r| r.video_packets() >= 30, WAIT)
            .await
            .expect("the promoted attendee's camera is received");
    }
    server.shutdown().await;
}
