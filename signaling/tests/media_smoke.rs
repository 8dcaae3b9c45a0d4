//! End to end over real sockets: a str0m publisher sends audio through the
//! server (ICE-lite on the worker's UDP port, DTLS, SRTP) and a str0m
//! subscriber that joined through signaling receives it. The client library
//! in `loadtest/` carries the thorough media tests; this one shows that the
//! signaling glue (candidates, offers, answers) gives peers that connect, and
//! that a client sending every kind of bad input does not disturb the flow.

mod support;

use std::net::SocketAddr;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use relais_signaling::ServerConfig;
use serde_json::json;
use str0m::change::{SdpAnswer, SdpOffer};
use str0m::format::Codec;
use str0m::media::{Direction, Frequency, MediaKind, MediaTime, Mid};
use str0m::net::{Protocol, Receive};
use str0m::{Candidate, Event, Input, Output, Rtc};
use support::{http_get, server, Client};
use tokio::net::UdpSocket;

async fn peer_socket() -> (UdpSocket, SocketAddr) {
    let socket = UdpSocket::bind("127.0.0.1:0").await.unwrap();
    let addr = socket.local_addr().unwrap();
    (socket, addr)
}

/// Run a peer's I/O until `stop`; `tick` runs every 20 ms; counts the media
/// packets received on `count_mid`.
async fn drive(
    mut rtc: Rtc,
    socket: UdpSocket,
    mut tick: impl FnMut(&mut Rtc, u64) + Send,
    stop: Arc<AtomicBool>,
    deadline: Instant,
    count_mid: Option<Mid>,
    received: Arc<AtomicUsize>,
) {
    let local = socket.local_addr().unwrap();
    let mut buf = vec![0u8; 2048];
    let mut next_tick = Instant::now();
    let mut ticks = 0;
    while !stop.load(Ordering::Relaxed) && Instant::now() < deadline {
        let timeout = loop {
            match rtc.poll_output().expect("poll_output") {
                Output::Timeout(t) => break t,
                Output::Transmit(t) => {
                    let _ = socket.send_to(&t.contents, t.destination).await;
                }
                Output::Event(Event::MediaData(d)) => {
                    if Some(d.mid) == count_mid {
                        received.fetch_add(1, Ordering::Relaxed);
                    }
                }
                Output::Event(_) => {}
            }
        };
        let wake = timeout.min(next_tick);
        tokio::select! {
            r = socket.recv_from(&mut buf) => {
                let (n, from) = r.unwrap();
                if let Ok(r) = Receive::new(Protocol::Udp, from, local, &buf[..n]) {
                    let _ = rtc.handle_input(Input::Receive(Instant::now(), r));
                }
            }
            _ = tokio::time::sleep_until(wake.into()) => {
                rtc.handle_input(Input::Timeout(Instant::now())).expect("timeout input");
            }
        }
        if Instant::now() >= next_tick {
            next_tick += Duration::from_millis(20);
            ticks += 1;
            tick(&mut rtc, ticks);
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn audio_flows_and_bad_input_does_not_disturb_it() {
    let s = server(ServerConfig::default()).await;
    let deadline = Instant::now() + Duration::from_secs(20);
    let stop = Arc::new(AtomicBool::new(false));

    // The publisher: audio only, offered by the client.
    let mut publisher = Client::connect(&s).await;
    publisher.join("smoke", "pub").await;
    let (pub_socket, pub_addr) = peer_socket().await;
    let mut rtc = Rtc::builder().build(Instant::now());
    rtc.add_local_candidate(Candidate::host(pub_addr, "udp").unwrap());
    let mut api = rtc.sdp_api();
    let audio = api.add_media(MediaKind::Audio, Direction::SendOnly, None, None, None);
    let (offer, pending) = api.apply().unwrap();
    publisher
        .send(json!({"type": "publish_offer", "sdp": offer.to_sdp_string()}))
        .await;
    let answer = publisher.recv_type("publish_answer").await;
    rtc.sdp_api()
        .accept_answer(
            pending,
            SdpAnswer::from_sdp_string(answer["sdp"].as_str().unwrap()).unwrap(),
        )
        .unwrap();
    let track_id = answer["tracks"][0]["track_id"]
        .as_str()
        .unwrap()
        .to_string();
    let send_audio = move |rtc: &mut Rtc, tick: u64| {
        if !rtc.is_connected() {
            return;
        }
        let Some(pt) = rtc
            .codec_config()
            .params()
            .iter()
            .find(|p| p.spec().codec == Codec::Opus)
            .map(|p| p.pt())
        else {
            return;
        };
        if let Some(w) = rtc.writer(audio) {
            let time = MediaTime::new(tick * 960, Frequency::FORTY_EIGHT_KHZ);
            let _ = w.write(pt, Instant::now(), time, vec![0xf8, 0xff, 0xfe, 1, 2, 3]);
        }
    };
    let publishing = tokio::spawn(drive(
        rtc,
        pub_socket,
        send_audio,
        stop.clone(),
        deadline,
        None,
        Arc::default(),
    ));

    // The subscriber: answers the server's offer carrying the track.
    let mut subscriber = Client::connect(&s).await;
    let joined = subscriber.join("smoke", "sub").await;
    assert_eq!(joined["tracks"][0]["id"], track_id.as_str());
    let offer = subscriber.recv_type("subscribe_offer").await;
    let mid = offer["tracks"]
        .as_array()
        .unwrap()
        .iter()
        .find(|t| t["track_id"] == track_id.as_str())
        .map(|t| Mid::from(t["mid"].as_str().unwrap()))
        .expect("the offer carries the track");
    let (sub_socket, sub_addr) = peer_socket().await;
    let mut rtc = Rtc::builder().build(Instant::now());
    rtc.add_local_candidate(Candidate::host(sub_addr, "udp").unwrap());
    let sdp = rtc
        .sdp_api()
        .accept_offer(SdpOffer::from_sdp_string(offer["sdp"].as_str().unwrap()).unwrap())
        .unwrap()
        .to_sdp_string();
    subscriber
        .send(json!({"type": "subscribe_answer", "req": "a", "sdp": sdp}))
        .await;
    assert_eq!(subscriber.recv_type("ok").await["req"], "a");

    let received = Arc::new(AtomicUsize::new(0));
    let receiving = tokio::spawn(drive(
        rtc,
        sub_socket,
        |_, _| {},
        stop.clone(),
        deadline,
        Some(mid),
        received.clone(),
    ));
    // Let audio flow for a while, then look at what arrived.
    let started = Instant::now();
    loop {
        let (_, metrics) = http_get(&s, "/metrics").await;
        let forwarded = metrics
            .lines()
            .find_map(|l| l.strip_prefix("relais_rtp_packets_forwarded_total "))
            .and_then(|v| v.trim().parse::<u64>().ok())
            .unwrap_or(0);
        if forwarded >= 25 {
            break;
        }
        assert!(
            started.elapsed() < Duration::from_secs(15),
            "audio never flowed; metrics:\n{metrics}"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let before = received.load(Ordering::Relaxed);
    assert!(before >= 20, "the subscriber got {before} audio packets");

    // Meanwhile a client in the same room sends every kind of bad input.
    let mut troll = Client::connect(&s).await;
    troll.send_text("{oops".into()).await;
    troll.expect_error("bad_message").await;
    troll.send(json!({"type": "chat", "text": "hi"})).await;
    troll.expect_error("not_joined").await;
    troll.join("smoke", "troll").await;
    troll.send(json!({"type": "warp"})).await;
    troll.expect_error("bad_message").await;
    troll.send_binary(vec![0; 100]).await;
    troll.expect_error("bad_message").await;
    troll.send_text("x".repeat(70 * 1024)).await;
    troll.expect_error("message_too_large").await;
    troll
        .send(json!({"type": "publish_offer", "sdp": "garbage"}))
        .await;
    troll.expect_error("bad_sdp").await;
    troll
        .send(json!({"type": "subscribe", "track_id": "p999t9", "quality": "low"}))
        .await;
    troll.expect_error("unknown_track").await;
    troll
        .send(json!({"type": "mute", "track_id": track_id, "muted": true}))
        .await;
    troll.expect_error("forbidden").await;
    troll
        .send(json!({"type": "set_role", "participant_id": "p1", "role": "attendee"}))
        .await;
    troll.expect_error("forbidden").await;
    troll.send(json!({"type": "join", "room": "smoke"})).await;
    troll.expect_error("already_joined").await;
    for _ in 0..400 {
        troll.send(json!({"type": "ping"})).await;
    }
    let seen = troll.expect_closed().await;
    assert!(seen.iter().any(|m| m["code"] == "rate_limited"), "{seen:?}");

    tokio::time::sleep(Duration::from_millis(500)).await;
    let after = received.load(Ordering::Relaxed);
    assert!(
        after >= before + 20,
        "audio kept flowing during the abuse: {before} then {after} packets"
    );
    // The subscriber saw the troll come and go, and nothing else.
    subscriber.assert_alive().await;
    stop.store(true, Ordering::Relaxed);
    receiving.await.unwrap();
    publishing.await.unwrap();
    s.shutdown().await;
}
