//! The forwarder on an AV1 SVC stream with dependency descriptors
//! (`L3T3_KEY` as Chromium sends it): which frames each decode target gets,
//! that every frame forwarded has the frames it refers to, where the marker
//! goes, and when the decode target moves.

use std::collections::HashSet;
use std::time::{Duration, Instant};

use crate::codec::{Spatial, Temporal};
use crate::dd_stream::DdStream;
use crate::dd_writer::{l3t3_key, l3t3_key_template, write};
use crate::dependency_descriptor::Structure;
use crate::forwarder::{Forwarder, Incoming, Rewrite};
use crate::svc_test_support::{forward, frames, PACKETS, TIDS};

struct Stream {
    t0: Instant,
    picture: u64,
    since_key: u64,
    seq: u64,
    frame_number: u16,
    structure: Structure,
    dd: DdStream,
    /// Active decode targets to announce in the next descriptor.
    announce: Option<u32>,
}

impl Stream {
    fn new() -> Self {
        Stream {
            t0: Instant::now(),
            picture: 0,
            since_key: 0,
            seq: 9000,
            // Wraps after a few pictures.
            frame_number: 65530,
            structure: l3t3_key([(320, 180), (640, 360), (1280, 720)]),
            dd: DdStream::default(),
            announce: None,
        }
    }

    fn picture(&mut self, key: bool) -> Vec<Incoming> {
        let key = key || self.picture == 0;
        if key {
            self.since_key = 0;
        }
        let tid = TIDS[(self.since_key % 4) as usize];
        let kind = if key {
            0
        } else {
            1 + [0, 2, 1, 2][(self.since_key % 4) as usize]
        };
        let mut out = Vec::new();
        for sid in 0..3u8 {
            let n = PACKETS[usize::from(sid)];
            for k in 0..n {
                let (start, end) = (k == 0, k + 1 == n);
                let attach = (key && sid == 0 && start).then_some(&self.structure);
                let bytes = write(
                    start,
                    end,
                    l3t3_key_template(sid, kind),
                    self.frame_number,
                    attach,
                    self.structure.id,
                    std::mem::take(&mut self.announce).filter(|_| start),
                    9,
                );
                let dd = self.dd.read(&bytes).unwrap();
                assert_eq!((dd.spatial, dd.temporal), (sid, tid));
                out.push(Incoming {
                    layer: 0,
                    seq: self.seq,
                    timestamp: 1000 + self.picture as u32 * 3000,
                    arrival: self.t0 + Duration::from_millis(self.picture * 33),
                    starts_keyframe: dd.keyframe,
                    clock_rate: 90_000,
                    picture_id: None,
                    tl0_pic_idx: None,
                    temporal: Some(Temporal {
                        tid,
                        layer_sync: false,
                    }),
                    starts_frame: start,
                    marker: sid == 2 && end,
                    spatial: Some(Spatial {
                        sid,
                        ends_layer_frame: end,
                    }),
                    dd: Some(dd),
                });
                self.seq += 1;
            }
            self.frame_number = self.frame_number.wrapping_add(1);
        }
        self.picture += 1;
        self.since_key += 1;
        out
    }

    fn pictures(&mut self, n: usize) -> Vec<Incoming> {
        (0..n).flat_map(|_| self.picture(false)).collect()
    }
}

/// What a decoder needs: no sequence gap, frames whole, the marker on the
/// last packet of each picture and nowhere else, and every frame's
/// references among the frames forwarded before it.
fn assert_decodable(out: &[(Incoming, Rewrite)]) {
    let mut have = HashSet::new();
    for (p, _) in out {
        let dd = p.dd.unwrap();
        if p.starts_frame {
            for r in dd.references() {
                assert!(have.contains(&r), "frame {} lacks {r}: {p:?}", dd.number);
            }
        }
        have.insert(dd.number);
    }
    for w in out.windows(2) {
        let ((a, ra), (b, rb)) = (w[0], w[1]);
        assert_eq!(rb.seq, ra.seq + 1, "sequence gap: {a:?} {b:?}");
        let (ea, sb) = (a.spatial.unwrap().ends_layer_frame, b.starts_frame);
        assert_eq!(ea, sb, "a frame cut: {a:?} {b:?}");
        assert_eq!(ra.marker, a.timestamp != b.timestamp, "marker: {a:?} {b:?}");
    }
}

#[test]
fn each_decode_target_gets_its_frames_and_can_decode_them() {
    // 8 pictures: the keyframe, then T0 T2 T1 T2 T0 T2 T1.
    for (s, t, want) in [
        (
            0u8,
            2u8,
            vec![
                (0, 0),
                (0, 2),
                (0, 1),
                (0, 2),
                (0, 0),
                (0, 2),
                (0, 1),
                (0, 2),
            ],
        ),
        (
            1,
            2,
            vec![
                (0, 0),
                (1, 0),
                (1, 2),
                (1, 1),
                (1, 2),
                (1, 0),
                (1, 2),
                (1, 1),
                (1, 2),
            ],
        ),
        (2, 0, vec![(0, 0), (1, 0), (2, 0), (2, 0)]),
        (2, 1, vec![(0, 0), (1, 0), (2, 0), (2, 1), (2, 0), (2, 1)]),
    ] {
        let mut f = Forwarder::new(Some(s));
        f.set_temporal_target(t);
        let mut st = Stream::new();
        let out = forward(&mut f, &st.pictures(8));
        let got = frames(&out);
        // Only layer frames of the target's layers: in L3T3_KEY the lower
        // spatial layers only in the keyframe picture.
        assert_eq!(got, want, "S{s}T{t}");
        assert_decodable(&out);
        assert_eq!(
            f.current_layers().map(|l| (l.spatial, l.temporal)),
            Some((s, t))
        );
        assert_eq!(f.awaiting_keyframe(), None);
    }
}

#[test]
fn up_and_down_a_spatial_layer_wait_for_a_keyframe() {
    let mut f = Forwarder::new(Some(0));
    let mut st = Stream::new();
    let mut out = forward(&mut f, &st.pictures(5));
    f.set_target(Some(2));
    out.extend(forward(&mut f, &st.pictures(6)));
    assert!(
        frames(&out).iter().all(|&(s, _)| s == 0),
        "no switch point yet"
    );
    assert_eq!(f.awaiting_keyframe(), Some(2));
    let key = forward(&mut f, &st.picture(true));
    assert_eq!(frames(&key), [(0, 0), (1, 0), (2, 0)]);
    assert_eq!(f.current(), Some(2));
    out.extend(key);
    out.extend(forward(&mut f, &st.pictures(7)));
    // Down: S0's delta frames refer to S0 frames this subscriber did not
    // get (from the second T0 after the keyframe on), so it stays at S2
    // until the next keyframe.
    f.set_target(Some(0));
    let waiting = forward(&mut f, &st.pictures(4));
    assert!(frames(&waiting).iter().all(|&(s, _)| s == 2));
    assert_eq!(f.awaiting_keyframe(), Some(0));
    out.extend(waiting);
    out.extend(forward(&mut f, &st.picture(true)));
    out.extend(forward(&mut f, &st.pictures(2)));
    assert_eq!(f.current(), Some(0));
    assert_eq!(
        frames(&out)[frames(&out).len() - 3..],
        [(0, 0), (0, 2), (0, 1)]
    );
    assert_decodable(&out);
}

#[test]
fn temporal_layers_move_at_switch_frames_without_a_keyframe() {
    let mut f = Forwarder::new(Some(1));
    f.set_temporal_target(0);
    let mut st = Stream::new();
    let mut out = forward(&mut f, &st.pictures(5)); // key T2 T1 T2 T0
    f.set_temporal_target(2);
    // Picture 5 is T2 (discardable: no switch point for S1T2), 6 is T1:
    // a switch point.
    out.extend(forward(&mut f, &st.pictures(1)));
    assert_eq!(f.current_layers().unwrap().temporal, 0);
    out.extend(forward(&mut f, &st.pictures(3)));
    assert_eq!(f.current_layers().unwrap().temporal, 2);
    // Down to T1: at the next switch point of S1T1, the T0 of picture 12
    // (the T1 of picture 10 is only discardable there).
    f.set_temporal_target(1);
    out.extend(forward(&mut f, &st.pictures(3)));
    assert_eq!(f.current_layers().unwrap().temporal, 2);
    out.extend(forward(&mut f, &st.pictures(4)));
    assert_eq!(f.current_layers().unwrap().temporal, 1);
    assert_eq!(f.awaiting_keyframe(), None);
    let tids: Vec<u8> = frames(&out).iter().skip(2).map(|f| f.1).collect();
    // Pictures 4, 6 to 12, 14.
    assert_eq!(tids, [0, 1, 2, 0, 2, 1, 2, 0, 1]);
    assert_decodable(&out);
}

#[test]
fn losses_in_dropped_frames_leave_no_hole() {
    let mut f = Forwarder::new(Some(1));
    let mut st = Stream::new();
    let mut out = forward(&mut f, &st.pictures(4));
    // The last two packets of the next picture's S2 frame (dropped for
    // S1) are lost: its middle and its tail.
    let p = st.picture(false);
    let lost = [4usize, 5];
    for (i, pkt) in p.iter().enumerate() {
        if !lost.contains(&i) {
            out.extend(forward(&mut f, std::slice::from_ref(pkt)));
        }
    }
    out.extend(forward(&mut f, &st.pictures(3)));
    assert_decodable(&out);
}

#[test]
fn a_spatial_layer_switched_off_at_the_publisher_gives_the_next_one_down() {
    let mut f = Forwarder::new(Some(2));
    let mut st = Stream::new();
    let mut out = forward(&mut f, &st.pictures(9));
    assert_eq!(f.current(), Some(2));
    // S2 off: six decode targets active. S1's delta frames refer to S1
    // frames this subscriber did not get: a keyframe is asked for.
    st.announce = Some(0x3f);
    let waiting = forward(&mut f, &st.pictures(4));
    assert!(frames(&waiting).iter().all(|&(s, _)| s == 2), "{waiting:?}");
    assert_eq!(f.awaiting_keyframe(), Some(2));
    out.extend(waiting);
    // The publisher's keyframe repeats the mask (its structure alone would
    // make every target active again).
    st.announce = Some(0x3f);
    let key = st.picture(true);
    out.extend(forward(&mut f, &key));
    out.extend(forward(&mut f, &st.pictures(3)));
    assert_eq!(f.current(), Some(1));
    assert_eq!(f.awaiting_keyframe(), None, "S1 is the best there is");
    assert_eq!(
        frames(&out)[frames(&out).len() - 5..],
        [(0, 0), (1, 0), (1, 2), (1, 1), (1, 2)]
    );
    assert_decodable(&out);
}
