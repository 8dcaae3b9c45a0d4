//! AV1 SVC end to end on the virtual clock: a publisher sends one AV1
//! stream with three spatial and three temporal layers and the dependency
//! descriptor, as Chromium sends `L3T3_KEY`; subscribers ask for different
//! sizes, and the tests read what their own str0m peers received: the
//! descriptors (each packet must carry one, the first with the structure),
//! which layer frames came, whether each frame's references came before
//! it, where the marker bits are, and whether sequence numbers run on
//! without a gap.
//!
//! `cargo test -p relais-sfu --test av1_svc -- --nocapture` prints the
//! figures recorded in docs/media-quality.md.

mod support;

use std::collections::HashSet;
use std::time::{Duration, Instant};

use relais_sfu::api::*;
use relais_sfu::dd_stream::{DdFrame, DdStream};
use support::*;

fn ms(n: u64) -> Duration {
    Duration::from_millis(n)
}

/// Packets and payload bytes of each spatial layer's frame (as for the
/// VP9 SVC tests): about 130 k, 450 k and 1 Mbit/s.
const LAYER_PACKETS: [(usize, usize); 3] = [(1, 540), (2, 960), (4, 1060)];

fn call(n: usize) -> (World, Vec<usize>, TrackInfo) {
    let mut w = World::new();
    let publisher = w.join(true);
    let subs: Vec<usize> = (0..n).map(|_| w.join(true)).collect();
    for &c in &subs {
        w.clients[c].remb_only = Some(5_000_000);
    }
    w.clients[publisher].av1 = true;
    w.clients[publisher].layer_packets = LAYER_PACKETS;
    let answer = w.publish(publisher).unwrap();
    let video = track_of(&answer, MediaKind::Video);
    assert_eq!(video.codec, "AV1");
    (w, subs, video)
}

fn ask(w: &mut World, c: usize, video: &TrackInfo, q: Quality) {
    let participant = w.client(c).id;
    w.call(|reply| Command::Subscribe {
        participant,
        track: video.id,
        request: LayerRequest::Quality(q),
        reply,
    })
    .unwrap();
}

/// One received packet with its descriptor read.
struct Packet {
    at: Instant,
    seq: u64,
    timestamp: u32,
    marker: bool,
    dd: DdFrame,
}

/// Everything `c` received of the track, in sequence order, each
/// descriptor read as a receiver reads them: the first must carry the
/// structure, and every one must be readable.
fn received(w: &World, c: usize, video: &TrackInfo) -> Vec<Packet> {
    let mut rx = w.received_on(c, video.id);
    rx.sort_by_key(|r| r.seq);
    let mut stream = DdStream::default();
    rx.iter()
        .map(|r| {
            let bytes =
                r.dd.as_ref()
                    .expect("every AV1 packet carries its descriptor");
            let dd = stream
                .read(bytes)
                .expect("a descriptor the receiver can read");
            Packet {
                at: r.at,
                seq: r.seq,
                timestamp: r.timestamp,
                marker: r.marker,
                dd,
            }
        })
        .collect()
}

/// What the subscriber's decoder needs: no sequence gap, frames whole, the
/// marker at the end of each picture only, and every frame's references
/// received before it. Returns each frame's (spatial, temporal).
fn assert_decodable(rx: &[Packet]) -> Vec<(u8, u8)> {
    let mut have = HashSet::new();
    let mut frames = Vec::new();
    for (i, p) in rx.iter().enumerate() {
        if p.dd.start_of_frame {
            for r in p.dd.references() {
                assert!(have.contains(&r), "frame {} lacks {r}", p.dd.number);
            }
            frames.push((p.dd.spatial, p.dd.temporal));
        }
        have.insert(p.dd.number);
        let Some(next) = rx.get(i + 1) else { break };
        assert_eq!(next.seq, p.seq + 1, "a sequence gap after {}", p.seq);
        assert_eq!(
            p.dd.end_of_frame, next.dd.start_of_frame,
            "a frame cut at {}",
            p.seq
        );
        assert_eq!(
            p.marker,
            p.timestamp != next.timestamp,
            "marker at {}",
            p.seq
        );
    }
    frames
}

#[test]
fn subscribers_receive_only_the_frames_of_their_decode_target() {
    let (mut w, subs, video) = call(3);
    let wanted = [Quality::Low, Quality::Medium, Quality::High];
    for (&c, q) in subs.iter().zip(wanted) {
        ask(&mut w, c, &video, q);
    }
    w.run(ms(4000));
    for (top, &c) in subs.iter().enumerate() {
        let rx = received(&w, c, &video);
        assert!(rx[0].dd.keyframe, "starts at the keyframe's structure");
        let frames = assert_decodable(&rx);
        let pictures = rx.iter().filter(|p| p.marker).count();
        let from = w.now - ms(3000);
        let tail: Vec<&Packet> = rx.iter().filter(|p| p.at >= from).collect();
        let keyframes: HashSet<u32> = rx
            .iter()
            .filter(|p| p.dd.keyframe)
            .map(|p| p.timestamp)
            .collect();
        let late: Vec<(u8, u8, u32)> = tail
            .iter()
            .filter(|p| p.dd.start_of_frame)
            .map(|p| (p.dd.spatial, p.dd.temporal, p.timestamp))
            .collect();
        let late_pictures = tail.iter().filter(|p| p.marker).count();
        eprintln!(
            "asked {:?}: {pictures} pictures in {:.1} s ({late_pictures} in the last 3 s), {} packets, {} frames, {} keyframe(s)",
            wanted[top],
            (rx.last().unwrap().at - rx[0].at).as_secs_f64(),
            rx.len(),
            frames.len(),
            keyframes.len(),
        );
        // Every picture, all three temporal layers, and only the layer
        // asked for but in keyframe pictures (L3T3_KEY: the lower layers'
        // delta frames are not needed; the publisher sends a keyframe
        // every 90 pictures).
        assert!(late_pictures >= 84, "{late_pictures}");
        assert!(
            late.iter()
                .all(|&(s, _, ts)| usize::from(s) == top || keyframes.contains(&ts)),
            "{late:?}"
        );
        assert!(late.iter().any(|&(_, t, _)| t == 2));
        assert!(keyframes.len() >= 2);
        // A keyframe picture: the layers up to the one asked for.
        for key in keyframes
            .iter()
            .filter(|ts| late.iter().any(|f| f.2 == **ts))
        {
            let sids: Vec<u8> = late.iter().filter(|f| f.2 == *key).map(|f| f.0).collect();
            assert_eq!(sids, (0..=top as u8).collect::<Vec<_>>());
        }
    }
}

#[test]
fn low_to_high_waits_for_a_keyframe_and_high_to_low_too() {
    let (mut w, subs, video) = call(1);
    let (c, publisher) = (subs[0], 0);
    ask(&mut w, c, &video, Quality::Low);
    w.run(ms(1500));
    let asked = w.now;
    let plis = w.client(publisher).keyframe_requests.len();
    ask(&mut w, c, &video, Quality::High);
    w.run(ms(1000));
    let up = received(&w, c, &video)
        .into_iter()
        .find(|p| p.at >= asked && p.dd.spatial == 2)
        .expect("the top layer comes");
    eprintln!(
        "low -> high: {} keyframe request(s), top layer {} ms after asking",
        w.client(publisher).keyframe_requests.len() - plis,
        (up.at - asked).as_millis()
    );
    assert!(w.client(publisher).keyframe_requests.len() > plis);
    // High to low: S0's delta frames refer to S0 frames a top-layer
    // subscriber did not get, so this waits for a keyframe too.
    let asked = w.now;
    let plis = w.client(publisher).keyframe_requests.len();
    ask(&mut w, c, &video, Quality::Low);
    w.run(ms(1000));
    let rx = received(&w, c, &video);
    let down = rx
        .iter()
        .filter(|p| p.at >= asked)
        .find(|p| p.dd.spatial == 0 && !p.dd.keyframe)
        .expect("the low layer comes");
    eprintln!(
        "high -> low: {} keyframe request(s), low layer {} ms after asking",
        w.client(publisher).keyframe_requests.len() - plis,
        (down.at - asked).as_millis()
    );
    assert!(w.client(publisher).keyframe_requests.len() > plis);
    let frames = assert_decodable(&rx);
    let tail: Vec<u8> = frames.iter().rev().take(20).map(|f| f.0).collect();
    assert!(tail.iter().all(|&s| s == 0), "{tail:?}");
}

/// The allocator charges a layer for what its subscriber receives. In
/// `L3T3_KEY` a top-layer subscriber gets the lower layers' keyframes only:
/// about 1 Mbit/s here, where the three layers together are about 1.6. A
/// 1.3 Mbit/s downlink fits the top layer alone at its full frame rate, so
/// that is what it gets (charged for all three, as VP9 SVC's forwarded
/// lower layers are, it got the top layer at half the frame rate: 28
/// pictures in 2 s).
#[test]
fn a_top_layer_subscriber_is_charged_for_the_frames_it_receives() {
    let (mut w, subs, video) = call(1);
    let sub = subs[0];
    w.clients[sub].remb_only = Some(1_300_000);
    ask(&mut w, sub, &video, Quality::High);
    w.run(ms(6000));
    let from = w.now - ms(2000);
    let rx = received(&w, sub, &video);
    let tail: Vec<&Packet> = rx.iter().filter(|p| p.at >= from).collect();
    let pictures = tail.iter().filter(|p| p.marker).count();
    let tops = tail
        .iter()
        .filter(|p| p.marker && p.dd.spatial == 2)
        .count();
    let bytes: usize = tail.len() * 1060;
    eprintln!(
        "1.3 Mbit/s downlink, asked high: {tops} of {pictures} pictures of the last 2 s at the top layer, \
         about {} kbit/s",
        bytes * 8 / 2000
    );
    assert!(pictures >= 50, "{pictures}");
    assert_eq!(tops, pictures, "every picture at the top layer");
}
