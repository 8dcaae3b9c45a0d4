//! An independent WebRTC implementation through Relais: a webrtc-rs (0.21)
//! publisher sends synthetic VP8 video and Opus audio, a webrtc-rs subscriber
//! in the same room receives them, and the test checks what actually arrived
//! on the subscriber's tracks: the publisher's own payloads, starting at a
//! keyframe, with continuous sequence numbers, and audio too.
//!
//! Run with `RUST_LOG=relais_sfu=debug,relais_signaling=debug` to see the
//! server's side.

mod support;

use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::{bail, ensure, Context};
use relais_signaling::ServerConfig;
use rtc::rtcp::payload_feedbacks::picture_loss_indication::PictureLossIndication;
use rtc::rtp;
use rtc::rtp_transceiver::rtp_sender::RtpCodecKind;
use rtc::rtp_transceiver::{RTCRtpTransceiverDirection, RTCRtpTransceiverInit};
use serde_json::json;
use support::{
    init_logging, opus_payload, parse_opus, parse_vp8, rtp_track, vp8_frame, within, Peer, Signal,
    OPUS_PT, VP8_PT,
};
use tokio::sync::mpsc;
use webrtc::media_stream::track_local::static_rtp::TrackLocalStaticRTP;
use webrtc::media_stream::track_local::{TrackLocal, TrackLocalEvent};
use webrtc::media_stream::track_remote::{TrackRemote, TrackRemoteEvent};

const VIDEO_SSRC: u32 = 0x1111_0001;
const AUDIO_SSRC: u32 = 0x1111_0002;
/// Enough for two seconds of each.
const WANT_VIDEO: usize = 60;
const WANT_AUDIO: usize = 100;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn webrtc_rs_publisher_to_webrtc_rs_subscriber() -> anyhow::Result<()> {
    init_logging();
    let server = relais_signaling::start(ServerConfig::default()).await?;
    let result = tokio::time::timeout(Duration::from_secs(30), call(&server)).await;
    server.shutdown().await;
    result.context("the test did not finish within 30 s")?
}

async fn call(server: &relais_signaling::RunningServer) -> anyhow::Result<()> {
    let url = &server.ws_url();
    // The publisher: VP8 camera and Opus microphone, offered by the client.
    let mut publisher_signal = Signal::connect(url).await?;
    publisher_signal
        .join("interop", "webrtc-rs publisher")
        .await?;
    let mut publisher = Peer::new().await?;
    let video = rtp_track(RtpCodecKind::Video, VIDEO_SSRC, "camera");
    let audio = rtp_track(RtpCodecKind::Audio, AUDIO_SSRC, "microphone");
    for track in [&video, &audio] {
        publisher
            .pc
            .add_transceiver_from_track(
                Arc::clone(track) as Arc<dyn TrackLocal>,
                Some(RTCRtpTransceiverInit {
                    direction: RTCRtpTransceiverDirection::Sendonly,
                    ..Default::default()
                }),
            )
            .await?;
    }
    let offer = publisher.offer().await?;
    let sources: Vec<_> = media_lines(&offer)
        .into_iter()
        .map(|(kind, mid)| {
            let source = if kind == "video" {
                "camera"
            } else {
                "microphone"
            };
            json!({"mid": mid, "source": source})
        })
        .collect();
    publisher_signal
        .send(json!({"type": "publish_offer", "sdp": offer, "sources": sources}))
        .await?;
    let answer = publisher_signal.recv_type("publish_answer").await?;
    let published: Vec<String> = answer["tracks"]
        .as_array()
        .context("publish_answer without tracks")?
        .iter()
        .filter_map(|t| t["track_id"].as_str().map(String::from))
        .collect();
    ensure!(published.len() == 2, "two tracks published: {answer}");
    publisher
        .accept_answer(answer["sdp"].as_str().context("no sdp")?)
        .await?;
    publisher.connected().await.context("publisher")?;

    let keyframe_wanted = Arc::new(AtomicBool::new(false));
    let plis = Arc::new(AtomicUsize::new(0));
    let watching_plis = tokio::spawn(count_plis(
        Arc::clone(&video),
        Arc::clone(&keyframe_wanted),
        Arc::clone(&plis),
    ));
    let sending = tokio::spawn(send_media(
        Arc::clone(&video),
        Arc::clone(&audio),
        Arc::clone(&keyframe_wanted),
    ));

    // The subscriber joins the running call and answers the server's offers.
    let mut subscriber_signal = Signal::connect(url).await?;
    subscriber_signal
        .join("interop", "webrtc-rs subscriber")
        .await?;
    let mut subscriber = Peer::new().await?;
    let offer = subscriber_signal.recv_type("subscribe_offer").await?;
    for id in &published {
        ensure!(
            offer["tracks"]
                .as_array()
                .is_some_and(|ts| ts.iter().any(|t| t["track_id"] == id.as_str())),
            "the subscribe offer carries track {id}: {offer}"
        );
    }
    let answer = subscriber
        .answer(offer["sdp"].as_str().context("no sdp")?)
        .await?;
    subscriber_signal
        .send(json!({"type": "subscribe_answer", "req": "s1", "sdp": answer}))
        .await?;
    subscriber_signal.recv_type("ok").await?;
    subscriber.connected().await.context("subscriber")?;
    let connected_at = Instant::now();

    // Read both remote tracks into one channel.
    let (packets_tx, mut packets) = mpsc::unbounded_channel();
    let mut readers = Vec::new();
    for _ in 0..2 {
        let track = within("on_track", subscriber.tracks.recv())
            .await?
            .context("subscriber closed")?;
        readers.push(tokio::spawn(read_track(track, packets_tx.clone())));
    }

    let mut received_video = Vec::new();
    let mut received_audio = Vec::new();
    let collecting = async {
        while received_video.len() < WANT_VIDEO * 3 / 2 || received_audio.len() < WANT_AUDIO {
            match packets.recv().await {
                Some((RtpCodecKind::Video, p)) => received_video.push(p),
                Some((_, p)) => received_audio.push(p),
                None => break,
            }
        }
    };
    let _ = tokio::time::timeout(Duration::from_secs(8), collecting).await;
    let took = connected_at.elapsed();

    sending.abort();
    watching_plis.abort();
    readers.iter().for_each(|r| r.abort());
    publisher.pc.close().await?;
    subscriber.pc.close().await?;

    check_video(&received_video)?;
    check_audio(&received_audio)?;
    ensure!(
        plis.load(Ordering::Relaxed) >= 1,
        "the publisher never got a PLI for the new subscriber"
    );
    eprintln!(
        "webrtc-rs through Relais: {} video and {} audio packets within {:?} of connecting, {} PLIs at the publisher",
        received_video.len(),
        received_audio.len(),
        took,
        plis.load(Ordering::Relaxed),
    );
    eprintln!("server: {:?}", server.sfu().metrics());
    Ok(())
}

/// `(kind, mid)` of each media line of an SDP, in order.
fn media_lines(sdp: &str) -> Vec<(String, String)> {
    let mut lines = Vec::new();
    let mut kind = None;
    for line in sdp.lines() {
        if let Some(m) = line.strip_prefix("m=") {
            kind = m.split(' ').next().map(String::from);
        } else if let (Some(mid), Some(k)) = (line.strip_prefix("a=mid:"), &kind) {
            lines.push((k.clone(), mid.trim().to_owned()));
        }
    }
    lines
}

/// ~30 fps VP8 (a keyframe every second and on request) and an Opus packet
/// every 20 ms, until aborted.
async fn send_media(
    video: Arc<TrackLocalStaticRTP>,
    audio: Arc<TrackLocalStaticRTP>,
    keyframe_wanted: Arc<AtomicBool>,
) {
    let mut video_clock = tokio::time::interval(Duration::from_millis(33));
    let mut audio_clock = tokio::time::interval(Duration::from_millis(20));
    let (mut frame, mut video_seq) = (0u32, 1000u16);
    let (mut audio_count, mut audio_seq) = (0u32, 5000u16);
    loop {
        tokio::select! {
            _ = video_clock.tick() => {
                let keyframe = frame % 30 == 0 || keyframe_wanted.swap(false, Ordering::Relaxed);
                let payloads = vp8_frame(frame, (frame & 0x7fff) as u16, keyframe);
                let last = payloads.len() - 1;
                for (i, payload) in payloads.into_iter().enumerate() {
                    let packet = rtp_packet(VP8_PT, video_seq, frame * 3000, VIDEO_SSRC, i == last, payload);
                    video_seq = video_seq.wrapping_add(1);
                    let _ = video.write_rtp(packet).await;
                }
                frame += 1;
            }
            _ = audio_clock.tick() => {
                let packet = rtp_packet(OPUS_PT, audio_seq, audio_count * 960, AUDIO_SSRC, false, opus_payload(audio_count));
                audio_seq = audio_seq.wrapping_add(1);
                audio_count += 1;
                let _ = audio.write_rtp(packet).await;
            }
        }
    }
}

fn rtp_packet(pt: u8, seq: u16, ts: u32, ssrc: u32, marker: bool, payload: Vec<u8>) -> rtp::Packet {
    rtp::Packet {
        header: rtp::Header {
            version: 2,
            marker,
            payload_type: pt,
            sequence_number: seq,
            timestamp: ts,
            ssrc,
            ..Default::default()
        },
        payload: payload.into(),
    }
}

/// Count the PLIs that reach the publisher's video track, and ask for a
/// keyframe.
async fn count_plis(
    video: Arc<TrackLocalStaticRTP>,
    keyframe_wanted: Arc<AtomicBool>,
    plis: Arc<AtomicUsize>,
) {
    while let Some(event) = video.poll().await {
        if let TrackLocalEvent::OnRtcpPacket(packets) = event {
            for p in packets {
                let pli = p.as_any().downcast_ref::<PictureLossIndication>();
                if pli.is_some_and(|pli| pli.media_ssrc == VIDEO_SSRC) {
                    plis.fetch_add(1, Ordering::Relaxed);
                    keyframe_wanted.store(true, Ordering::Relaxed);
                }
            }
        }
    }
}

async fn read_track(
    track: Arc<dyn TrackRemote>,
    out: mpsc::UnboundedSender<(RtpCodecKind, rtp::Packet)>,
) {
    let kind = track.kind().await;
    while let Some(event) = track.poll().await {
        if let TrackRemoteEvent::OnRtpPacket(packet) = event {
            if out.send((kind, packet)).is_err() {
                return;
            }
        }
    }
}

/// The publisher's frames, whole and in order from a keyframe on, on one
/// SSRC with continuous sequence numbers and non-decreasing timestamps.
fn check_video(packets: &[rtp::Packet]) -> anyhow::Result<()> {
    ensure!(
        packets.len() >= WANT_VIDEO,
        "the subscriber got {} video packets, wanted at least {WANT_VIDEO}",
        packets.len()
    );
    let first = parse_vp8(&packets[0].payload).context("first video packet is not VP8")?;
    ensure!(
        first.start && first.keyframe,
        "the first video packet is not the start of a keyframe: {first:?}"
    );
    let ssrc = packets[0].header.ssrc;
    let mut keyframes = 0;
    for (i, pair) in packets.windows(2).enumerate() {
        let (a, b) = (&pair[0], &pair[1]);
        let (va, vb) = (parse_vp8(&a.payload), parse_vp8(&b.payload));
        let (Some((fa, ia)), Some((fb, ib))) =
            (va.and_then(|v| v.marker), vb.and_then(|v| v.marker))
        else {
            bail!("video packet {i} or {} lacks the publisher's marker", i + 1);
        };
        keyframes += usize::from(vb.is_some_and(|v| v.keyframe));
        ensure!(b.header.ssrc == ssrc, "SSRC changed at packet {}", i + 1);
        ensure!(
            b.header.sequence_number == a.header.sequence_number.wrapping_add(1),
            "sequence numbers jump from {} to {} at packet {}",
            a.header.sequence_number,
            b.header.sequence_number,
            i + 1
        );
        ensure!(
            (fb == fa && ib == ia + 1) || (fb == fa + 1 && ib == 0),
            "packet {} is frame {fb} part {ib} after frame {fa} part {ia}",
            i + 1
        );
        let dt = b.header.timestamp.wrapping_sub(a.header.timestamp);
        ensure!(
            dt == if fb == fa { 0 } else { 3000 },
            "timestamp moved by {dt} from frame {fa} to {fb}"
        );
    }
    ensure!(keyframes >= 1, "no keyframe after the first");
    Ok(())
}

/// The publisher's audio packets, in order, with continuous sequence numbers.
fn check_audio(packets: &[rtp::Packet]) -> anyhow::Result<()> {
    ensure!(
        packets.len() >= WANT_AUDIO,
        "the subscriber got {} audio packets, wanted at least {WANT_AUDIO}",
        packets.len()
    );
    for (i, pair) in packets.windows(2).enumerate() {
        let (a, b) = (&pair[0], &pair[1]);
        let (Some(ca), Some(cb)) = (parse_opus(&a.payload), parse_opus(&b.payload)) else {
            bail!("audio packet {i} or {} lacks the publisher's marker", i + 1);
        };
        ensure!(
            cb == ca + 1,
            "audio packet {} carries {cb} after {ca}",
            i + 1
        );
        ensure!(
            b.header.sequence_number == a.header.sequence_number.wrapping_add(1),
            "audio sequence numbers jump from {} to {}",
            a.header.sequence_number,
            b.header.sequence_number
        );
        ensure!(
            b.header.timestamp.wrapping_sub(a.header.timestamp) == 960,
            "audio timestamps move by {} at packet {}",
            b.header.timestamp.wrapping_sub(a.header.timestamp),
            i + 1
        );
    }
    Ok(())
}
