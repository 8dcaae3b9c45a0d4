//! VP9 SVC end to end on the virtual clock: a publisher sends one VP9
//! stream with three spatial and three temporal layers, as Chromium sends
//! `L3T3_KEY`; subscribers ask for different sizes (or report a REMB), and
//! the tests check what their own str0m peers received: which layer frames,
//! where the marker bits are, whether sequence numbers run on without a gap,
//! and when the spatial layer moves.
//!
//! `cargo test -p relais-sfu --test svc -- --nocapture` prints the figures
//! recorded in docs/media-quality.md.

mod support;

use std::time::{Duration, Instant};

use relais_sfu::api::*;
use support::*;

fn ms(n: u64) -> Duration {
    Duration::from_millis(n)
}

/// Packets and payload bytes of each spatial layer's frame: about 130 k,
/// 450 k and 1 Mbit/s at 28.6 pictures a second (1.6 Mbit/s in all).
const SVC_LAYER_PACKETS: [(usize, usize); 3] = [(1, 540), (2, 960), (4, 1060)];

/// An SVC publisher and `n` subscribers reporting a REMB of `remb_bps`
/// (a fixed estimate: these tests are about layers, not estimation).
fn call(n: usize, remb_bps: u64) -> (World, Vec<usize>, TrackInfo) {
    let mut w = World::new();
    let publisher = w.join(true);
    let subs: Vec<usize> = (0..n).map(|_| w.join(true)).collect();
    for &c in &subs {
        w.clients[c].remb_only = Some(remb_bps);
    }
    w.clients[publisher].svc = true;
    w.clients[publisher].layer_packets = SVC_LAYER_PACKETS;
    let answer = w.publish(publisher).unwrap();
    let video = track_of(&answer, MediaKind::Video);
    assert_eq!(video.codec, "VP9");
    (w, subs, video)
}

fn ask(w: &mut World, c: usize, video: &TrackInfo, request: LayerRequest) {
    let participant = w.client(c).id;
    w.call(|reply| Command::Subscribe {
        participant,
        track: video.id,
        request,
        reply,
    })
    .unwrap();
}

/// The video packets received in `[from, to)`, in sequence order.
fn window(w: &World, sub: usize, video: &TrackInfo, from: Instant, to: Instant) -> Vec<Received> {
    let mut rx: Vec<Received> = w
        .received_on(sub, video.id)
        .into_iter()
        .filter(|r| r.at >= from && r.at < to)
        .collect();
    rx.sort_by_key(|r| r.seq);
    rx
}

fn sid(r: &Received) -> u8 {
    r.spatial.expect("a VP9 SVC packet").sid
}

/// What the subscriber's decoder needs: no sequence gap, every layer frame
/// whole (B to E), and in each picture the marker on the last packet of its
/// highest layer frame only. Returns the highest SID of each picture.
fn assert_clean(rx: &[Received]) -> Vec<u8> {
    let mut tops = Vec::new();
    for p in rx.windows(2) {
        let (a, b) = (&p[0], &p[1]);
        assert_eq!(b.seq, a.seq + 1, "a sequence gap: {a:?} {b:?}");
        let (sa, sb) = (a.spatial.unwrap(), b.spatial.unwrap());
        if sa.ends_layer_frame {
            assert!(b.starts_frame, "a layer frame starts midway: {b:?}");
        } else {
            assert!(
                !b.starts_frame && sa.sid == sb.sid,
                "a layer frame cut: {a:?} {b:?}"
            );
        }
        if a.timestamp == b.timestamp {
            assert!(!a.marker, "a marker inside a picture: {a:?}");
            assert_eq!(
                sb.sid,
                sa.sid + u8::from(sa.ends_layer_frame),
                "{a:?} {b:?}"
            );
        } else {
            assert!(a.marker, "a picture without its marker: {a:?}");
            assert_eq!(sb.sid, 0, "a picture starts at its lowest layer: {b:?}");
            tops.push(sa.sid);
        }
    }
    tops
}

fn tids(rx: &[Received]) -> Vec<u8> {
    rx.iter()
        .filter(|r| r.starts_frame && sid(r) == 0)
        .map(|r| r.temporal.unwrap().tid)
        .collect()
}

#[test]
fn subscribers_receive_only_the_spatial_layers_they_asked_for() {
    let (mut w, subs, video) = call(3, 5_000_000);
    let wanted = [Quality::Low, Quality::Medium, Quality::High];
    for (&c, q) in subs.iter().zip(wanted) {
        ask(&mut w, c, &video, LayerRequest::Quality(q));
    }
    w.run(ms(4000));
    for (top, &c) in subs.iter().enumerate() {
        let all = w.received_on(c, video.id);
        let rx = window(&w, c, &video, w.now - ms(3000), w.now);
        let tops = assert_clean(&rx);
        let bytes: usize = rx.len();
        eprintln!(
            "asked {:?}: {} pictures in 3 s, {} packets, highest SID {:?}",
            wanted[top],
            tops.len(),
            bytes,
            tops.iter().max()
        );
        assert!((84..=88).contains(&tops.len()), "{}", tops.len());
        assert!(tops.iter().all(|&t| usize::from(t) == top), "{tops:?}");
        assert!(rx.iter().all(|r| usize::from(sid(r)) <= top));
        // Whole pictures: each (but the window's first and last) has the
        // packets of the layers up to the one asked for.
        let packets: usize = SVC_LAYER_PACKETS[..=top].iter().map(|l| l.0).sum();
        let sizes = picture_sizes(&rx);
        assert!(
            sizes[1..sizes.len() - 1].iter().all(|&n| n == packets),
            "{sizes:?}"
        );
        // Every temporal layer passes: all the pictures.
        assert!(tids(&rx).contains(&2));
        let mut sorted = all.clone();
        sorted.sort_by_key(|r| r.seq);
        assert_clean(&sorted);
    }
}

/// Packets of each picture, in order.
fn picture_sizes(rx: &[Received]) -> Vec<usize> {
    rx.chunk_by(|a, b| a.timestamp == b.timestamp)
        .map(|p| p.len())
        .collect()
}

#[test]
fn moving_up_waits_for_a_keyframe_and_moving_down_is_at_the_next_picture() {
    let (mut w, subs, video) = call(1, 5_000_000);
    let c = subs[0];
    ask(&mut w, c, &video, LayerRequest::Quality(Quality::Low));
    w.run(ms(3000));
    let requests = w.client(0).keyframe_requests.len();
    ask(&mut w, c, &video, LayerRequest::Quality(Quality::High));
    let raised = w.now;
    w.run(ms(2000));
    assert!(
        w.client(0).keyframe_requests.len() > requests,
        "a keyframe asked for"
    );
    let rx = window(&w, c, &video, raised, w.now);
    let first_top = rx
        .iter()
        .find(|r| sid(r) == 2)
        .expect("SID 2 after the raise");
    eprintln!(
        "up: SID 2 from {} ms after the request, at a keyframe",
        (first_top.at - raised).as_millis()
    );
    assert!(first_top.keyframe, "up at a keyframe: {first_top:?}");
    assert!(first_top.at - raised < ms(200));
    // Every picture before that keyframe is SID 0 only.
    let before: Vec<&Received> = rx
        .iter()
        .filter(|r| r.timestamp != first_top.timestamp && r.seq < first_top.seq)
        .collect();
    assert!(before.iter().all(|r| sid(r) == 0));

    let requests = w.client(0).keyframe_requests.len();
    ask(&mut w, c, &video, LayerRequest::Quality(Quality::Low));
    let lowered = w.now;
    w.run(ms(1000));
    let rx = window(&w, c, &video, lowered, w.now);
    let last_top = rx
        .iter()
        .filter(|r| sid(r) > 0)
        .map(|r| r.at)
        .max()
        .unwrap_or(lowered);
    eprintln!(
        "down: last SID > 0 {} ms after the request",
        (last_top - lowered).as_millis()
    );
    assert!(last_top - lowered <= ms(40), "within a picture");
    assert!(rx
        .iter()
        .filter(|r| r.at > lowered + ms(40))
        .all(|r| sid(r) == 0));
    assert_eq!(
        w.client(0).keyframe_requests.len(),
        requests,
        "down needs no keyframe"
    );
    let mut all = w.received_on(c, video.id);
    all.sort_by_key(|r| r.seq);
    let tops = assert_clean(&all);
    assert!(tops.contains(&2) && tops.last() == Some(&0));
}

#[test]
fn an_estimate_takes_spatial_layers_then_temporal_layers() {
    // Cumulative costs: SID 0 about 130 k; SIDs 0-1 about 580 k whole and
    // about 290 k at two temporal layers; all three about 1.6 M.
    for (remb, top, temporal) in [(200_000, 0u8, 2u8), (450_000, 1, 1), (2_500_000, 2, 2)] {
        let (mut w, subs, video) = call(1, remb);
        let c = subs[0];
        w.run(ms(6000));
        let rx = window(&w, c, &video, w.now - ms(2000), w.now);
        let tops = assert_clean(&rx);
        let got = tids(&rx);
        eprintln!(
            "REMB {remb}: SID {:?}, {} pictures in 2 s, TIDs up to {:?}",
            tops.iter().max(),
            tops.len(),
            got.iter().max()
        );
        assert!(tops.iter().all(|&t| t == top), "{remb}: {tops:?}");
        assert!(got.iter().all(|&t| t <= temporal), "{remb}: {got:?}");
        assert_eq!(got.iter().max(), Some(&temporal));
        let mut all = w.received_on(c, video.id);
        all.sort_by_key(|r| r.seq);
        assert_clean(&all);
    }
}
