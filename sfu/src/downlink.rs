//! What the SFU knows of one subscriber's downlink: the bandwidth estimate
//! its allocation uses, and the loss and round trip its receiver reports.
//!
//! The estimate comes from str0m's TWCC estimator (GoogCC) when the client
//! sends transport-wide feedback, else from the client's REMB. str0m emits a
//! TWCC estimate averaged over three seconds, which follows a drop too slowly;
//! its periodic stats carry the raw estimate, so a fall is followed at the
//! next stats tick and a rise at the averaged pace (rising slowly is part of
//! the hysteresis). After a fall, climbing is held back for a while so that a
//! steady cap does not make the layers oscillate.
//!
//! Pure state fed from events and timers, never per packet.

use std::time::{Duration, Instant};

use crate::ids::TrackId;

/// How long after a fall the allocation may not climb again.
pub const CLIMB_HOLD: Duration = Duration::from_secs(4);

/// A REMB older than this is not used.
const REMB_TIMEOUT: Duration = Duration::from_secs(5);

#[derive(Debug, Default, Clone)]
pub struct Downlink {
    /// str0m's averaged TWCC estimate, while it can probe (TWCC negotiated).
    twcc_smoothed: Option<u64>,
    /// The raw TWCC estimate from the last stats tick.
    twcc_raw: Option<u64>,
    /// The client's last REMB and when it came.
    remb: Option<(u64, Instant)>,
    /// When the estimate last fell far enough to lower a layer.
    fell_at: Option<Instant>,
    /// Fraction of packets lost toward the subscriber (receiver reports, before repair).
    pub loss: Option<f32>,
    pub rtt: Option<Duration>,
    /// Video tracks that stopped while they should flow (for the freeze count).
    frozen: Vec<TrackId>,
}

/// Where the estimate in use comes from.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Source {
    Twcc,
    Remb,
}

impl Downlink {
    /// str0m's TWCC estimate event. `can_probe` false means TWCC is not
    /// negotiated (or not yet usable): the estimate is not evidence then.
    pub fn on_twcc(&mut self, estimate_bps: u64, can_probe: bool) {
        if can_probe {
            self.twcc_smoothed = Some(estimate_bps);
        } else {
            self.twcc_smoothed = None;
            self.twcc_raw = None;
        }
    }

    pub fn on_remb(&mut self, estimate_bps: u64, now: Instant) {
        self.remb = Some((estimate_bps, now));
    }

    /// A stats tick: the raw estimate, loss and round trip.
    pub fn on_stats(&mut self, raw_bps: Option<u64>, loss: Option<f32>, rtt: Option<Duration>) {
        if self.twcc_smoothed.is_some() {
            self.twcc_raw = raw_bps;
        }
        if loss.is_some() {
            self.loss = loss;
        }
        if rtt.is_some() {
            self.rtt = rtt;
        }
    }

    /// The estimate to allocate from, in bit/s, and its source.
    pub fn estimate(&self, now: Instant) -> Option<(u64, Source)> {
        if let Some(smoothed) = self.twcc_smoothed {
            let raw = self.twcc_raw.unwrap_or(smoothed);
            return Some((smoothed.min(raw), Source::Twcc));
        }
        let (remb, at) = self.remb?;
        (now.saturating_duration_since(at) < REMB_TIMEOUT).then_some((remb, Source::Remb))
    }

    /// The allocation went down for lack of bandwidth.
    pub fn note_fall(&mut self, now: Instant) {
        self.fell_at = Some(now);
    }

    /// Record whether a track is stalled now; true when it just froze.
    pub fn note_frozen(&mut self, track: TrackId, stalled: bool) -> bool {
        let known = self.frozen.iter().position(|t| *t == track);
        match (stalled, known) {
            (true, None) => {
                self.frozen.push(track);
                true
            }
            (false, Some(i)) => {
                self.frozen.swap_remove(i);
                false
            }
            _ => false,
        }
    }

    /// Whether the allocation may climb now.
    pub fn may_climb(&self, now: Instant) -> bool {
        self.fell_at
            .is_none_or(|t| now.saturating_duration_since(t) >= CLIMB_HOLD)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_raw_drop_counts_at_once_and_a_rise_at_the_averaged_pace() {
        let now = Instant::now();
        let mut d = Downlink::default();
        assert_eq!(d.estimate(now), None);
        d.on_twcc(2_000_000, true);
        assert_eq!(d.estimate(now), Some((2_000_000, Source::Twcc)));
        d.on_stats(Some(400_000), None, None);
        assert_eq!(d.estimate(now), Some((400_000, Source::Twcc)));
        d.on_stats(Some(3_000_000), Some(0.01), Some(Duration::from_millis(50)));
        assert_eq!(d.estimate(now), Some((2_000_000, Source::Twcc)));
        assert_eq!(d.rtt, Some(Duration::from_millis(50)));
    }

    #[test]
    fn remb_is_the_fallback_without_twcc_and_expires() {
        let now = Instant::now();
        let mut d = Downlink::default();
        d.on_twcc(1_500_000, false);
        d.on_remb(800_000, now);
        assert_eq!(d.estimate(now), Some((800_000, Source::Remb)));
        assert_eq!(d.estimate(now + REMB_TIMEOUT), None);
        d.on_twcc(1_000_000, true);
        assert_eq!(d.estimate(now), Some((1_000_000, Source::Twcc)));
    }

    #[test]
    fn climbing_waits_after_a_fall() {
        let now = Instant::now();
        let mut d = Downlink::default();
        assert!(d.may_climb(now));
        d.note_fall(now);
        assert!(!d.may_climb(now + CLIMB_HOLD / 2));
        assert!(d.may_climb(now + CLIMB_HOLD));
    }
}
