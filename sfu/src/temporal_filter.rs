//! Which frames of a stream with temporal layers pass for one subscriber
//! (VP8 L1T3: TIDs 0,2,1,2 and again), and how far the forwarder pulls the
//! output numbering back so that what is dropped leaves no gap.
//!
//! Decisions are per frame (one RTP timestamp), taken at the first packet of
//! the frame that arrives: a frame passes or is dropped whole, its marker bit
//! with it, so the decoder sees only complete frames. The level (the highest
//! temporal layer passing) goes down at the next frame, and up only at a frame
//! the encoder marked as a layer sync point (Y: it depends on the base layer
//! only) or at a keyframe. The base layer always passes, so TL0PICIDX needs
//! no rewriting here.
//!
//! Numbering: each dropped packet pulls later sequence numbers back by one,
//! each dropped frame later picture ids. A packet lost before the SFU counts
//! as dropped when its frame was dropped and the frame is clear (its
//! neighbours are of one frame, or it is the tail of a frame that had no
//! marker yet, or the head of a frame whose first packet is missing);
//! otherwise its slot stays a hole, as any loss does. Late packets (reordered,
//! or retransmitted by the publisher) take the shift of their own frame, or,
//! when their frame was never seen, of the next frame, for the last
//! [`FRAMES`] frames.
//!
//! SVC (VP9 with spatial layers in one SSRC, as Chromium sends `L3T3_KEY`):
//! a picture holds one frame per spatial layer, in order, and the unit of
//! decision is that layer frame (one timestamp and SID, from B to E). Layer
//! frames above the spatial level are dropped, and the last packet of the
//! frame at the level gets the marker bit: the picture ends there for this
//! subscriber (or where the publisher's picture ends, when it has no frame
//! of that layer). Both levels move at the first packet of a picture: the
//! spatial level down at the next picture, up only at a keyframe (in
//! `L3T3_KEY` the upper layers refer to the lower ones only there).
//!
//! AV1 SVC (packets with a dependency descriptor, [`crate::dd_stream`]):
//! the same units, but a layer frame passes when the decode target the
//! subscriber is given needs it (its indication for the target is not
//! "not present") and no frame it refers to was dropped here. The decode
//! target moves (up or down) only at a frame that is a switch point for the
//! new one and whose references passed: a keyframe, or within a spatial
//! layer the next frame the encoder marked so. In `L3T3_KEY` a subscriber
//! of the top layer does not get the lower layers' delta frames, so going
//! down a spatial layer waits for a keyframe too.
//!
//! Fixed-size state; nothing here allocates.

use crate::codec::{Spatial, Temporal};
use crate::dd_stream::{DdFrame, DecodeTarget};
use crate::dependency_descriptor::Dti;
use crate::forwarder::Incoming;
use crate::layers::TOP_TEMPORAL;

/// Frames remembered for late packets: about half a second at 30 fps (a
/// sixth of that for three spatial layers).
pub const FRAMES: usize = 16;

/// The highest spatial layer index (SVC streams).
const TOP_SPATIAL: u8 = 2;

/// How a passing packet is written.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Pass {
    pub shift: Shift,
    /// The RTP marker bit to send: the packet's own, or for SVC, whether it
    /// ends the highest spatial layer frame passing in its picture (or the
    /// publisher's picture, when that has no frame of the higher layers).
    pub marker: bool,
}

/// How far a passing packet's numbers are pulled back.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Shift {
    /// Sequence numbers dropped before it.
    pub seq: u64,
    /// Pictures dropped before it (modulo 2^16; picture ids wrap at 2^15).
    pub pictures: u16,
}

#[derive(Debug, Clone, Copy, Default)]
struct Frame {
    timestamp: u32,
    /// SID, for a layer frame of an SVC picture (0 otherwise).
    sid: u8,
    /// The first of its packets that arrived.
    first_seq: u64,
    pass: bool,
    /// The levels when it was decided.
    level: u8,
    spatial_level: u8,
    /// The shift of its packets.
    shift: Shift,
    /// The packets missing just before it were counted as dropped.
    gap_counted: bool,
    /// Its dependency descriptor frame number (AV1 SVC).
    number: Option<u64>,
}

#[derive(Debug, Clone)]
pub struct TemporalFilter {
    target: u8,
    level: u8,
    spatial_target: u8,
    spatial_level: u8,
    shift: Shift,
    /// The highest sequence number seen since the restart.
    highest: Option<u64>,
    /// The packet at `highest` ended its frame (marker, or E for SVC).
    ended: bool,
    frames: [Frame; FRAMES],
    /// Frames decided since the restart (the ring holds the last `FRAMES`).
    decided: usize,
    /// AV1 SVC: the decode target forwarded, the structure it belongs to,
    /// and whether its spatial layer is the one the target asks for.
    dd_current: Option<DecodeTarget>,
    dd_structure: u32,
    dd_settled: bool,
}

impl Default for TemporalFilter {
    fn default() -> Self {
        TemporalFilter::new(TOP_TEMPORAL)
    }
}

impl TemporalFilter {
    pub fn new(target: u8) -> Self {
        TemporalFilter {
            target,
            level: target,
            spatial_target: TOP_SPATIAL,
            spatial_level: TOP_SPATIAL,
            shift: Shift::default(),
            highest: None,
            ended: false,
            frames: [Frame::default(); FRAMES],
            decided: 0,
            dd_current: None,
            dd_structure: 0,
            dd_settled: true,
        }
    }

    /// The highest temporal layer to pass: lower at the next frame, higher
    /// at the next sync point or keyframe.
    pub fn set_target(&mut self, target: u8) {
        self.target = target;
    }

    pub fn target(&self) -> u8 {
        self.target
    }

    /// The highest temporal layer passing now.
    pub fn level(&self) -> u8 {
        self.level
    }

    /// The highest spatial layer of an SVC stream to pass: lower at the next
    /// picture, higher at the next keyframe.
    pub fn set_spatial_target(&mut self, target: u8) {
        self.spatial_target = target;
    }

    /// The highest spatial layer of an SVC stream passing now.
    pub fn spatial_level(&self) -> u8 {
        self.spatial_level
    }

    /// AV1 SVC: the decode target forwarded has the spatial layer asked
    /// for (or the nearest the publisher sends), so no keyframe is needed.
    pub fn dd_settled(&self) -> bool {
        self.dd_settled
    }

    /// A new simulcast layer (or an SVC stream) starts, at its keyframe: its
    /// numbering is new.
    pub fn restart(&mut self) {
        let spatial = self.spatial_target;
        *self = TemporalFilter::new(self.target);
        self.spatial_target = spatial;
        self.spatial_level = spatial;
    }

    /// `Some` to forward the packet with its numbers pulled back and this
    /// marker bit, `None` to drop it. Packets without a temporal layer pass.
    pub fn filter(&mut self, p: &Incoming) -> Option<Pass> {
        let Some(t) = p.temporal else {
            return Some(Pass {
                shift: self.shift,
                marker: p.marker,
            });
        };
        if self.highest.is_some_and(|h| p.seq <= h) {
            return self.late(p, t);
        }
        let sid = p.spatial.map_or(0, |s| s.sid);
        let gap = self.highest.map_or(0, |h| p.seq - h - 1);
        self.highest = Some(p.seq);
        let ends = p.spatial.map_or(p.marker, |s| s.ends_layer_frame);
        let ended = std::mem::replace(&mut self.ended, ends);
        let newest = self.newest();
        if let Some(f) = newest.filter(|f| f.timestamp == p.timestamp && f.sid == sid) {
            if f.pass {
                return Some(self.pass(p, &f));
            }
            self.shift.seq += gap + 1;
            return None;
        }
        // A new frame (or layer frame). Packets missing before it count as
        // dropped when they can only be the lost tail of the dropped frame
        // before, or the lost head of this one if it is dropped: for SVC,
        // when no whole layer frame can hide between the two.
        let new_picture = newest.is_none_or(|f| f.timestamp != p.timestamp);
        let adjacent = match (p.spatial, newest) {
            (None, _) | (_, None) => true,
            (Some(_), Some(f)) => {
                if new_picture {
                    sid == 0
                } else {
                    sid == f.sid + 1
                }
            }
        };
        let tail =
            gap > 0 && !ended && p.starts_frame && adjacent && newest.is_some_and(|f| !f.pass);
        if new_picture {
            self.level = self.next_level(t, p.starts_keyframe);
            if p.starts_keyframe || self.spatial_level > self.spatial_target {
                self.spatial_level = self.spatial_target;
            }
        }
        let pass = match &p.dd {
            Some(dd) => self.decide_dd(dd),
            None => t.tid <= self.level && sid <= self.spatial_level,
        };
        let head = gap > 0
            && ended
            && !p.starts_frame
            && !pass
            && adjacent
            && (p.spatial.is_none() || !new_picture);
        if tail {
            self.shift.seq += gap;
        }
        let frame = Frame {
            timestamp: p.timestamp,
            sid,
            first_seq: p.seq,
            pass,
            level: self.level,
            spatial_level: self.spatial_level,
            shift: self.shift,
            gap_counted: tail || head,
            number: p.dd.map(|d| d.number),
        };
        self.record(frame);
        if pass {
            return Some(self.pass(p, &frame));
        }
        if head {
            self.shift.seq += gap;
        }
        self.shift.seq += 1;
        self.shift.pictures = self.shift.pictures.wrapping_add(1);
        None
    }

    /// A passing packet of `frame`: its shift, and its marker bit.
    fn pass(&self, p: &Incoming, frame: &Frame) -> Pass {
        let marker = match p.spatial {
            None => p.marker,
            Some(Spatial {
                sid,
                ends_layer_frame,
            }) => (ends_layer_frame && sid == frame.spatial_level) || p.marker,
        };
        Pass {
            shift: frame.shift,
            marker,
        }
    }

    /// AV1 SVC: whether a new layer frame passes, the decode target moved
    /// first if this frame allows it. The levels follow the target's layers.
    fn decide_dd(&mut self, dd: &DdFrame) -> bool {
        if dd.structure != self.dd_structure {
            // Decode target indices of an older structure mean nothing now.
            self.dd_structure = dd.structure;
            self.dd_current = None;
        }
        let want = dd.target(self.spatial_target, self.target);
        if let Some(w) = want {
            if self.dd_current != Some(w)
                && dd.dti(w.index) == Dti::Switch
                && self.references_passed(dd)
            {
                self.dd_current = Some(w);
            }
        }
        self.dd_settled = match (want, self.dd_current) {
            (None, _) => true,
            (Some(w), Some(c)) => w.spatial == c.spatial,
            (Some(_), None) => false,
        };
        let Some(current) = self.dd_current else {
            return false;
        };
        self.level = current.temporal;
        self.spatial_level = current.spatial;
        dd.dti(current.index) != Dti::NotPresent && self.references_passed(dd)
    }

    /// No frame `dd` refers to was dropped here (one not remembered, lost
    /// before the SFU or too old, is taken as passed: the receiver repairs
    /// or skips it).
    fn references_passed(&self, dd: &DdFrame) -> bool {
        dd.references().all(|r| {
            self.remembered()
                .find(|f| f.number == Some(r))
                .is_none_or(|f| f.pass)
        })
    }

    fn next_level(&self, t: Temporal, keyframe: bool) -> u8 {
        if keyframe || self.level > self.target {
            return self.target;
        }
        let climbs = t.tid > self.level && t.tid <= self.target && t.layer_sync;
        if climbs {
            t.tid
        } else {
            self.level
        }
    }

    /// A packet older than the newest: placed with its own frame's shift, or
    /// before the next frame seen when its own frame was never seen.
    fn late(&self, p: &Incoming, t: Temporal) -> Option<Pass> {
        let sid = p.spatial.map_or(0, |s| s.sid);
        let mut next: Option<Frame> = None;
        let mut before: Option<Frame> = None;
        for f in self.remembered() {
            if f.timestamp == p.timestamp && f.sid == sid {
                return f.pass.then(|| self.pass(p, &f));
            }
            if f.first_seq > p.seq {
                next = Some(f);
            } else if before.is_none() {
                before = Some(f);
            }
        }
        // Between two frames seen: its slot is there unless the packets
        // missing before the next frame were counted as dropped.
        let (next, before) = (next?, before?);
        let level = next.level.min(before.level);
        let spatial_level = next.spatial_level.min(before.spatial_level);
        let passes = !next.gap_counted
            && match &p.dd {
                Some(dd) => self
                    .dd_current
                    .is_some_and(|c| dd.dti(c.index) != Dti::NotPresent),
                None => t.tid <= level && sid <= spatial_level,
            };
        passes.then(|| {
            let mut frame = next;
            frame.spatial_level = spatial_level;
            self.pass(p, &frame)
        })
    }

    fn newest(&self) -> Option<Frame> {
        self.remembered().next()
    }

    /// The frames remembered, newest first.
    fn remembered(&self) -> impl Iterator<Item = Frame> + '_ {
        let n = self.decided.min(FRAMES);
        (1..=n).map(move |back| self.frames[(self.decided - back) % FRAMES])
    }

    fn record(&mut self, f: Frame) {
        self.frames[self.decided % FRAMES] = f;
        self.decided += 1;
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::forwarder::{Forwarder, Rewrite};
    use std::time::{Duration, Instant};

    /// Chromium's L1T3 (libwebrtc's default 3-layer pattern): TIDs
    /// 0,2,1,2 twice, and layer sync on the first TL2 and TL1 of the eight.
    const TIDS: [u8; 8] = [0, 2, 1, 2, 0, 2, 1, 2];
    const SYNC: [bool; 8] = [false, true, true, false, false, false, false, false];

    /// A publisher's L1T3 stream, `packets` packets a frame.
    struct Stream {
        t0: Instant,
        frame: u64,
        seq: u64,
        packets: usize,
        tl0: u8,
    }

    impl Stream {
        fn new(packets: usize) -> Self {
            Stream {
                t0: Instant::now(),
                frame: 0,
                seq: 1000,
                packets,
                tl0: 200,
            }
        }
        fn next_frame(&mut self) -> Vec<Incoming> {
            let i = (self.frame % 8) as usize;
            if TIDS[i] == 0 && self.frame > 0 {
                self.tl0 = self.tl0.wrapping_add(1);
            }
            let out = (0..self.packets)
                .map(|k| Incoming {
                    layer: 0,
                    seq: self.seq + k as u64,
                    timestamp: 90_000 + self.frame as u32 * 3000,
                    arrival: self.t0 + Duration::from_millis(self.frame * 33),
                    starts_keyframe: self.frame == 0 && k == 0,
                    clock_rate: 90_000,
                    picture_id: Some((32_700 + self.frame as u16) % 32_768),
                    tl0_pic_idx: Some(self.tl0),
                    temporal: Some(Temporal {
                        tid: TIDS[i],
                        layer_sync: SYNC[i],
                    }),
                    starts_frame: k == 0,
                    marker: k + 1 == self.packets,
                    spatial: None,
                    dd: None,
                })
                .collect();
            self.frame += 1;
            self.seq += self.packets as u64;
            out
        }
    }

    fn forward(f: &mut Forwarder, packets: &[Incoming]) -> Vec<(Incoming, Rewrite)> {
        packets
            .iter()
            .filter_map(|p| f.forward(p).map(|r| (*p, r)))
            .collect()
    }

    /// No sequence gap, picture ids step by one per frame, TL0PICIDX by one
    /// per base-layer frame, and every frame complete (first to marker).
    fn assert_clean(out: &[(Incoming, Rewrite)]) {
        for w in out.windows(2) {
            let ((a, ra), (b, rb)) = (w[0], w[1]);
            assert_eq!(rb.seq, ra.seq + 1, "sequence gap: {ra:?} {rb:?}");
            let (pa, pb) = (ra.picture_id.unwrap(), rb.picture_id.unwrap());
            if a.timestamp == b.timestamp {
                assert_eq!(pa, pb);
            } else {
                assert!(a.marker && b.starts_frame, "a frame cut short: {a:?} {b:?}");
                assert_eq!(pb, (pa + 1) % 32_768, "picture id jump");
                let (ta, tb) = (ra.tl0_pic_idx.unwrap(), rb.tl0_pic_idx.unwrap());
                let base = b.temporal.unwrap().tid == 0;
                assert_eq!(tb, ta.wrapping_add(base as u8), "TL0PICIDX");
            }
        }
    }

    fn frames_of(out: &[(Incoming, Rewrite)]) -> Vec<u8> {
        out.iter()
            .filter(|(p, _)| p.starts_frame)
            .map(|(p, _)| p.temporal.unwrap().tid)
            .collect()
    }

    #[test]
    fn the_base_layer_alone_is_a_quarter_of_the_frames_without_gaps() {
        let mut f = Forwarder::new(Some(0));
        f.set_temporal_target(0);
        let mut s = Stream::new(3);
        let out: Vec<_> = (0..64)
            .flat_map(|_| forward(&mut f, &s.next_frame()))
            .collect();
        assert_eq!(frames_of(&out), vec![0; 16], "16 of 64 frames");
        assert_eq!(out.len(), 16 * 3);
        assert_clean(&out);
        assert_eq!(f.current_layers().unwrap().temporal, 0);
    }

    #[test]
    fn two_layers_are_half_the_frames_and_all_three_are_everything() {
        for (target, frames) in [(1u8, 32usize), (2, 64)] {
            let mut f = Forwarder::new(Some(0));
            f.set_temporal_target(target);
            let mut s = Stream::new(2);
            let out: Vec<_> = (0..64)
                .flat_map(|_| forward(&mut f, &s.next_frame()))
                .collect();
            assert_eq!(frames_of(&out).len(), frames, "target {target}");
            assert!(frames_of(&out).iter().all(|&t| t <= target));
            assert_clean(&out);
        }
    }

    fn run(f: &mut Forwarder, s: &mut Stream, frames: usize) -> Vec<(Incoming, Rewrite)> {
        (0..frames)
            .flat_map(|_| forward(f, &s.next_frame()))
            .collect()
    }

    #[test]
    fn moving_up_waits_for_a_layer_sync_frame_and_down_is_at_the_next_frame() {
        let mut f = Forwarder::new(Some(0));
        f.set_temporal_target(0);
        let mut s = Stream::new(2);
        let mut out = run(&mut f, &mut s, 14); // frames 0 to 13
        f.set_temporal_target(2);
        // Frames 14 (TL1) and 15 (TL2) are no sync points, 16 is a TL0.
        out.extend(run(&mut f, &mut s, 3));
        assert_eq!(f.current_layers().unwrap().temporal, 0, "no sync yet");
        let sync = run(&mut f, &mut s, 1); // frame 17: TL2 with Y
        assert_eq!(sync.len(), 2, "the TL2 sync frame passes");
        assert_eq!(f.current_layers().unwrap().temporal, 2);
        out.extend(sync);
        out.extend(run(&mut f, &mut s, 5)); // frames 18 to 22
                                            // Down in the middle of frame 23 (TL2): it completes; 24 (TL0)
                                            // passes, 25 (TL2) does not.
        let frame = s.next_frame();
        out.extend(forward(&mut f, &frame[..1]));
        f.set_temporal_target(0);
        out.extend(forward(&mut f, &frame[1..]));
        assert_eq!(
            out.last().unwrap().0.seq,
            frame[1].seq,
            "frame 23 completes"
        );
        out.extend(run(&mut f, &mut s, 1));
        assert!(run(&mut f, &mut s, 1).is_empty(), "TL2 dropped");
        assert_eq!(f.current_layers().unwrap().temporal, 0);
        out.extend(run(&mut f, &mut s, 8)); // frames 26 to 33
        assert_eq!(
            frames_of(&out),
            [0, 0, 0, 0, 0, 2, 1, 2, 0, 2, 1, 2, 0, 0, 0],
            "frames 0, 4, 8, 12, 16, then 17 to 24, then 28 and 32"
        );
        assert_clean(&out);
    }

    #[test]
    fn a_keyframe_lets_every_layer_in_at_once() {
        let mut f = Forwarder::new(Some(0));
        f.set_temporal_target(0);
        let mut s = Stream::new(1);
        let mut out = run(&mut f, &mut s, 19); // frames 0 to 18
        f.set_temporal_target(2);
        // 19 (TL2), 21 (TL2) and 22 (TL1) are no sync points; 20 is a TL0.
        assert!(run(&mut f, &mut s, 1).is_empty());
        let base = run(&mut f, &mut s, 1);
        assert_eq!(base.len(), 1);
        out.extend(base);
        assert!(run(&mut f, &mut s, 2).is_empty());
        assert_eq!(f.current_layers().unwrap().temporal, 0);
        let mut key = s.next_frame(); // frame 23, made a keyframe
        key[0].starts_keyframe = true;
        key[0].temporal = Some(Temporal {
            tid: 0,
            layer_sync: false,
        });
        out.extend(forward(&mut f, &key));
        assert_eq!(f.current_layers().unwrap().temporal, 2);
        out.extend(run(&mut f, &mut s, 2)); // frames 24 (TL0) and 25 (TL2)
        assert_eq!(frames_of(&out).len(), 5 + 1 + 1 + 2);
        for w in out.windows(2) {
            assert_eq!(w[1].1.seq, w[0].1.seq + 1);
        }
    }

    #[test]
    fn losses_inside_dropped_frames_leave_no_hole_and_late_packets_fill_theirs() {
        let mut f = Forwarder::new(Some(0));
        f.set_temporal_target(1);
        let mut s = Stream::new(3);
        let mut out: Vec<_> = (0..8)
            .flat_map(|_| forward(&mut f, &s.next_frame()))
            .collect();
        // Frame 8 (TL0) passes with its middle packet late; frame 9 (TL2,
        // dropped) loses its middle packet; frame 10 (TL1) loses its first
        // packet and gets it back late; frame 11 (TL2) loses its last packet.
        let f8 = s.next_frame();
        let f9 = s.next_frame();
        let f10 = s.next_frame();
        let f11 = s.next_frame();
        let f12 = s.next_frame();
        for p in [f8[0], f8[2], f8[1], f9[0], f9[2], f10[1], f10[2], f10[0]] {
            out.extend(forward(&mut f, &[p]));
        }
        for p in [f11[0], f11[1], f12[0], f12[1], f12[2]] {
            out.extend(forward(&mut f, &[p]));
        }
        // The lost packets arrive at last: dropped, as their frames were.
        assert!(forward(&mut f, &[f9[1], f11[2]]).is_empty());
        out.sort_by_key(|(_, r)| r.seq);
        assert_eq!(frames_of(&out), [0, 1, 0, 1, 0, 1, 0]);
        assert_clean(&out);
    }

    #[test]
    fn a_whole_frame_lost_then_retransmitted_takes_its_own_slot() {
        let mut f = Forwarder::new(Some(0));
        f.set_temporal_target(0);
        let mut s = Stream::new(1);
        let mut out = run(&mut f, &mut s, 8);
        let frames: Vec<Vec<Incoming>> = (8..17).map(|_| s.next_frame()).collect();
        // Frame 12 (TL0, one packet) is lost; the others arrive, then it does.
        for (i, fr) in frames.iter().enumerate() {
            if i != 4 {
                out.extend(forward(&mut f, fr));
            }
        }
        let late = forward(&mut f, &frames[4]);
        assert_eq!(late.len(), 1, "the retransmitted base-layer frame passes");
        out.extend(late);
        out.sort_by_key(|(_, r)| r.seq);
        assert_eq!(frames_of(&out), [0; 5], "frames 0, 4, 8, 12, 16");
        assert_clean(&out);
    }

    #[test]
    fn a_whole_dropped_frame_lost_before_the_sfu_leaves_its_hole() {
        // What cannot be known: frame 17 (TL2) never arrives before 18, so
        // its slot is kept as for any loss, and it is dropped when it comes.
        let mut f = Forwarder::new(Some(0));
        f.set_temporal_target(0);
        let mut s = Stream::new(1);
        let mut out = run(&mut f, &mut s, 17);
        let lost = s.next_frame();
        out.extend(run(&mut f, &mut s, 3));
        assert!(forward(&mut f, &lost).is_empty());
        let seqs: Vec<u64> = out.iter().map(|(_, r)| r.seq).collect();
        let holes: u64 = seqs.windows(2).map(|w| w[1] - w[0] - 1).sum();
        assert_eq!(holes, 1);
        assert_eq!(frames_of(&out).len(), 6);
    }

    #[test]
    fn streams_without_temporal_layers_pass_whole_whatever_the_target() {
        let mut f = Forwarder::new(Some(0));
        f.set_temporal_target(0);
        let mut s = Stream::new(2);
        let mut out = Vec::new();
        for _ in 0..8 {
            let mut frame = s.next_frame();
            for p in &mut frame {
                p.temporal = None;
            }
            out.extend(forward(&mut f, &frame));
        }
        assert_eq!(out.len(), 16);
        for w in out.windows(2) {
            assert_eq!(w[1].1.seq, w[0].1.seq + 1);
        }
    }
}
