//! One subscriber's view of one track: which layer passes, and how each
//! forwarded packet is rewritten so that the subscriber sees one continuous
//! stream across layer switches and pauses.
//!
//! Sequence numbers continue without gaps or repeats (real loss aside),
//! timestamps keep increasing, and VP8 picture ids and TL0PICIDX continue.
//! A switch happens only at a keyframe of the target layer; until one comes
//! the current layer keeps flowing. Within the layer, the temporal filter
//! ([`crate::temporal_filter`]) drops the frames above the temporal target and
//! says how far to pull the numbering back so that no gap shows.
//!
//! An SVC stream (VP9 with spatial layers in one SSRC) has no simulcast
//! layers to switch between: the target names the highest spatial layer to
//! pass, the filter drops the layer frames above it and moves the marker
//! bit to the end of that layer in each picture. Pure state, no I/O, no
//! allocation.

use std::time::Instant;

use crate::codec::{Spatial, Temporal};
use crate::dd_stream::DdFrame;
use crate::layers::Layers;
use crate::temporal_filter::{Pass, TemporalFilter};

/// What the forwarder needs to know about an incoming packet.
#[derive(Debug, Clone, Copy)]
pub struct Incoming {
    /// Simulcast layer index (0 without simulcast).
    pub layer: u8,
    /// Extended sequence number of the publisher's stream for this layer.
    pub seq: u64,
    pub timestamp: u32,
    pub arrival: Instant,
    pub starts_keyframe: bool,
    /// Clock rate of the codec, to turn elapsed time into timestamp units.
    pub clock_rate: u32,
    /// VP8 picture id (15 or 7 bits) and TL0PICIDX, when present.
    pub picture_id: Option<u16>,
    pub tl0_pic_idx: Option<u8>,
    /// The temporal layer, when the stream has temporal layers.
    pub temporal: Option<Temporal>,
    /// The first packet of a frame (VP8: S=1, partition 0).
    pub starts_frame: bool,
    /// The RTP marker bit: the last packet of a frame.
    pub marker: bool,
    /// The packet's spatial layer, in an SVC stream.
    pub spatial: Option<Spatial>,
    /// The packet's dependency descriptor (AV1 SVC): with it, which frames
    /// pass is decided by decode target rather than by layer numbers.
    pub dd: Option<DdFrame>,
}

/// How to write a packet that passes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Rewrite {
    pub seq: u64,
    pub timestamp: u32,
    pub picture_id: Option<u16>,
    pub tl0_pic_idx: Option<u8>,
    /// The RTP marker bit to send.
    pub marker: bool,
    /// This packet is the first of a newly selected layer.
    pub switched: bool,
}

/// The output position after the last forwarded packet.
#[derive(Debug, Clone, Copy)]
struct Last {
    seq: u64,
    timestamp: u32,
    arrival: Instant,
    picture_id: Option<u16>,
    tl0_pic_idx: Option<u8>,
}

/// Offsets from the current layer's numbering to the output's.
#[derive(Debug, Clone, Copy, Default)]
struct Offsets {
    seq: u64,
    timestamp: u32,
    picture_id: u16,
    tl0_pic_idx: u8,
    /// Packets of the current layer older than this were never forwarded.
    first_seq: u64,
}

const PICTURE_ID_MOD: u16 = 1 << 15;
/// The first output sequence number stays below 2^15 so that the SRTP
/// rollover counter starts at 0 for the receiver.
const FIRST_SEQ_MASK: u64 = 0x3fff;

#[derive(Debug, Default)]
pub struct Forwarder {
    target: Option<u8>,
    current: Option<u8>,
    last: Option<Last>,
    offsets: Offsets,
    temporal: TemporalFilter,
    /// The stream is SVC: `target` and `current` name spatial layers
    /// within it.
    svc: bool,
    /// Its frames carry dependency descriptors (AV1 SVC).
    dd: bool,
}

impl Forwarder {
    pub fn new(target: Option<u8>) -> Self {
        Forwarder {
            target,
            ..Default::default()
        }
    }

    /// The layer to move to. `None` pauses at once; another layer is taken at
    /// its next keyframe while the current one keeps flowing.
    pub fn set_target(&mut self, target: Option<u8>) {
        self.target = target;
        if target.is_none() {
            self.current = None;
        }
    }

    pub fn target(&self) -> Option<u8> {
        self.target
    }

    /// The highest temporal layer to forward (streams without temporal
    /// layers pass whole): lower at the next frame, higher at the next layer
    /// sync point or keyframe.
    pub fn set_temporal_target(&mut self, temporal: u8) {
        self.temporal.set_target(temporal);
    }

    /// The spatial layer forwarded now and the temporal layers passing.
    pub fn current_layers(&self) -> Option<Layers> {
        self.current.map(|spatial| Layers {
            spatial,
            temporal: self.temporal.level(),
        })
    }

    /// The layer being forwarded now.
    pub fn current(&self) -> Option<u8> {
        self.current
    }

    /// When the last forwarded packet reached the SFU.
    pub fn last_arrival(&self) -> Option<Instant> {
        self.last.map(|l| l.arrival)
    }

    /// The layer whose keyframe this forwarder waits for, if any. A VP9
    /// SVC stream goes down a spatial layer without one (the lower layers
    /// flow with the upper ones); an AV1 one with descriptors asks for one
    /// either way (in `L3T3_KEY` a subscriber of the top layer does not
    /// receive the lower layers' delta frames).
    pub fn awaiting_keyframe(&self) -> Option<u8> {
        match (self.target, self.current) {
            (Some(t), Some(_)) if self.dd => (!self.temporal.dd_settled()).then_some(t),
            (Some(t), Some(c)) if self.svc && t < c => None,
            (Some(t), c) if c != Some(t) => Some(t),
            _ => None,
        }
    }

    /// Decide on one packet: `Some` to forward it rewritten, `None` to drop it.
    pub fn forward(&mut self, p: &Incoming) -> Option<Rewrite> {
        if p.spatial.is_some() {
            return self.forward_svc(p);
        }
        let starting = self.current != Some(p.layer);
        if starting && self.target != Some(p.layer) {
            return None;
        }
        let switched = self.enter(p, starting)?;
        let pass = self.temporal.filter(p)?;
        Some(self.rewrite(p, pass, switched))
    }

    /// With `starting`, begin forwarding at `p` if it starts a keyframe;
    /// otherwise refuse packets from before the current start. `Some(true)`
    /// when forwarding began here, `None` to drop `p`.
    fn enter(&mut self, p: &Incoming, starting: bool) -> Option<bool> {
        if starting {
            if !p.starts_keyframe {
                return None;
            }
            self.switch_to(p);
            self.temporal.restart();
            return Some(true);
        }
        (p.seq >= self.offsets.first_seq).then_some(false)
    }

    /// A packet of an SVC stream: it starts at a keyframe, then the filter
    /// takes the spatial layers.
    fn forward_svc(&mut self, p: &Incoming) -> Option<Rewrite> {
        self.svc = true;
        self.dd = p.dd.is_some();
        let target = self.target?;
        self.temporal.set_spatial_target(target);
        let mut switched = self.enter(p, self.current.is_none())?;
        let pass = self.temporal.filter(p)?;
        let level = Some(self.temporal.spatial_level());
        if self.current != level {
            self.current = level;
            switched = true;
        }
        Some(self.rewrite(p, pass, switched))
    }

    fn rewrite(&mut self, p: &Incoming, pass: Pass, switched: bool) -> Rewrite {
        let shift = pass.shift;
        let o = self.offsets;
        let out = Rewrite {
            seq: p.seq.wrapping_add(o.seq).wrapping_sub(shift.seq),
            timestamp: p.timestamp.wrapping_add(o.timestamp),
            picture_id: p.picture_id.map(|id| {
                id.wrapping_add(o.picture_id).wrapping_sub(shift.pictures) % PICTURE_ID_MOD
            }),
            tl0_pic_idx: p.tl0_pic_idx.map(|i| i.wrapping_add(o.tl0_pic_idx)),
            marker: pass.marker,
            switched,
        };
        self.remember(p, &out);
        out
    }

    fn switch_to(&mut self, p: &Incoming) {
        self.current = Some(p.layer);
        let Some(last) = self.last else {
            // First packet ever: keep the publisher's numbering, but start
            // the sequence low.
            self.offsets = Offsets {
                seq: (p.seq & FIRST_SEQ_MASK).wrapping_add(1).wrapping_sub(p.seq),
                first_seq: p.seq,
                ..Default::default()
            };
            return;
        };
        let elapsed = p.arrival.saturating_duration_since(last.arrival);
        let ticks = (elapsed.as_micros() as u64 * u64::from(p.clock_rate) / 1_000_000).max(1);
        let timestamp = last.timestamp.wrapping_add(ticks as u32);
        let picture_id = match (last.picture_id, p.picture_id) {
            (Some(l), Some(i)) => (l + 1) % PICTURE_ID_MOD + PICTURE_ID_MOD - i,
            _ => 0,
        };
        let tl0_pic_idx = match (last.tl0_pic_idx, p.tl0_pic_idx) {
            (Some(l), Some(i)) => l.wrapping_add(1).wrapping_sub(i),
            _ => 0,
        };
        self.offsets = Offsets {
            seq: (last.seq + 1).wrapping_sub(p.seq),
            timestamp: timestamp.wrapping_sub(p.timestamp),
            picture_id: picture_id % PICTURE_ID_MOD,
            tl0_pic_idx,
            first_seq: p.seq,
        };
    }

    fn remember(&mut self, p: &Incoming, out: &Rewrite) {
        let newer = self.last.is_none_or(|l| out.seq > l.seq);
        if newer {
            self.last = Some(Last {
                seq: out.seq,
                timestamp: out.timestamp,
                arrival: p.arrival,
                picture_id: out.picture_id.or(self.last.and_then(|l| l.picture_id)),
                tl0_pic_idx: out.tl0_pic_idx.or(self.last.and_then(|l| l.tl0_pic_idx)),
            });
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    /// A publisher layer: its own sequence, timestamp and picture id spaces.
    struct Layer {
        index: u8,
        seq: u64,
        ts: u32,
        pid: u16,
        tl0: u8,
    }

    impl Layer {
        fn new(index: u8, seq: u64, ts: u32, pid: u16) -> Self {
            Layer {
                index,
                seq,
                ts,
                pid,
                tl0: (pid % 256) as u8,
            }
        }
        /// One frame of `packets` packets, arriving at `at`.
        fn frame(&mut self, at: Instant, packets: usize, key: bool) -> Vec<Incoming> {
            let out = (0..packets)
                .map(|i| Incoming {
                    layer: self.index,
                    seq: self.seq + i as u64,
                    timestamp: self.ts,
                    arrival: at,
                    starts_keyframe: key && i == 0,
                    clock_rate: 90_000,
                    picture_id: Some(self.pid),
                    tl0_pic_idx: Some(self.tl0),
                    temporal: None,
                    starts_frame: i == 0,
                    marker: i + 1 == packets,
                    spatial: None,
                    dd: None,
                })
                .collect();
            self.seq += packets as u64;
            self.ts = self.ts.wrapping_add(3000);
            self.pid = (self.pid + 1) % PICTURE_ID_MOD;
            self.tl0 = self.tl0.wrapping_add(1);
            out
        }
    }

    fn run(f: &mut Forwarder, packets: &[Incoming]) -> Vec<Rewrite> {
        packets.iter().filter_map(|p| f.forward(p)).collect()
    }

    fn assert_continuous(out: &[Rewrite]) {
        for w in out.windows(2) {
            assert_eq!(w[1].seq, w[0].seq + 1, "sequence gap or repeat: {w:?}");
            assert!(
                w[1].timestamp.wrapping_sub(w[0].timestamp) < 1 << 31,
                "timestamp went back: {w:?}"
            );
            let (a, b) = (w[0].picture_id.unwrap(), w[1].picture_id.unwrap());
            assert!(
                b == a || b == (a + 1) % PICTURE_ID_MOD,
                "picture id jump: {w:?}"
            );
        }
    }

    #[test]
    fn waits_for_a_keyframe_then_forwards_with_a_low_first_sequence() {
        let t0 = Instant::now();
        let mut f = Forwarder::new(Some(0));
        let mut l = Layer::new(0, 70_000, 1000, 500);
        assert!(run(&mut f, &l.frame(t0, 3, false)).is_empty());
        assert_eq!(f.awaiting_keyframe(), Some(0));
        let out = run(&mut f, &l.frame(t0, 3, true));
        assert_eq!(out.len(), 3);
        assert!(out[0].switched && out[0].seq < 1 << 15);
        assert_eq!(f.awaiting_keyframe(), None);
        assert_continuous(&out);
    }

    #[test]
    fn switches_layers_only_at_a_keyframe_and_stays_continuous() {
        let t0 = Instant::now();
        let ms = Duration::from_millis;
        let mut f = Forwarder::new(Some(0));
        let mut low = Layer::new(0, 100, 10_000, 10);
        let mut high = Layer::new(2, 60_000, 4_000_000_000, 30_000);
        let mut out = run(&mut f, &low.frame(t0, 2, true));
        out.extend(run(&mut f, &low.frame(t0 + ms(33), 2, false)));
        f.set_target(Some(2));
        // High-layer delta frames do not switch; low keeps flowing.
        out.extend(run(&mut f, &high.frame(t0 + ms(40), 4, false)));
        out.extend(run(&mut f, &low.frame(t0 + ms(66), 2, false)));
        assert_eq!(f.current(), Some(0));
        // High keyframe: switch; low stops.
        let key = run(&mut f, &high.frame(t0 + ms(100), 4, true));
        assert!(key[0].switched);
        out.extend(key);
        assert!(run(&mut f, &low.frame(t0 + ms(100), 2, false)).is_empty());
        out.extend(run(&mut f, &high.frame(t0 + ms(133), 4, false)));
        // And back down.
        f.set_target(Some(0));
        out.extend(run(&mut f, &high.frame(t0 + ms(166), 4, false)));
        out.extend(run(&mut f, &low.frame(t0 + ms(200), 2, true)));
        assert_eq!(f.current(), Some(0));
        assert_eq!(out.len(), 2 + 2 + 2 + 4 + 4 + 4 + 2);
        assert_continuous(&out);
        // The timestamp advanced across the switch by the elapsed time.
        let switch = out
            .iter()
            .position(|r| r.switched && r.seq > out[0].seq)
            .unwrap();
        let step = out[switch]
            .timestamp
            .wrapping_sub(out[switch - 1].timestamp);
        assert_eq!(
            step,
            34 * 90,
            "33..100 ms minus the 66 ms packet = 34 ms of 90 kHz"
        );
    }

    #[test]
    fn pause_and_resume_leave_no_gap() {
        let t0 = Instant::now();
        let mut f = Forwarder::new(Some(1));
        let mut l = Layer::new(1, 5, 0, 0);
        let mut out = run(&mut f, &l.frame(t0, 2, true));
        f.set_target(None);
        assert!(run(&mut f, &l.frame(t0, 2, true)).is_empty());
        assert_eq!(f.awaiting_keyframe(), None);
        f.set_target(Some(1));
        assert!(run(&mut f, &l.frame(t0, 2, false)).is_empty());
        out.extend(run(&mut f, &l.frame(t0 + Duration::from_secs(1), 2, true)));
        assert_eq!(out.len(), 4);
        assert_continuous(&out);
    }

    #[test]
    fn real_loss_stays_visible_and_late_packets_of_a_previous_layer_are_dropped() {
        let t0 = Instant::now();
        let mut f = Forwarder::new(Some(0));
        let mut l = Layer::new(0, 10, 0, 0);
        let frame = l.frame(t0, 4, true);
        let out = run(&mut f, &[frame[0], frame[1], frame[3]]);
        assert_eq!(out[2].seq - out[1].seq, 2, "a lost packet leaves its gap");
        // Reordered: the lost packet arrives late and fills the gap.
        let late = f.forward(&frame[2]).unwrap();
        assert_eq!(late.seq, out[1].seq + 1);
        // A packet from before the switch point is never forwarded.
        let mut before = frame[0];
        before.seq -= 1;
        before.starts_keyframe = false;
        assert!(f.forward(&before).is_none());
    }

    #[test]
    fn picture_ids_wrap_at_fifteen_bits() {
        let t0 = Instant::now();
        let mut f = Forwarder::new(Some(0));
        let mut a = Layer::new(0, 0, 0, PICTURE_ID_MOD - 2);
        let mut out = Vec::new();
        for i in 0..4 {
            out.extend(run(&mut f, &a.frame(t0, 1, i == 0)));
        }
        assert_continuous(&out);
        assert_eq!(out[2].picture_id, Some(0));
    }
}
