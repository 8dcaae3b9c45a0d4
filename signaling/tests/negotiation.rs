//! The SDP exchange through signaling with str0m peers as clients: publish
//! offer and answer, track events, subscribe offers from the server and their
//! answers, layer requests, mute, unpublish and leave. No media flows here
//! (that is for the client library's tests); this checks what signaling says.

mod support;

use std::time::Instant;

use relais_signaling::ServerConfig;
use serde_json::{json, Value};
use str0m::change::{SdpAnswer, SdpOffer};
use str0m::media::{Direction, MediaKind, Simulcast, SimulcastLayer};
use str0m::{Candidate, Rtc};
use support::{server, Client};

/// A str0m offer with simulcast VP8 video and audio; (rtc, pending, sdp, video mid, audio mid).
fn publish_offer(port: u16) -> (Rtc, str0m::change::SdpPendingOffer, String, String, String) {
    let mut rtc = Rtc::builder().build(Instant::now());
    rtc.add_local_candidate(
        Candidate::host(format!("127.0.0.1:{port}").parse().unwrap(), "udp").unwrap(),
    );
    let mut api = rtc.sdp_api();
    let simulcast = Simulcast {
        send: ["q", "h", "f"]
            .iter()
            .map(|r| SimulcastLayer::new(r))
            .collect(),
        recv: vec![],
    };
    let video = api.add_media(
        MediaKind::Video,
        Direction::SendOnly,
        None,
        None,
        Some(simulcast),
    );
    let audio = api.add_media(MediaKind::Audio, Direction::SendOnly, None, None, None);
    let (offer, pending) = api.apply().unwrap();
    (
        rtc,
        pending,
        offer.to_sdp_string(),
        video.to_string(),
        audio.to_string(),
    )
}

/// A receiving peer for `subscribe_offer`s.
fn subscriber() -> Rtc {
    let mut rtc = Rtc::builder().build(Instant::now());
    rtc.add_local_candidate(Candidate::host("127.0.0.1:9".parse().unwrap(), "udp").unwrap());
    rtc
}

/// Answer a `subscribe_offer`.
fn answer_subscribe(rtc: &mut Rtc, offer: &Value) -> String {
    let offer = SdpOffer::from_sdp_string(offer["sdp"].as_str().unwrap()).unwrap();
    rtc.sdp_api().accept_offer(offer).unwrap().to_sdp_string()
}

/// Skip messages until `ok` for `req`.
async fn ok_for(c: &mut Client, req: &str) {
    loop {
        let m = c.recv_type("ok").await;
        if m["req"] == req {
            return;
        }
    }
}

fn track_ids(tracks: &Value) -> Vec<String> {
    let mut ids: Vec<String> = tracks
        .as_array()
        .unwrap()
        .iter()
        .map(|t| {
            t.get("track_id")
                .or_else(|| t.get("id"))
                .unwrap()
                .as_str()
                .unwrap()
                .to_string()
        })
        .collect();
    ids.sort();
    ids
}

#[tokio::test]
async fn publish_subscribe_mute_unpublish_leave() {
    let s = server(ServerConfig::default()).await;
    let mut a = Client::connect(&s).await;
    let a_id = a.join("m", "Ann").await["participant_id"]
        .as_str()
        .unwrap()
        .to_string();
    let mut b = Client::connect(&s).await;
    b.join("m", "Bob").await;

    let (mut rtc, pending, sdp, video_mid, audio_mid) = publish_offer(40001);
    a.send(json!({"type": "publish_offer", "req": "pub", "sdp": sdp,
        "sources": [{"mid": audio_mid, "source": "microphone"}]}))
        .await;
    let answer = a.recv_type("publish_answer").await;
    assert_eq!(answer["req"], "pub");
    rtc.sdp_api()
        .accept_answer(
            pending,
            SdpAnswer::from_sdp_string(answer["sdp"].as_str().unwrap()).unwrap(),
        )
        .expect("the server's answer fits the offer");
    let published = track_ids(&answer["tracks"]);
    assert_eq!(published.len(), 2, "{answer}");
    assert!(published.iter().all(|t| t.starts_with(&format!("{a_id}t"))));
    let mids: Vec<&str> = answer["tracks"]
        .as_array()
        .unwrap()
        .iter()
        .map(|t| t["mid"].as_str().unwrap())
        .collect();
    assert!(mids.contains(&video_mid.as_str()) && mids.contains(&audio_mid.as_str()));

    // Bob learns of both tracks and gets offers carrying them (the server
    // may send one offer per track, each after the previous answer).
    let mut announced = Vec::new();
    let mut answers = 0;
    let mut b_rtc = subscriber();
    let offer = loop {
        let m = b.recv().await;
        match m["type"].as_str().unwrap() {
            "track_published" => announced.push(m["track"].clone()),
            "subscribe_offer" if track_ids(&m["tracks"]).len() == 2 => break m,
            "subscribe_offer" => {
                answers += 1;
                b.send(
                    json!({"type": "subscribe_answer", "req": format!("early{answers}"),
                    "sdp": answer_subscribe(&mut b_rtc, &m)}),
                )
                .await;
            }
            "ok" => {}
            other => panic!("unexpected {other}: {m}"),
        }
    };
    assert_eq!(track_ids(&offer["tracks"]), published);
    let video = announced
        .iter()
        .find(|t| t["kind"] == "video")
        .expect("video announced");
    assert_eq!(video["source"], "camera");
    assert_eq!(video["layers"], 3);
    assert_eq!(video["participant_id"], a_id.as_str());
    let audio = announced
        .iter()
        .find(|t| t["kind"] == "audio")
        .expect("audio announced");
    assert_eq!(audio["source"], "microphone");
    let video_id = video["id"].as_str().unwrap().to_string();
    let audio_id = audio["id"].as_str().unwrap().to_string();

    b.send(json!({"type": "subscribe_answer", "req": "ans", "sdp": answer_subscribe(&mut b_rtc, &offer)}))
        .await;
    ok_for(&mut b, "ans").await;
    b.send(json!({"type": "subscribe", "req": "low", "track_id": video_id, "quality": "low"}))
        .await;
    assert_eq!(b.recv_type("ok").await["req"], "low");
    b.send(
        json!({"type": "subscribe", "req": "size", "track_id": video_id,
        "max_width": 640, "max_height": 360}),
    )
    .await;
    assert_eq!(b.recv_type("ok").await["req"], "size");
    b.send(json!({"type": "mute", "track_id": video_id, "muted": true}))
        .await;
    b.expect_error("forbidden").await;
    // An answer when no offer waits.
    b.send(json!({"type": "subscribe_answer", "sdp": answer_subscribe(&mut subscriber(), &offer)}))
        .await;
    b.expect_error("bad_sdp").await;

    // A late joiner sees the tracks in `joined` and gets its own offer.
    let mut c = Client::connect(&s).await;
    let jc = c.join("m", "Cem").await;
    assert_eq!(track_ids(&jc["tracks"]), published);
    let offer_c = c.recv_type("subscribe_offer").await;
    assert_eq!(track_ids(&offer_c["tracks"]), published);

    a.send(json!({"type": "mute", "req": "mute", "track_id": audio_id, "muted": true}))
        .await;
    assert_eq!(a.recv_type("ok").await["req"], "mute");
    let muted = b.recv_type("track_muted").await;
    assert_eq!(muted["track_id"], audio_id.as_str());
    assert_eq!(muted["muted"], true);

    a.send(json!({"type": "unpublish", "track_id": video_id}))
        .await;
    let gone = b.recv_type("track_unpublished").await;
    assert_eq!(gone["track_id"], video_id.as_str());
    b.send(json!({"type": "subscribe", "track_id": video_id, "quality": "high"}))
        .await;
    b.expect_error("unknown_track").await;

    a.send(json!({"type": "leave"})).await;
    let gone = b.recv_type("track_unpublished").await;
    assert_eq!(gone["track_id"], audio_id.as_str());
    let left = b.recv_type("participant_left").await;
    assert_eq!(left["participant_id"], a_id.as_str());
    let snapshot = s.sfu().worker(0).inspect().await.unwrap();
    assert!(
        !snapshot.participants.iter().any(|p| p.to_string() == a_id),
        "the worker holds nothing of Ann: {snapshot:?}"
    );
    assert!(snapshot.tracks.is_empty(), "{snapshot:?}");
    s.shutdown().await;
}

#[tokio::test]
async fn too_many_tracks_is_refused() {
    let s = server(ServerConfig {
        max_tracks: 1,
        ..ServerConfig::default()
    })
    .await;
    let mut a = Client::connect(&s).await;
    a.join("m", "Ann").await;
    let (_rtc, _pending, sdp, _, _) = publish_offer(40002);
    a.send(json!({"type": "publish_offer", "sdp": sdp})).await;
    let e = a.expect_error("too_many_tracks").await;
    assert!(e["message"].as_str().unwrap().contains('1'), "{e}");
    a.assert_alive().await;
    s.shutdown().await;
}

#[tokio::test]
async fn promotion_lets_an_attendee_publish_and_demotion_ends_its_tracks() {
    let s = server(ServerConfig::default()).await;
    let mut host = Client::connect(&s).await;
    host.join_with(json!({"type": "join", "room": "w", "mode": "webinar", "name": "h"}))
        .await;
    let mut att = Client::connect(&s).await;
    let id = att.join("w", "a").await["participant_id"]
        .as_str()
        .unwrap()
        .to_string();
    let (_rtc, _p, sdp, _, _) = publish_offer(40003);
    att.send(json!({"type": "publish_offer", "sdp": sdp.clone()}))
        .await;
    att.expect_error("forbidden").await;
    host.send(json!({"type": "set_role", "participant_id": id, "role": "presenter"}))
        .await;
    att.recv_type("role_changed").await;
    att.send(json!({"type": "publish_offer", "sdp": sdp})).await;
    let answer = att.recv_type("publish_answer").await;
    assert_eq!(track_ids(&answer["tracks"]).len(), 2);
    assert_eq!(
        host.recv_type("track_published").await["track"]["participant_id"],
        id.as_str()
    );
    host.send(json!({"type": "set_role", "participant_id": id, "role": "attendee"}))
        .await;
    host.recv_type("track_unpublished").await;
    host.recv_type("track_unpublished").await;
    let snapshot = s.sfu().worker(0).inspect().await.unwrap();
    assert!(snapshot.tracks.is_empty(), "{snapshot:?}");
    s.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn fifty_attendees_join_a_webinar_at_once() {
    let s = server(ServerConfig::default()).await;
    let mut host = Client::connect(&s).await;
    host.join_with(json!({"type": "join", "room": "big", "mode": "webinar", "name": "host"}))
        .await;
    let (_rtc, _pending, sdp, _, _) = publish_offer(40004);
    host.send(json!({"type": "publish_offer", "sdp": sdp}))
        .await;
    let answer = host.recv_type("publish_answer").await;
    let published = track_ids(&answer["tracks"]);

    let mut joins = Vec::new();
    for i in 0..50 {
        let mut c = Client::connect(&s).await;
        joins.push(tokio::spawn(async move {
            let j = c.join("big", &format!("attendee {i}")).await;
            assert_eq!(j["role"], "attendee");
            let offer = c.recv_type("subscribe_offer").await;
            let mut rtc = subscriber();
            let sdp = answer_subscribe(&mut rtc, &offer);
            c.send(json!({"type": "subscribe_answer", "req": "a", "sdp": sdp}))
                .await;
            ok_for(&mut c, "a").await;
            (track_ids(&offer["tracks"]), c)
        }));
    }
    let mut clients = Vec::new();
    for j in joins {
        let (tracks, c) = j.await.unwrap();
        assert_eq!(tracks, published);
        clients.push(c);
    }
    for _ in 0..50 {
        host.recv_type("participant_joined").await;
    }
    assert_eq!(s.state().registry.room("big").unwrap().member_count(), 51);
    let snapshot = s.sfu().worker(0).inspect().await.unwrap();
    assert_eq!(snapshot.participants.len(), 51);
    assert_eq!(snapshot.subscriptions.len(), 100, "50 attendees x 2 tracks");
    s.shutdown().await;
}
