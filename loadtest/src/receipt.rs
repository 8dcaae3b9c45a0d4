//! What a subscriber received on one track: counters, SSRCs, per-layer
//! counts and a bounded log of the latest packets, with the checks tests make
//! (continuity, monotonic timestamps, layer, keyframes, latency).
//!
//! Recording a packet never allocates once the log is full: the log is a ring
//! of at most [`LOG_CAPACITY`] entries.

use std::collections::VecDeque;
use std::fmt;
use std::time::{Duration, Instant};

use crate::media::read_audio_tag;
use crate::tag::{unix_micros, AUDIO_LAYER};
use crate::vp8;

/// Packets kept in a receipt's log by default.
pub const LOG_CAPACITY: usize = 5_000;
/// No video packet for longer than this is a freeze.
pub const FREEZE_GAP: Duration = Duration::from_millis(500);

/// One received RTP packet.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PacketRecord {
    pub at: Instant,
    /// Extended sequence number.
    pub seq: u64,
    pub timestamp: u32,
    pub marker: bool,
    pub ssrc: u32,
    /// The layer the tag names (255 for audio); `None` for untagged payloads.
    pub layer: Option<u8>,
    /// The frame number the tag names.
    pub frame: Option<u32>,
    /// The first packet of a VP8 keyframe.
    pub keyframe: bool,
    pub picture_id: Option<u16>,
    pub tl0_pic_idx: Option<u8>,
    /// From the tag's send time to arrival, by the wall clock.
    pub latency: Option<Duration>,
    pub bytes: usize,
}

impl PacketRecord {
    /// Read what a payload carries (tagged audio, or VP8) into a record.
    pub fn from_payload(
        at: Instant,
        now_us: u64,
        seq: u64,
        timestamp: u32,
        marker: bool,
        ssrc: u32,
        payload: &[u8],
    ) -> PacketRecord {
        let mut r = PacketRecord {
            at,
            seq,
            timestamp,
            marker,
            ssrc,
            layer: None,
            frame: None,
            keyframe: false,
            picture_id: None,
            tl0_pic_idx: None,
            latency: None,
            bytes: payload.len(),
        };
        let tag = if let Some(tag) = read_audio_tag(payload) {
            Some(tag)
        } else if let Some(info) = vp8::read(payload) {
            r.keyframe = info.keyframe;
            r.picture_id = info.picture_id;
            r.tl0_pic_idx = info.tl0_pic_idx;
            info.tag
        } else {
            None
        };
        if let Some(tag) = tag {
            r.layer = Some(tag.layer);
            r.frame = Some(tag.frame);
            r.latency = tag.latency(now_us);
        }
        r
    }

    pub fn is_audio(&self) -> bool {
        self.layer == Some(AUDIO_LAYER)
    }
}

/// Why a run of packets is not one continuous stream.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ContinuityError {
    /// Sequence numbers jumped from `after` to `next`.
    Gap { after: u64, next: u64 },
    /// A sequence number came again or went back.
    Repeat { after: u64, next: u64 },
    /// The RTP timestamp went back between these sequence numbers.
    TimestampBack { seq: u64, from: u32, to: u32 },
    /// The SSRC changed within the stream.
    SsrcChanged { seq: u64, from: u32, to: u32 },
}

impl fmt::Display for ContinuityError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            ContinuityError::Gap { after, next } => {
                write!(
                    f,
                    "sequence gap: {after} then {next} ({} missing)",
                    next - after - 1
                )
            }
            ContinuityError::Repeat { after, next } => {
                write!(f, "sequence repeated or went back: {after} then {next}")
            }
            ContinuityError::TimestampBack { seq, from, to } => {
                write!(f, "timestamp went back at seq {seq}: {from} then {to}")
            }
            ContinuityError::SsrcChanged { seq, from, to } => {
                write!(f, "SSRC changed at seq {seq}: {from} then {to}")
            }
        }
    }
}

impl std::error::Error for ContinuityError {}

/// Everything received on one track of the subscribe connection.
#[derive(Debug, Clone)]
pub struct TrackReceipt {
    pub track_id: String,
    pub packets: u64,
    pub bytes: u64,
    /// Every SSRC seen, in order of first appearance.
    pub ssrcs: Vec<u32>,
    /// Video packets per layer index.
    pub per_layer: [u64; 3],
    pub audio_packets: u64,
    /// Packets without a tag this library understands.
    pub untagged: u64,
    /// First packets of keyframes.
    pub keyframes: u64,
    pub first_at: Option<Instant>,
    pub last_at: Option<Instant>,
    /// Lowest and highest sequence number seen.
    pub first_seq: Option<u64>,
    pub max_seq: u64,
    /// Packets that arrived with a lower sequence number than one before them
    /// (retransmissions and reordering).
    pub out_of_order: u64,
    /// Interarrival jitter (RFC 3550 6.4.1 smoothing) of the tags' transit times.
    pub jitter: Duration,
    /// Gaps of more than [`FREEZE_GAP`] between video packets.
    pub freezes: u64,
    /// The longest gap between video packets.
    pub max_video_gap: Duration,
    last_video_at: Option<Instant>,
    last_transit: Option<Duration>,
    jitter_us: f64,
    /// The latest packets, oldest first.
    pub log: VecDeque<PacketRecord>,
    /// Most entries the log keeps.
    pub log_capacity: usize,
}

impl TrackReceipt {
    /// A receipt whose log keeps the latest [`LOG_CAPACITY`] packets.
    pub fn new(track_id: impl Into<String>) -> TrackReceipt {
        TrackReceipt::with_log_capacity(track_id, LOG_CAPACITY)
    }

    /// A receipt whose log keeps the latest `capacity` packets (0: counters only).
    pub fn with_log_capacity(track_id: impl Into<String>, capacity: usize) -> TrackReceipt {
        TrackReceipt {
            track_id: track_id.into(),
            packets: 0,
            bytes: 0,
            ssrcs: Vec::new(),
            per_layer: [0; 3],
            audio_packets: 0,
            untagged: 0,
            keyframes: 0,
            first_at: None,
            last_at: None,
            first_seq: None,
            max_seq: 0,
            out_of_order: 0,
            jitter: Duration::ZERO,
            freezes: 0,
            max_video_gap: Duration::ZERO,
            last_video_at: None,
            last_transit: None,
            jitter_us: 0.0,
            log: VecDeque::new(),
            log_capacity: capacity,
        }
    }

    /// A copy whose log holds only the packets that arrived at or after
    /// `t`: the counters of a clone at the cost of the recent packets only.
    pub fn clone_since(&self, t: Instant) -> TrackReceipt {
        TrackReceipt {
            track_id: self.track_id.clone(),
            packets: self.packets,
            bytes: self.bytes,
            ssrcs: self.ssrcs.clone(),
            per_layer: self.per_layer,
            audio_packets: self.audio_packets,
            untagged: self.untagged,
            keyframes: self.keyframes,
            first_at: self.first_at,
            last_at: self.last_at,
            first_seq: self.first_seq,
            max_seq: self.max_seq,
            out_of_order: self.out_of_order,
            jitter: self.jitter,
            freezes: self.freezes,
            max_video_gap: self.max_video_gap,
            last_video_at: self.last_video_at,
            last_transit: self.last_transit,
            jitter_us: self.jitter_us,
            log: self.since(t).copied().collect(),
            log_capacity: self.log_capacity,
        }
    }

    /// Record a packet as it arrived.
    pub fn record(&mut self, r: PacketRecord) {
        self.packets += 1;
        self.bytes += r.bytes as u64;
        if !self.ssrcs.contains(&r.ssrc) {
            self.ssrcs.push(r.ssrc);
        }
        match r.layer {
            Some(AUDIO_LAYER) => self.audio_packets += 1,
            Some(l) if usize::from(l) < self.per_layer.len() => self.per_layer[usize::from(l)] += 1,
            _ => self.untagged += 1,
        }
        self.keyframes += u64::from(r.keyframe);
        self.first_at.get_or_insert(r.at);
        self.last_at = Some(r.at);
        match self.first_seq {
            None => {
                self.first_seq = Some(r.seq);
                self.max_seq = r.seq;
            }
            Some(first) => {
                if r.seq < self.max_seq {
                    self.out_of_order += 1;
                }
                self.max_seq = self.max_seq.max(r.seq);
                self.first_seq = Some(first.min(r.seq));
            }
        }
        if let Some(transit) = r.latency {
            if let Some(prev) = self.last_transit {
                let d = transit.abs_diff(prev).as_secs_f64() * 1e6;
                self.jitter_us += (d - self.jitter_us) / 16.0;
                self.jitter = Duration::from_micros(self.jitter_us as u64);
            }
            self.last_transit = Some(transit);
        }
        if !r.is_audio() {
            if let Some(last) = self.last_video_at {
                let gap = r.at.saturating_duration_since(last);
                self.max_video_gap = self.max_video_gap.max(gap);
                self.freezes += u64::from(gap > FREEZE_GAP);
            }
            self.last_video_at = Some(r.at);
        }
        if self.log_capacity == 0 {
            return;
        }
        if self.log.len() >= self.log_capacity {
            self.log.pop_front();
        }
        self.log.push_back(r);
    }

    /// Sequence numbers between the first and the highest seen that never
    /// arrived: loss after retransmission.
    pub fn lost(&self) -> u64 {
        match self.first_seq {
            Some(first) => (self.max_seq - first + 1).saturating_sub(self.packets),
            None => 0,
        }
    }

    /// [`lost`](Self::lost) as a percentage of the packets expected.
    pub fn loss_percent(&self) -> f64 {
        match self.first_seq {
            Some(first) => 100.0 * self.lost() as f64 / (self.max_seq - first + 1) as f64,
            None => 0.0,
        }
    }

    /// Video packets received (all layers).
    pub fn video_packets(&self) -> u64 {
        self.per_layer.iter().sum()
    }

    /// The layer of the latest video packet.
    pub fn current_layer(&self) -> Option<u8> {
        self.log
            .iter()
            .rev()
            .find_map(|r| r.layer.filter(|l| *l != AUDIO_LAYER))
    }

    /// Logged packets that arrived at or after `t`.
    pub fn since(&self, t: Instant) -> impl Iterator<Item = &PacketRecord> {
        self.log.iter().filter(move |r| r.at >= t)
    }

    /// Logged packets whose media was sent at or after `t`, by their tag's
    /// send time, whenever they arrived: a retransmission of older media is
    /// not among them.
    pub fn sent_since(&self, t: Instant) -> impl Iterator<Item = &PacketRecord> {
        self.since(t)
            .filter(move |r| r.latency.is_some_and(|l| r.at.checked_sub(l) >= Some(t)))
    }

    /// The first keyframe packet that arrived at or after `t`.
    pub fn first_keyframe_after(&self, t: Instant) -> Option<&PacketRecord> {
        self.since(t).find(|r| r.keyframe)
    }

    /// The first logged packet of `layer` that arrived at or after `t`.
    pub fn first_of_layer_after(&self, layer: u8, t: Instant) -> Option<&PacketRecord> {
        self.since(t).find(|r| r.layer == Some(layer))
    }

    /// Logged packets per layer (index 0-2) since `t`.
    pub fn layers_since(&self, t: Instant) -> [u64; 3] {
        let mut n = [0; 3];
        for r in self.since(t) {
            if let Some(l) = r.layer.filter(|l| usize::from(*l) < 3) {
                n[usize::from(l)] += 1;
            }
        }
        n
    }

    /// The whole log is one continuous stream.
    pub fn check_continuity(&self) -> Result<(), ContinuityError> {
        check_continuity(self.log.iter())
    }

    /// The packets logged since `t` are one continuous stream.
    pub fn check_continuity_since(&self, t: Instant) -> Result<(), ContinuityError> {
        check_continuity(self.since(t))
    }

    /// The `p`-th percentile (0-100) of the latencies in the log.
    pub fn latency_percentile(&self, p: f64) -> Option<Duration> {
        let mut v: Vec<Duration> = self.log.iter().filter_map(|r| r.latency).collect();
        percentile(&mut v, p)
    }

    /// The `p`-th percentile (0-100) of the latencies of packets logged since `t`.
    pub fn latency_percentile_since(&self, t: Instant, p: f64) -> Option<Duration> {
        let mut v: Vec<Duration> = self.since(t).filter_map(|r| r.latency).collect();
        percentile(&mut v, p)
    }
}

/// Sequence numbers that step by one (no gap, no repeat), timestamps that
/// never go back, one SSRC. Real loss (repaired late by RTX) shows as a gap.
pub fn check_continuity<'a>(
    packets: impl IntoIterator<Item = &'a PacketRecord>,
) -> Result<(), ContinuityError> {
    let mut prev: Option<&PacketRecord> = None;
    for r in packets {
        if let Some(p) = prev {
            if r.ssrc != p.ssrc {
                return Err(ContinuityError::SsrcChanged {
                    seq: r.seq,
                    from: p.ssrc,
                    to: r.ssrc,
                });
            }
            if r.seq <= p.seq {
                return Err(ContinuityError::Repeat {
                    after: p.seq,
                    next: r.seq,
                });
            }
            if r.seq != p.seq + 1 {
                return Err(ContinuityError::Gap {
                    after: p.seq,
                    next: r.seq,
                });
            }
            if (r.timestamp.wrapping_sub(p.timestamp) as i32) < 0 {
                return Err(ContinuityError::TimestampBack {
                    seq: r.seq,
                    from: p.timestamp,
                    to: r.timestamp,
                });
            }
        }
        prev = Some(r);
    }
    Ok(())
}

/// The `p`-th percentile (0-100, nearest rank) of `values`; sorts them.
pub fn percentile(values: &mut [Duration], p: f64) -> Option<Duration> {
    if values.is_empty() {
        return None;
    }
    values.sort_unstable();
    let rank = ((p.clamp(0.0, 100.0) / 100.0) * values.len() as f64).ceil() as usize;
    Some(values[rank.clamp(1, values.len()) - 1])
}

/// A record for a packet arriving now.
pub fn record_now(
    seq: u64,
    timestamp: u32,
    marker: bool,
    ssrc: u32,
    payload: &[u8],
) -> PacketRecord {
    PacketRecord::from_payload(
        Instant::now(),
        unix_micros(),
        seq,
        timestamp,
        marker,
        ssrc,
        payload,
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    fn rec(at: Instant, seq: u64, ts: u32) -> PacketRecord {
        PacketRecord {
            at,
            seq,
            timestamp: ts,
            marker: false,
            ssrc: 7,
            layer: Some(1),
            frame: Some(0),
            keyframe: false,
            picture_id: None,
            tl0_pic_idx: None,
            latency: Some(Duration::from_millis(seq)),
            bytes: 100,
        }
    }

    fn receipt(seqs: &[(u64, u32)]) -> TrackReceipt {
        let t = Instant::now();
        let mut r = TrackReceipt::new("p1t1");
        for (s, ts) in seqs {
            r.record(rec(t, *s, *ts));
        }
        r
    }

    #[test]
    fn a_retransmission_of_older_media_was_not_sent_since() {
        let t0 = Instant::now();
        let t1 = t0 + Duration::from_millis(500);
        let mut r = TrackReceipt::new("p1t1");
        // Arrived after t1, but sent 300 ms before it: a late retransmission.
        let mut late = rec(t1 + Duration::from_millis(100), 1, 0);
        late.latency = Some(Duration::from_millis(400));
        r.record(late);
        assert_eq!(r.since(t1).count(), 1);
        assert_eq!(r.sent_since(t1).count(), 0);
        let mut fresh = rec(t1 + Duration::from_millis(120), 2, 3000);
        fresh.latency = Some(Duration::from_millis(10));
        r.record(fresh);
        assert_eq!(r.sent_since(t1).map(|p| p.seq).collect::<Vec<_>>(), [2]);
    }

    #[test]
    fn continuous_stream_passes() {
        let r = receipt(&[
            (10, u32::MAX - 6000),
            (11, u32::MAX - 6000),
            (12, u32::MAX - 3000),
            (13, u32::MAX),
            (14, 2999),
        ]);
        assert_eq!(r.check_continuity(), Ok(()), "timestamps may wrap around");
        assert_eq!(r.packets, 5);
        assert_eq!(r.per_layer, [0, 5, 0]);
        assert_eq!(r.current_layer(), Some(1));
    }

    #[test]
    fn gap_is_caught() {
        let r = receipt(&[(10, 0), (11, 0), (13, 0)]);
        assert_eq!(
            r.check_continuity(),
            Err(ContinuityError::Gap {
                after: 11,
                next: 13
            })
        );
    }

    #[test]
    fn repeat_is_caught() {
        let r = receipt(&[(10, 0), (11, 0), (11, 0)]);
        assert_eq!(
            r.check_continuity(),
            Err(ContinuityError::Repeat {
                after: 11,
                next: 11
            })
        );
        let r = receipt(&[(10, 0), (9, 0)]);
        assert!(matches!(
            r.check_continuity(),
            Err(ContinuityError::Repeat { .. })
        ));
    }

    #[test]
    fn timestamp_going_back_is_caught() {
        let r = receipt(&[(10, 3000), (11, 6000), (12, 2999)]);
        assert_eq!(
            r.check_continuity(),
            Err(ContinuityError::TimestampBack {
                seq: 12,
                from: 6000,
                to: 2999
            })
        );
    }

    #[test]
    fn ssrc_change_is_caught() {
        let mut r = receipt(&[(10, 0)]);
        let mut p = rec(Instant::now(), 11, 0);
        p.ssrc = 8;
        r.record(p);
        assert!(matches!(
            r.check_continuity(),
            Err(ContinuityError::SsrcChanged { .. })
        ));
        assert_eq!(r.ssrcs, vec![7, 8]);
    }

    #[test]
    fn window_since_an_instant() {
        let t0 = Instant::now();
        let t1 = t0 + Duration::from_secs(1);
        let mut r = TrackReceipt::new("x");
        r.record(rec(t0, 1, 0));
        r.record(rec(t0, 5, 0));
        r.record(rec(t1, 6, 0));
        let mut key = rec(t1, 7, 0);
        key.keyframe = true;
        key.layer = Some(2);
        r.record(key);
        assert!(r.check_continuity().is_err());
        assert_eq!(r.check_continuity_since(t1), Ok(()));
        assert_eq!(r.first_keyframe_after(t0).map(|k| k.seq), Some(7));
        assert_eq!(r.layers_since(t1), [0, 1, 1]);
        assert_eq!(r.current_layer(), Some(2));
        assert_eq!(r.first_of_layer_after(2, t0).map(|k| k.seq), Some(7));
    }

    #[test]
    fn a_copy_since_an_instant_keeps_counters_and_recent_packets() {
        let t0 = Instant::now();
        let t1 = t0 + Duration::from_secs(1);
        let mut r = TrackReceipt::new("x");
        r.record(rec(t0, 1, 0));
        r.record(rec(t1, 2, 0));
        let c = r.clone_since(t1);
        assert_eq!(
            (c.packets, c.bytes, c.max_seq),
            (r.packets, r.bytes, r.max_seq)
        );
        assert_eq!(c.lost(), r.lost());
        assert_eq!(c.log.iter().map(|p| p.seq).collect::<Vec<_>>(), vec![2]);
    }

    #[test]
    fn log_is_bounded() {
        let t = Instant::now();
        let mut r = TrackReceipt::new("x");
        for s in 0..(LOG_CAPACITY as u64 + 10) {
            r.record(rec(t, s, 0));
        }
        assert_eq!(r.log.len(), LOG_CAPACITY);
        assert_eq!(r.log.front().unwrap().seq, 10);
        assert_eq!(r.packets, LOG_CAPACITY as u64 + 10);
        let mut counters = TrackReceipt::with_log_capacity("y", 0);
        counters.record(rec(t, 1, 0));
        assert_eq!((counters.packets, counters.log.len()), (1, 0));
    }

    #[test]
    fn loss_reordering_jitter_and_freezes() {
        let t = Instant::now();
        let mut r = TrackReceipt::new("x");
        for (ms, seq, lat) in [
            (0, 10, 2),
            (33, 11, 4),
            (66, 13, 2),
            (700, 12, 2),
            (733, 15, 2),
        ] {
            let mut p = rec(t + Duration::from_millis(ms), seq, 0);
            p.latency = Some(Duration::from_millis(lat));
            r.record(p);
        }
        assert_eq!(r.lost(), 1, "14 never came; 12 came late");
        assert_eq!(r.out_of_order, 1);
        assert!((r.loss_percent() - 100.0 / 6.0).abs() < 1e-9);
        assert_eq!(r.freezes, 1);
        assert_eq!(r.max_video_gap, Duration::from_millis(634));
        // Transit differences 2, 2, 0, 0 ms: J = 2/16, then + (2 - J)/16, then decays.
        assert!(r.jitter > Duration::from_micros(200) && r.jitter < Duration::from_micros(300));
        assert_eq!(TrackReceipt::new("y").lost(), 0);
    }

    #[test]
    fn latency_percentiles() {
        let r = receipt(&(1..=100).map(|s| (s, 0)).collect::<Vec<_>>());
        assert_eq!(r.latency_percentile(50.0), Some(Duration::from_millis(50)));
        assert_eq!(r.latency_percentile(99.0), Some(Duration::from_millis(99)));
        assert_eq!(
            r.latency_percentile(100.0),
            Some(Duration::from_millis(100))
        );
        assert_eq!(TrackReceipt::new("y").latency_percentile(50.0), None);
    }

    #[test]
    fn records_read_tags() {
        use crate::media::{AudioOptions, AudioSource};
        let mut a = AudioSource::new(AudioOptions::default());
        let mut scratch = Vec::new();
        let sent = unix_micros();
        let p = a.next_packet(0, sent, &mut scratch);
        let r =
            PacketRecord::from_payload(Instant::now(), sent + 1500, p.seq, 0, false, 1, p.payload);
        assert!(r.is_audio());
        assert_eq!(r.latency, Some(Duration::from_micros(1500)));
        let untagged = PacketRecord::from_payload(Instant::now(), 0, 1, 0, false, 1, &[1, 2, 3]);
        assert_eq!(untagged.layer, None);
    }
}
