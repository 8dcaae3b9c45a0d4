//! Temporal layers (VP8 L1T3) end to end on the virtual clock: a publisher
//! sends three simulcast layers with three temporal layers each, as Chromium
//! does; subscribers report a REMB (a fixed estimate), and the tests check
//! what their own str0m peers received: which frames, whether the sequence
//! numbers, picture ids and TL0PICIDX run on without a gap, and where the
//! climbs happen.
//!
//! `cargo test -p relais-sfu --test temporal -- --nocapture` prints the
//! figures recorded in docs/media-quality.md.

mod support;

use std::time::{Duration, Instant};

use relais_sfu::api::*;
use support::*;

fn ms(n: u64) -> Duration {
    Duration::from_millis(n)
}

/// A camera publisher (150 k / 500 k / 1.5 Mbit/s), with L1T3 or without,
/// and a subscriber reporting `remb_bps`.
fn call(l1t3: bool, remb_bps: u64) -> (World, usize, TrackInfo) {
    let mut w = World::new();
    let publisher = w.join(true);
    let sub = w.join(true);
    w.clients[publisher].layer_packets = CAMERA_LAYER_PACKETS;
    w.clients[publisher].l1t3 = l1t3;
    w.clients[sub].remb_only = Some(remb_bps);
    let video = track_of(&w.publish(publisher).unwrap(), MediaKind::Video);
    (w, sub, video)
}

/// The video packets received in `[from, to)`.
fn window(w: &World, sub: usize, video: &TrackInfo, from: Instant, to: Instant) -> Vec<Received> {
    w.received_on(sub, video.id)
        .into_iter()
        .filter(|r| r.at >= from && r.at < to)
        .collect()
}

/// The frames among `rx` (their first packets).
fn frames(rx: &[Received]) -> Vec<&Received> {
    rx.iter().filter(|r| r.starts_frame).collect()
}

/// What the subscriber would NACK or fail to decode: sequence gaps, frames
/// cut short (a frame starts before the last one's marker; only a spatial
/// switch, at the new layer's keyframe, may cut the old layer's frame),
/// picture ids not one apart, TL0PICIDX not one apart on base-layer frames.
fn assert_clean(rx: &[Received]) {
    let mut sorted = rx.to_vec();
    sorted.sort_by_key(|r| r.seq);
    for p in sorted.windows(2) {
        let (a, b) = (&p[0], &p[1]);
        assert_eq!(b.seq, a.seq + 1, "a sequence gap: {a:?} {b:?}");
        if a.timestamp == b.timestamp {
            continue;
        }
        assert!(b.starts_frame, "a frame starts midway: {a:?} {b:?}");
        assert!(a.marker || b.keyframe, "a frame cut short: {a:?} {b:?}");
        let (pa, pb) = (a.picture_id.unwrap(), b.picture_id.unwrap());
        assert_eq!(pb, (pa + 1) % 32_768, "picture ids: {a:?} {b:?}");
        if let (Some(ta), Some(tb), Some(t)) = (a.tl0_pic_idx, b.tl0_pic_idx, b.temporal) {
            let step = u8::from(t.tid == 0 && !b.keyframe);
            // A keyframe restarts the publisher's pattern: it is a TL0 too.
            let expected = if b.keyframe {
                ta.wrapping_add(1)
            } else {
                ta.wrapping_add(step)
            };
            assert_eq!(tb, expected, "TL0PICIDX: {a:?} {b:?}");
        }
    }
}

fn tids(rx: &[Received]) -> Vec<u8> {
    frames(rx).iter().map(|r| r.temporal.unwrap().tid).collect()
}

#[test]
fn a_subscriber_held_to_the_base_temporal_layer_gets_a_quarter_of_the_frames_without_gaps() {
    // 60 kbit/s: the low layer's base temporal layer (about 35 kbit/s) fits,
    // its two lower temporal layers (71 kbit/s) do not.
    let (mut w, sub, video) = call(true, 60_000);
    w.run(ms(5000));
    let (from, to) = (w.now - ms(3000), w.now);
    let rx = window(&w, sub, &video, from, to);
    let got = tids(&rx);
    // The publisher sends a frame per layer every 35 ms: 85 or 86 in 3 s.
    eprintln!(
        "base temporal layer: {} frames of 86 in 3 s, {} packets",
        got.len(),
        rx.len()
    );
    assert!((20..=23).contains(&got.len()), "{} frames", got.len());
    assert!(got.iter().all(|&t| t == 0), "{got:?}");
    assert!(rx.iter().all(|r| r.layer == 0));
    assert_clean(&rx);
    // From the very first packet: nothing the subscriber could NACK.
    assert_clean(&w.received_on(sub, video.id));
}

#[test]
fn moving_up_a_temporal_layer_waits_for_a_layer_sync_frame() {
    let (mut w, sub, video) = call(true, 60_000);
    w.run(ms(5000));
    // 100 kbit/s: two temporal layers of the low layer (71 kbit/s) fit.
    w.clients[sub].remb_only = Some(100_000);
    let raised = w.now;
    w.run(ms(10_000));
    let rx = window(&w, sub, &video, raised, w.now);
    let fs = frames(&rx);
    let first_tl1 = fs
        .iter()
        .find(|r| r.temporal.unwrap().tid == 1)
        .expect("TL1 frames after the raise");
    eprintln!(
        "TL1 from {} ms after the estimate rose, at a sync frame",
        (first_tl1.at - raised).as_millis()
    );
    assert!(first_tl1.temporal.unwrap().layer_sync, "up at a sync point");
    assert!(!first_tl1.keyframe);
    let last = window(&w, sub, &video, w.now - ms(2000), w.now);
    let got = tids(&last);
    assert!((27..=30).contains(&got.len()), "half of 57: {}", got.len());
    assert!(got.iter().all(|&t| t <= 1), "{got:?}");
    assert_clean(&w.received_on(sub, video.id));
}

#[test]
fn a_tight_estimate_takes_the_medium_layer_at_fifteen_frames_a_second() {
    // 400 kbit/s: the low layer whole (142 k) is passed by the medium layer
    // at two temporal layers (242 k); the medium layer whole (485 k) does not
    // fit. Without temporal layers the same estimate gives the low layer.
    let (mut w, sub, video) = call(true, 400_000);
    w.run(ms(6000));
    let rx = window(&w, sub, &video, w.now - ms(2000), w.now);
    let got = tids(&rx);
    eprintln!(
        "400 kbit/s, L1T3: layer {}, {} frames in 2 s",
        rx[0].layer,
        got.len()
    );
    assert!(rx.iter().all(|r| r.layer == 1));
    assert!((27..=30).contains(&got.len()), "{}", got.len());
    assert!(got.iter().all(|&t| t <= 1), "{got:?}");
    assert_clean(&w.received_on(sub, video.id));

    let (mut w, sub, video) = call(false, 400_000);
    w.run(ms(6000));
    let rx = window(&w, sub, &video, w.now - ms(2000), w.now);
    assert!(rx.iter().all(|r| r.layer == 0));
    assert!((56..=58).contains(&frames(&rx).len()));
}

#[test]
fn streams_without_temporal_layers_pass_whole_at_every_estimate() {
    // 300 kbit/s: the low layer, every frame. 60 kbit/s: nothing fits.
    let (mut w, sub, video) = call(false, 300_000);
    w.run(ms(5000));
    let rx = window(&w, sub, &video, w.now - ms(3000), w.now);
    assert!(rx.iter().all(|r| r.layer == 0 && r.temporal.is_none()));
    assert!(
        (85..=86).contains(&frames(&rx).len()),
        "{}",
        frames(&rx).len()
    );
    let all = w.received_on(sub, video.id);
    let mut seqs: Vec<u64> = all.iter().map(|r| r.seq).collect();
    seqs.sort();
    assert!(seqs.windows(2).all(|s| s[1] == s[0] + 1), "no gap");

    let (mut w, sub, video) = call(false, 60_000);
    w.run(ms(5000));
    let rx = window(&w, sub, &video, w.now - ms(3000), w.now);
    assert!(rx.is_empty(), "paused: {} packets", rx.len());
}

#[test]
fn a_falling_estimate_drops_temporal_layers_at_once_without_a_keyframe() {
    let (mut w, sub, video) = call(true, 2_500_000);
    w.run(ms(5000));
    assert!(window(&w, sub, &video, w.now - ms(1000), w.now)
        .iter()
        .all(|r| r.layer == 2));
    let keyframes_before = w.client(0).keyframe_requests.len();
    // 1.1 Mbit/s: the top layer at two temporal layers (727 k) fits; the
    // whole top layer (1.45 M) does not.
    w.clients[sub].remb_only = Some(1_100_000);
    let fell = w.now;
    w.run(ms(3000));
    let rx = window(&w, sub, &video, fell, w.now);
    let last_tl2 = rx
        .iter()
        .filter(|r| r.temporal.unwrap().tid == 2)
        .map(|r| r.at)
        .max()
        .unwrap_or(fell);
    eprintln!(
        "1.1 Mbit/s: last TL2 frame {} ms after the REMB fell",
        (last_tl2 - fell).as_millis()
    );
    // The REMB goes out every 500 ms, and the next frame is dropped.
    assert!(last_tl2 <= fell + ms(600));
    assert!(rx.iter().all(|r| r.layer == 2), "the spatial layer stays");
    assert!(rx.len() > 200, "video flows: {}", rx.len());
    assert_eq!(
        w.client(0).keyframe_requests.len(),
        keyframes_before,
        "no keyframe asked for"
    );
    assert_clean(&w.received_on(sub, video.id));
}
