//! The forwarder on an SVC stream (VP9 `L3T3_KEY` as Chromium sends it):
//! which layer frames pass for a target, where the marker bit goes, and that
//! the output numbering has no gap.

use std::time::{Duration, Instant};

use crate::codec::{Spatial, Temporal};
use crate::forwarder::{Forwarder, Incoming, Rewrite};
use crate::svc_test_support::{forward, frames, PACKETS, TIDS};

/// A publisher's L3T3_KEY stream: one sequence for all layers.
struct Stream {
    t0: Instant,
    picture: u64,
    /// Pictures since the last keyframe.
    since_key: u64,
    seq: u64,
}

impl Stream {
    fn new() -> Self {
        Stream {
            t0: Instant::now(),
            picture: 0,
            since_key: 0,
            seq: 5000,
        }
    }

    /// The next picture, a keyframe when `key` (or the first).
    fn picture(&mut self, key: bool) -> Vec<Incoming> {
        let key = key || self.picture == 0;
        if key {
            self.since_key = 0;
        }
        let tid = TIDS[(self.since_key % 4) as usize];
        let mut out = Vec::new();
        for sid in 0..3u8 {
            let n = PACKETS[usize::from(sid)];
            for k in 0..n {
                out.push(Incoming {
                    layer: 0,
                    seq: self.seq,
                    timestamp: 1000 + self.picture as u32 * 3000,
                    arrival: self.t0 + Duration::from_millis(self.picture * 33),
                    starts_keyframe: key && sid == 0 && k == 0,
                    clock_rate: 90_000,
                    picture_id: None,
                    tl0_pic_idx: None,
                    temporal: Some(Temporal {
                        tid,
                        layer_sync: tid > 0,
                    }),
                    starts_frame: k == 0,
                    marker: sid == 2 && k + 1 == n,
                    spatial: Some(Spatial {
                        sid,
                        ends_layer_frame: k + 1 == n,
                    }),
                    dd: None,
                });
                self.seq += 1;
            }
        }
        self.picture += 1;
        self.since_key += 1;
        out
    }

    fn pictures(&mut self, n: usize) -> Vec<Incoming> {
        (0..n).flat_map(|_| self.picture(false)).collect()
    }
}

fn sid(p: &Incoming) -> u8 {
    p.spatial.unwrap().sid
}

/// No sequence gap, and each picture ends with the marker on the last
/// packet of its highest layer frame, and nowhere else.
fn assert_clean(out: &[(Incoming, Rewrite)]) {
    let mut sorted = out.to_vec();
    sorted.sort_by_key(|(_, r)| r.seq);
    for w in sorted.windows(2) {
        let ((a, ra), (b, rb)) = (w[0], w[1]);
        assert_eq!(rb.seq, ra.seq + 1, "sequence gap: {a:?} {b:?}");
        if a.timestamp == b.timestamp {
            assert!(!ra.marker, "a marker inside a picture: {a:?}");
        } else {
            assert!(ra.marker, "a picture without its marker: {a:?}");
        }
    }
}

#[test]
fn each_target_gets_only_its_layers_with_the_marker_at_its_top_layer() {
    for (spatial, temporal, count) in [(0u8, 2u8, 16usize), (1, 1, 16), (2, 0, 12), (2, 2, 48)] {
        let mut f = Forwarder::new(Some(spatial));
        f.set_temporal_target(temporal);
        let mut s = Stream::new();
        let out = forward(&mut f, &s.pictures(16));
        let got = frames(&out);
        assert_eq!(got.len(), count, "S{spatial}T{temporal}: {got:?}");
        assert!(got.iter().all(|&(s, t)| s <= spatial && t <= temporal));
        // Every passing picture has all the layers up to the target.
        for p in got.chunks(usize::from(spatial) + 1) {
            let sids: Vec<u8> = p.iter().map(|l| l.0).collect();
            assert_eq!(sids, (0..=spatial).collect::<Vec<_>>());
        }
        let markers = out.iter().filter(|(_, r)| r.marker).count();
        assert_eq!(markers, count / (usize::from(spatial) + 1), "one a picture");
        assert!(out
            .iter()
            .filter(|(_, r)| r.marker)
            .all(|(p, _)| sid(p) == spatial && p.spatial.unwrap().ends_layer_frame));
        assert_clean(&out);
        assert_eq!(f.current_layers().unwrap().spatial, spatial);
    }
}

#[test]
fn up_waits_for_a_keyframe_and_down_is_at_the_next_picture() {
    let mut f = Forwarder::new(Some(0));
    let mut s = Stream::new();
    let mut out = forward(&mut f, &s.pictures(4));
    f.set_target(Some(2));
    assert_eq!(f.awaiting_keyframe(), Some(2), "a keyframe is wanted");
    out.extend(forward(&mut f, &s.pictures(5)));
    assert!(out.iter().all(|(p, _)| sid(p) == 0), "no keyframe yet");
    assert_eq!(f.current(), Some(0));
    let key = forward(&mut f, &s.picture(true));
    assert_eq!(frames(&key), [(0, 0), (1, 0), (2, 0)]);
    assert!(key[0].1.switched);
    assert_eq!(f.current(), Some(2));
    assert_eq!(f.awaiting_keyframe(), None);
    out.extend(key);
    out.extend(forward(&mut f, &s.pictures(2)));
    // Down in the middle of a picture: it completes at layer 2, the next
    // one stops at layer 0, and no keyframe is asked for.
    let picture = s.picture(false);
    out.extend(forward(&mut f, &picture[..2]));
    f.set_target(Some(0));
    assert_eq!(f.awaiting_keyframe(), None, "down needs no keyframe");
    let rest = forward(&mut f, &picture[2..]);
    assert_eq!(rest.len(), picture.len() - 2, "the picture completes");
    assert!(rest.last().unwrap().1.marker);
    out.extend(rest);
    let next = forward(&mut f, &s.picture(false));
    assert_eq!(frames(&next), [(0, 0)]);
    assert!(next[0].1.switched && next[0].1.marker);
    assert_eq!(f.current(), Some(0));
    out.extend(next);
    out.extend(forward(&mut f, &s.pictures(4)));
    assert_clean(&out);
}

#[test]
fn losses_in_dropped_layers_leave_no_hole_and_late_packets_take_their_slot() {
    let mut f = Forwarder::new(Some(1));
    let mut s = Stream::new();
    let mut out = forward(&mut f, &s.pictures(4));
    // Picture 4: the middle packet of SID 2 (dropped) is lost. Picture 5:
    // the second packet of SID 1 (passing) comes late, after SID 2's.
    let p4 = s.picture(false);
    let p5 = s.picture(false);
    for p in p4
        .iter()
        .enumerate()
        .filter(|(i, _)| *i != 4)
        .map(|(_, p)| p)
    {
        out.extend(forward(&mut f, std::slice::from_ref(p)));
    }
    let late = p5[2];
    for p in p5.iter().filter(|p| p.seq != late.seq) {
        out.extend(forward(&mut f, std::slice::from_ref(p)));
    }
    let before = out.len();
    out.extend(forward(&mut f, &[late]));
    assert_eq!(out.len(), before + 1, "the late packet passes");
    assert!(out.last().unwrap().1.marker, "it ends SID 1: the marker");
    // The lost packet of SID 2 arrives at last: dropped, as its frame was.
    assert!(forward(&mut f, &[p4[4]]).is_empty());
    out.extend(forward(&mut f, &s.pictures(3)));
    assert_eq!(frames(&out).len(), 2 * 9);
    assert_clean(&out);
}

#[test]
fn a_picture_without_the_top_layer_ends_where_the_publisher_ended_it() {
    let mut f = Forwarder::new(Some(2));
    let mut s = Stream::new();
    let mut out = forward(&mut f, &s.pictures(3));
    // The publisher's encoder skips SID 2 in one picture: its marker is on
    // SID 1's last packet.
    let mut picture: Vec<Incoming> = s
        .picture(false)
        .into_iter()
        .filter(|p| sid(p) < 2)
        .collect();
    picture.last_mut().unwrap().marker = true;
    // The stream's numbering has no hole: the publisher never sent SID 2.
    let skipped = PACKETS[2] as u64;
    let got = forward(&mut f, &picture);
    assert_eq!(got.len(), picture.len());
    assert!(got.last().unwrap().1.marker, "the picture ends at SID 1");
    out.extend(got);
    for mut p in s.pictures(3) {
        p.seq -= skipped;
        out.extend(forward(&mut f, &[p]));
    }
    assert_clean(&out);
}
