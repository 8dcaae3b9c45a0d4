//! Bad input of every kind, from one client and from the network, while a
//! presenter streams to a viewer: each gets its error, and the viewer's
//! stream goes on without a gap.

use std::time::{Duration, Instant};

use relais_loadtest::protocol::{ClientMessage, ErrorCode, MidSource, Quality, Source};
use relais_loadtest::{Bot, BotError, JoinOptions, PublishOptions};
use relais_signaling::{start, ServerConfig};

const WAIT: Duration = Duration::from_secs(15);

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_bad_input_gets_its_error_while_the_stream_flows() {
    let server = start(ServerConfig::default()).await.expect("server starts");
    let url = server.ws_url();
    let presenter = Bot::join(&url, JoinOptions::new("robust", "presenter"))
        .await
        .unwrap();
    let video = presenter
        .publish(PublishOptions::camera_and_mic())
        .await
        .unwrap()
        .video
        .unwrap();
    let viewer = Bot::join(&url, JoinOptions::new("robust", "viewer"))
        .await
        .unwrap();
    viewer
        .wait_received(&video, |r| r.video_packets() >= 30, WAIT)
        .await
        .expect("the stream flows");
    let start = Instant::now();
    let before = viewer.received(&video).await.unwrap().video_packets();

    let troll = Bot::join(&url, JoinOptions::new("robust", "troll"))
        .await
        .unwrap();
    let refused = |r: Result<_, BotError>| match r {
        Err(BotError::Refused { code, message }) => (code, message),
        other => panic!("expected an error reply, got {other:?}"),
    };
    // Messages that are not of the protocol.
    for (raw, code) in [
        ("{not json".to_string(), ErrorCode::BadMessage),
        (r#"{"type":"teleport"}"#.to_string(), ErrorCode::BadMessage),
        (
            format!(r#"{{"type":"chat","text":"{}"}}"#, "x".repeat(70 * 1024)),
            ErrorCode::MessageTooLarge,
        ),
    ] {
        troll.send_raw(raw).await.unwrap();
        let e = troll
            .next_event(|m| matches!(m, relais_loadtest::protocol::ServerMessage::Error { code: c, .. } if *c == code), WAIT)
            .await;
        assert!(e.is_ok(), "an error {code:?} comes back");
    }
    // Garbage and inconsistent SDP, a second join, unknown tracks.
    let (code, message) = refused(
        troll
            .request(ClientMessage::PublishOffer {
                req: None,
                sdp: "v=0\r\nnonsense".into(),
                sources: vec![],
            })
            .await,
    );
    assert_eq!(code, ErrorCode::BadSdp, "{message}");
    let (code, _) = refused(
        troll
            .request(ClientMessage::SubscribeAnswer {
                req: None,
                sdp: "v=0\r\n".into(),
            })
            .await,
    );
    assert!(matches!(code, ErrorCode::BadSdp), "{code:?}");
    let (code, _) = refused(
        troll
            .request(ClientMessage::PublishOffer {
                req: None,
                sdp: String::new(),
                sources: vec![MidSource {
                    mid: "0".into(),
                    source: Source::Screen,
                }],
            })
            .await,
    );
    assert_eq!(code, ErrorCode::BadSdp);
    let (code, _) = refused(
        troll
            .request(ClientMessage::Join {
                req: None,
                room: "robust".into(),
                name: None,
                token: None,
                role: None,
                mode: None,
                last_n: None,
            })
            .await,
    );
    assert_eq!(code, ErrorCode::AlreadyJoined);
    let (code, _) = refused(
        troll
            .request(ClientMessage::Subscribe {
                req: None,
                track_id: "p999t1".into(),
                quality: Some(Quality::Low),
                max_width: None,
                max_height: None,
            })
            .await,
    );
    assert_eq!(code, ErrorCode::UnknownTrack);
    let (code, _) = refused(
        troll
            .request(ClientMessage::Mute {
                req: None,
                track_id: video.clone(),
                muted: true,
            })
            .await,
    );
    assert!(
        matches!(code, ErrorCode::UnknownTrack | ErrorCode::Forbidden),
        "{code:?}"
    );

    // Garbage datagrams at the media port: short, RTP-like, DTLS-like, STUN-like.
    let socket = std::net::UdpSocket::bind("127.0.0.1:0").unwrap();
    let media = server.sfu().worker(0).media_addr();
    for junk in [
        &[0u8][..],
        &[0x80; 1200][..],
        &[0x16, 0xfe, 0xfd, 0, 0, 0, 0][..],
        &[0, 1, 0, 0, 0x21, 0x12, 0xa4, 0x42][..],
    ] {
        for _ in 0..50 {
            socket.send_to(junk, media).unwrap();
        }
    }
    // A flood: the troll is rate limited, then closed.
    for i in 0..2_000 {
        if troll
            .send_raw(format!(r#"{{"type":"ping","req":"{i}"}}"#))
            .await
            .is_err()
        {
            break;
        }
    }
    troll
        .next_event(
            |m| {
                matches!(
                    m,
                    relais_loadtest::protocol::ServerMessage::Error {
                        code: ErrorCode::RateLimited,
                        ..
                    }
                )
            },
            WAIT,
        )
        .await
        .expect("the flood is rate limited");

    // Meanwhile the viewer's stream went on, continuous.
    let got = viewer
        .wait_received(&video, |r| r.video_packets() >= before + 60, WAIT)
        .await
        .expect("the stream goes on");
    got.check_continuity_since(start)
        .expect("no gap in the viewer's stream");
    assert!(presenter.is_running() && viewer.is_running());
    let metrics = server.sfu().metrics();
    assert!(
        metrics.unroutable_datagrams >= 150,
        "garbage datagrams were counted and dropped: {metrics:?}"
    );
    server.shutdown().await;
}
