//! What the SFU knows of one subscriber's downlink: the bandwidth estimate
//! its allocation uses, and the loss and round trip its receiver reports.
//!
//! The estimate comes from str0m's TWCC estimator (GoogCC) when the client
//! sends transport-wide feedback, else from the client's REMB. str0m's own
//! event averages the estimate over three seconds, which follows a drop too
//! slowly and keeps a start-up dip for three seconds; its periodic stats
//! (every 0.25 s) carry the raw estimate, which is what is used: the lowest of
//! the last two seconds' ticks, so a fall counts at the next tick and a rise
//! once it has held for two seconds (rising slowly is part of the hysteresis). During the first seconds the
//! estimator is still probing (on loopback it dips to its 40 kbit/s floor
//! for about a second before probes find the link): the starting estimate
//! holds until then. After a fall, climbing is held back for a while so that
//! a steady cap does not make the layers oscillate.
//!
//! Pure state fed from events and timers, never per packet.

use std::time::{Duration, Instant};

use crate::allocator::UPGRADE_HEADROOM_PERCENT;
use crate::ids::TrackId;

/// How long after a fall the allocation may not climb again.
pub const CLIMB_HOLD: Duration = Duration::from_secs(4);
/// A fall this soon after a climb means the climb failed: the next hold
/// doubles, up to [`MAX_CLIMB_HOLD`].
const FAILED_CLIMB: Duration = Duration::from_secs(10);
pub const MAX_CLIMB_HOLD: Duration = Duration::from_secs(64);

/// A REMB older than this is not used.
const REMB_TIMEOUT: Duration = Duration::from_secs(5);

/// How long after its first estimate a connection's estimator is still
/// finding the link: lower estimates are not believed before then.
pub const STARTUP: Duration = Duration::from_secs(2);

/// How long the raw estimates (one a stats tick) must all allow a rise.
const RISE_WINDOW: Duration = Duration::from_secs(2);

/// While a subscriber lacks a layer it asked for, how often str0m is made
/// to probe its link for it (see [`Downlink::probe_toward`]).
pub const PROBE_INTERVAL: Duration = Duration::from_secs(2);

/// str0m's estimator is not restarted within this long of a deep queue
/// (delay without loss); after a restart that did not end the lack, the
/// next waits at least this long, doubling up to [`MAX_RESTART_WAIT`]: on a
/// link that is simply too narrow, each restart's probes overshoot it.
const RESTART_WAIT: Duration = Duration::from_secs(4);
const MAX_RESTART_WAIT: Duration = Duration::from_secs(32);

/// After str0m's estimator starts again, its estimates count after two
/// ticks rather than [`RISE_WINDOW`] for this long (see
/// [`Downlink::probe_toward`]).
const PROBE_EVIDENCE: Duration = Duration::from_secs(2);

/// A desired bitrate within this many percent of the one str0m was last
/// told is not told (see [`Downlink::probe_toward`]).
const DESIRED_STEP_PERCENT: u64 = 10;

/// Below this fraction of packets lost toward the subscriber (as its
/// receiver reports), the link shows no congestion; libwebrtc's loss-based
/// control does not decrease below 2% either.
const NO_LOSS: f32 = 0.02;

/// A round trip this much above the lowest seen is a queue filling up on the
/// way to the subscriber: congestion, even before it drops anything (a
/// bufferbloated link delays by a second before it loses a packet).
pub const QUEUE_DELAY: Duration = Duration::from_millis(150);

/// The lowest round trip is forgotten after this long, so that a path that
/// really got longer stops counting as queued.
const BASE_RTT_MEMORY: Duration = Duration::from_secs(30);

#[derive(Debug, Default, Clone)]
pub struct Downlink {
    /// The first TWCC estimate (the configured start) and when it came,
    /// while str0m can probe (TWCC negotiated).
    twcc_start: Option<(u64, Instant)>,
    /// Raw TWCC estimates of the stats ticks after start-up within the
    /// last [`RISE_WINDOW`], and when they came, newest last.
    twcc_raw: Vec<(Instant, u64)>,
    /// The client's last REMB and when it came.
    remb: Option<(u64, Instant)>,
    /// When the estimate last fell far enough to lower a layer.
    fell_at: Option<Instant>,
    /// When the allocation last went up.
    climbed_at: Option<Instant>,
    /// The hold after the last fall.
    hold: Duration,
    /// Fraction of packets lost toward the subscriber (receiver reports, before repair).
    pub loss: Option<f32>,
    pub rtt: Option<Duration>,
    /// The lowest round trip lately, and when it was seen.
    base_rtt: Option<(Duration, Instant)>,
    /// Video tracks that stopped while they should flow (for the freeze count).
    frozen: Vec<TrackId>,
    /// When str0m is next made to probe for what is lacking.
    next_probe: Option<Instant>,
    /// The last allocation lowered the desired bitrate to set up a probe.
    probe_armed: bool,
    /// str0m's estimator is to start again from this estimate (bit/s).
    restart: Option<u64>,
    /// When str0m's estimator last started again.
    restarted_at: Option<Instant>,
    /// While lacking: when the estimator may start again, and the wait
    /// after that one.
    next_restart: Option<(Instant, Duration)>,
    /// When a stats tick last found the link queueing without loss (a
    /// deep queue, see `restart`).
    bloated_at: Option<Instant>,
    /// When the raw estimate last changed.
    raw_changed_at: Option<Instant>,
    /// The most the allocation has forwarded while the link showed no
    /// congestion since the last fall (bit/s): a rise of the estimate up to
    /// it needs no [`RISE_WINDOW`].
    committed_bps: u64,
    /// The desired bitrate str0m was last told.
    told_desired: u64,
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
    pub fn on_twcc(&mut self, estimate_bps: u64, can_probe: bool, now: Instant) {
        if !can_probe {
            self.twcc_start = None;
            self.twcc_raw.clear();
        } else if self.twcc_start.is_none() {
            self.twcc_start = Some((estimate_bps, now));
        }
    }

    pub fn on_remb(&mut self, estimate_bps: u64, now: Instant) {
        self.remb = Some((estimate_bps, now));
    }

    /// A stats tick: the raw estimate, loss and round trip.
    pub fn on_stats(
        &mut self,
        raw_bps: Option<u64>,
        loss: Option<f32>,
        rtt: Option<Duration>,
        now: Instant,
    ) {
        if let (Some(raw), false) = (raw_bps, self.starting(now)) {
            if self.twcc_start.is_some() {
                if self.twcc_raw.last().is_none_or(|(_, last)| *last != raw) {
                    self.raw_changed_at = Some(now);
                }
                self.twcc_raw
                    .retain(|(at, _)| now.saturating_duration_since(*at) < RISE_WINDOW);
                self.twcc_raw.push((now, raw));
                self.keep_probe_evidence(now);
            }
        }
        if loss.is_some() {
            self.loss = loss;
        }
        if let Some(rtt) = rtt {
            self.rtt = Some(rtt);
            let stale = self.base_rtt.is_none_or(|(base, at)| {
                rtt <= base || now.saturating_duration_since(at) >= BASE_RTT_MEMORY
            });
            if stale {
                self.base_rtt = Some((rtt, now));
            }
        }
        if self.queued() && !self.lossy() {
            self.bloated_at = Some(now);
        }
    }

    /// The estimate to allocate from, in bit/s, and its source.
    ///
    /// A rise counts once it held for [`RISE_WINDOW`], except up to what
    /// the link already carried without congestion (LiveKit's committed
    /// capacity): a subscriber that watched small tiles for a while has an
    /// estimate near what it received (str0m holds an application-limited
    /// estimate near its proven capacity), and when it asks for more, the
    /// probe that follows shows the room again; that room was proven before.
    pub fn estimate(&self, now: Instant) -> Option<(u64, Source)> {
        if let Some((start, _)) = self.twcc_start {
            let lowest = self.twcc_raw.iter().map(|(_, bps)| *bps).min();
            let latest = self.twcc_raw.last().map(|(_, bps)| *bps);
            // With the headroom a climb needs, so that what flowed can flow again.
            let committed = self.committed_bps * UPGRADE_HEADROOM_PERCENT / 100;
            let proven = latest.map_or(0, |l| l.min(committed));
            return Some((lowest.map_or(start, |l| l.max(proven)), Source::Twcc));
        }
        let (remb, at) = self.remb?;
        (now.saturating_duration_since(at) < REMB_TIMEOUT).then_some((remb, Source::Remb))
    }

    /// Whether the subscriber's receiver reports loss that means
    /// congestion. Without it, a fall of the TWCC estimate below what
    /// already flows does not lower layers (the allocation keeps them):
    /// after an overuse, often the queue of its own probe, GoogCC sets the
    /// estimate to 0.85x what was acknowledged, and a subscriber that
    /// receives less than its estimate (a layer below it, probing for the
    /// next) then reads an estimate below what it receives without trouble
    /// for a tick or two. Taken at its word, that lowered or paused layers at
    /// a steady cap every few seconds. A link that really narrowed shows
    /// loss once its queue fills, and the fall counts then. A link with a
    /// deep queue delays long before it loses (and while the delay exceeds
    /// the one-second window of str0m's loss figure, that figure is
    /// missing): a round trip [`QUEUE_DELAY`] above the lowest seen counts
    /// too.
    pub fn congested(&self) -> bool {
        self.lossy() || self.queued()
    }

    fn lossy(&self) -> bool {
        self.loss.is_some_and(|l| l >= NO_LOSS)
    }

    fn queued(&self) -> bool {
        match (self.rtt, self.base_rtt) {
            (Some(rtt), Some((base, _))) => rtt.saturating_sub(base) >= QUEUE_DELAY,
            _ => false,
        }
    }

    /// Whether the estimator is still in its start-up.
    pub fn starting(&self, now: Instant) -> bool {
        self.twcc_start
            .is_some_and(|(_, at)| now.saturating_duration_since(at) < STARTUP)
    }

    /// The allocation forwards `used_bps`: while the link shows no
    /// congestion, that much is proven to fit.
    pub fn note_forwarding(&mut self, used_bps: u64) {
        if !self.congested() {
            self.committed_bps = self.committed_bps.max(used_bps);
        }
    }

    /// The allocation went down for lack of bandwidth.
    pub fn note_fall(&mut self, now: Instant) {
        self.committed_bps = 0;
        let failed = self
            .climbed_at
            .is_some_and(|t| now.saturating_duration_since(t) < FAILED_CLIMB);
        self.hold = if failed {
            (self.hold * 2).clamp(CLIMB_HOLD, MAX_CLIMB_HOLD)
        } else {
            CLIMB_HOLD
        };
        self.fell_at = Some(now);
    }

    /// The allocation went up.
    pub fn note_climb(&mut self, now: Instant) {
        self.climbed_at = Some(now);
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

    /// The bitrate to tell str0m the subscriber desires, given what flows
    /// and what it asked for (bit/s).
    ///
    /// str0m probes for more when the desired bitrate rises above the
    /// estimate (an allocation probe), otherwise only every 5 s while the
    /// link is mostly idle, or after 15 s of a stagnant estimate. A
    /// subscriber held at a low layer by a cap that has since lifted sends
    /// close to its estimate, so nothing would probe for 15 s. While
    /// something asked for is lacking, every [`PROBE_INTERVAL`] one
    /// allocation gives str0m only what flows and the next what is asked
    /// for again: that rise is an allocation probe (at most twice the
    /// estimate), and the estimate shows the room before a layer climbs.
    ///
    /// But str0m allows no probe while its loss controller holds the
    /// estimate down, which lasts 4–5 s past the last loss (the lossy
    /// observations must leave its window), the estimate decaying
    /// meanwhile; and its delay controller can stay flagged as overusing on
    /// a clean link, the estimate frozen. So when at probe time the
    /// estimator is stuck (`estimator_stuck`) and the receiver reports a
    /// clean link (no loss, no queue: [`Downlink::congested`]), the
    /// estimator starts again instead ([`Downlink::take_restart`]), from
    /// what flows: a fresh estimator probes at once, at three and six times
    /// that, and on while the link answers, and its estimates in the next
    /// [`PROBE_EVIDENCE`] count after two ticks rather than the
    /// [`RISE_WINDOW`]. A restart that did not end the lack is not repeated
    /// for [`RESTART_WAIT`], doubling up to [`MAX_RESTART_WAIT`]. Only when
    /// stuck, and not within [`RESTART_WAIT`] of a queue that delayed
    /// without loss: a short probe passes a token bucket's burst at line
    /// rate, and behind a shaper with a deep queue a fresh estimator's
    /// first probes read 720 kbit/s of a 300 kbit/s link, which nothing
    /// corrects until a layer climbs into the queue and fills it again.
    ///
    /// str0m also probes at any rise of the desired bitrate above the
    /// estimate, however small, and the meters that make up the desired
    /// bitrate move by a few percent at every allocation: told as measured,
    /// that was five probes a second at a steady cap, each up to twice the
    /// estimate. A change under [`DESIRED_STEP_PERCENT`] is not told.
    pub fn probe_toward(&mut self, used_bps: u64, desired_bps: u64, now: Instant) -> u64 {
        let told = self.plan_probe(used_bps, desired_bps, now);
        let last = self.told_desired;
        if last > 0 && told.abs_diff(last) * 100 < last * DESIRED_STEP_PERCENT {
            return last;
        }
        self.told_desired = told;
        told
    }

    fn plan_probe(&mut self, used_bps: u64, desired_bps: u64, now: Instant) -> u64 {
        if desired_bps <= used_bps {
            self.next_probe = None;
            self.next_restart = None;
            self.probe_armed = false;
            return desired_bps;
        }
        if std::mem::take(&mut self.probe_armed) {
            return desired_bps;
        }
        match self.next_probe {
            Some(at) if now >= at => {
                self.next_probe = Some(now + PROBE_INTERVAL);
                let may_restart = self.next_restart.is_none_or(|(at, _)| now >= at)
                    && self
                        .bloated_at
                        .is_none_or(|at| now.saturating_duration_since(at) >= RESTART_WAIT);
                if may_restart && self.estimator_stuck(used_bps, now) && !self.congested() {
                    let wait = self
                        .next_restart
                        .map_or(RESTART_WAIT, |(_, w)| (w * 2).min(MAX_RESTART_WAIT));
                    self.next_restart = Some((now + wait, wait));
                    self.restart = Some(used_bps);
                    return desired_bps;
                }
                self.probe_armed = true;
                used_bps
            }
            Some(_) => desired_bps,
            None => {
                self.next_probe = Some(now + PROBE_INTERVAL);
                desired_bps
            }
        }
    }

    /// Whether str0m's estimator is stuck: below what flows, falling tick
    /// after tick for the whole [`RISE_WINDOW`], or not moved at all for
    /// [`PROBE_INTERVAL`] (an estimator that probes moves at least a
    /// little; str0m's can stay flagged as overusing on a clean link, its
    /// estimate frozen and every probe refused, for good). The caller
    /// checks that the link is clean.
    fn estimator_stuck(&self, used_bps: u64, now: Instant) -> bool {
        let below = self.twcc_raw.last().is_some_and(|(_, bps)| *bps < used_bps);
        let frozen = self
            .raw_changed_at
            .is_some_and(|at| now.saturating_duration_since(at) >= PROBE_INTERVAL);
        // Falling tick after tick, by a tenth or more, on a link that
        // reports no loss: the loss controller decaying on old loss.
        let raw = &self.twcc_raw;
        let decaying = raw.len() >= 6
            && raw.windows(2).all(|w| w[1].1 <= w[0].1)
            && raw[raw.len() - 1].1 * 10 <= raw[0].1 * 9;
        below || frozen || decaying
    }

    /// Whether str0m's estimator should start again, and from what
    /// estimate (bit/s); see [`Downlink::probe_toward`].
    pub fn take_restart(&mut self, now: Instant) -> Option<u64> {
        let restart = self.restart.take();
        if restart.is_some() {
            self.restarted_at = Some(now);
        }
        restart
    }

    /// Soon after a restart, the estimates are the results of its probes:
    /// once two ticks since the restart agree, they replace what came
    /// before. Two, not one: a short probe passes a token bucket's burst at
    /// line rate, and the first estimate after it can read several times
    /// the link (1.4 Mbit/s behind a 300 kbit/s `tbf`), corrected at the
    /// next tick.
    fn keep_probe_evidence(&mut self, now: Instant) {
        let Some(at) = self.restarted_at else {
            return;
        };
        if now.saturating_duration_since(at) >= PROBE_EVIDENCE {
            self.restarted_at = None;
            return;
        }
        let n = self.twcc_raw.len();
        if n >= 2 && self.twcc_raw[n - 2].0 > at {
            self.twcc_raw.drain(..n - 2);
        }
    }

    /// Whether the allocation may climb now.
    pub fn may_climb(&self, now: Instant) -> bool {
        self.fell_at
            .is_none_or(|t| now.saturating_duration_since(t) >= self.hold)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn start_up_dips_are_ignored_then_falls_count_at_once_and_rises_slowly() {
        let t0 = Instant::now();
        let mut d = Downlink::default();
        assert_eq!(d.estimate(t0), None);
        d.on_twcc(2_000_000, true, t0);
        d.on_twcc(700_000, true, t0 + Duration::from_millis(300));
        let tick = |i: u32| t0 + STARTUP + Duration::from_millis(500) * i;
        d.on_stats(Some(40_000), None, None, t0 + Duration::from_millis(500));
        assert_eq!(
            d.estimate(t0 + Duration::from_millis(500)),
            Some((2_000_000, Source::Twcc))
        );
        d.on_stats(Some(3_000_000), None, None, tick(0));
        assert_eq!(d.estimate(tick(0)), Some((3_000_000, Source::Twcc)));
        d.on_stats(Some(400_000), None, None, tick(1));
        assert_eq!(
            d.estimate(tick(1)),
            Some((400_000, Source::Twcc)),
            "a fall at once"
        );
        d.on_stats(
            Some(3_000_000),
            Some(0.01),
            Some(Duration::from_millis(50)),
            tick(2),
        );
        assert_eq!(
            d.estimate(tick(2)),
            Some((400_000, Source::Twcc)),
            "no rise yet"
        );
        for i in 3..=5 {
            d.on_stats(Some(3_000_000), None, None, tick(i));
        }
        assert_eq!(
            d.estimate(tick(5)),
            Some((3_000_000, Source::Twcc)),
            "a rise once it held for two seconds"
        );
        assert_eq!(d.rtt, Some(Duration::from_millis(50)));
    }

    #[test]
    fn a_rise_up_to_what_flowed_without_congestion_counts_at_once() {
        let t0 = Instant::now();
        let mut d = Downlink::default();
        d.on_twcc(2_000_000, true, t0);
        let tick = |i: u32| t0 + STARTUP + Duration::from_millis(250) * i;
        d.on_stats(Some(2_000_000), Some(0.0), None, tick(0));
        d.note_forwarding(1_700_000);
        // Asked for less: the estimate decays toward what flows.
        d.note_forwarding(200_000);
        d.on_stats(Some(300_000), Some(0.0), None, tick(1));
        assert_eq!(d.estimate(tick(1)), Some((300_000, Source::Twcc)));
        // A probe shows room again: counted at once up to 1.7 Mbit/s and
        // the headroom a climb needs.
        d.on_stats(Some(2_400_000), Some(0.0), None, tick(2));
        assert_eq!(d.estimate(tick(2)), Some((1_955_000, Source::Twcc)));
        d.on_stats(Some(250_000), Some(0.0), None, tick(3));
        assert_eq!(
            d.estimate(tick(3)),
            Some((250_000, Source::Twcc)),
            "a fall at once"
        );
        // After a fall for lack of bandwidth, nothing is proven any more.
        d.note_fall(tick(3));
        d.on_stats(Some(2_400_000), Some(0.0), None, tick(4));
        assert_eq!(d.estimate(tick(4)), Some((250_000, Source::Twcc)));
        // Nor while the link shows loss.
        d.on_stats(Some(250_000), Some(0.1), None, tick(12));
        d.note_forwarding(1_000_000);
        d.on_stats(Some(2_400_000), Some(0.0), None, tick(13));
        assert_eq!(d.estimate(tick(13)), Some((250_000, Source::Twcc)));
    }

    #[test]
    fn congestion_is_loss_of_2_percent_or_more() {
        let now = Instant::now();
        let mut d = Downlink::default();
        assert!(!d.congested(), "no report yet");
        d.on_stats(Some(1_000_000), Some(0.01), None, now);
        assert!(!d.congested());
        d.on_stats(Some(1_000_000), Some(0.2), None, now);
        assert!(d.congested());
        d.on_stats(Some(1_000_000), None, None, now);
        assert!(d.congested(), "the last report holds until the next");
    }

    #[test]
    fn congestion_is_also_a_round_trip_far_above_the_lowest() {
        let t0 = Instant::now();
        let mut d = Downlink::default();
        let tick = |d: &mut Downlink, ms: u64, at: Duration| {
            d.on_stats(
                Some(1_000_000),
                Some(0.0),
                Some(Duration::from_millis(ms)),
                t0 + at,
            );
        };
        tick(&mut d, 40, Duration::ZERO);
        tick(&mut d, 30, Duration::from_secs(1));
        tick(&mut d, 170, Duration::from_secs(2));
        assert!(!d.congested(), "140 ms above the lowest: jitter");
        tick(&mut d, 900, Duration::from_secs(3));
        assert!(d.congested(), "a queue of most of a second");
        tick(&mut d, 35, Duration::from_secs(4));
        assert!(!d.congested(), "drained");
        // A path that got longer for good stops counting after a while.
        tick(&mut d, 400, Duration::from_secs(5));
        assert!(d.congested());
        tick(&mut d, 400, Duration::from_secs(1) + BASE_RTT_MEMORY);
        assert!(!d.congested(), "the new path's round trip is the base now");
    }

    #[test]
    fn remb_is_the_fallback_without_twcc_and_expires() {
        let now = Instant::now();
        let mut d = Downlink::default();
        d.on_twcc(1_500_000, false, now);
        d.on_remb(800_000, now);
        assert_eq!(d.estimate(now), Some((800_000, Source::Remb)));
        assert_eq!(d.estimate(now + REMB_TIMEOUT), None);
        d.on_twcc(1_000_000, true, now);
        assert_eq!(d.estimate(now), Some((1_000_000, Source::Twcc)));
    }

    #[test]
    fn a_lacking_subscriber_drops_its_desired_bitrate_for_one_allocation_every_2_s() {
        let t0 = Instant::now();
        let mut d = Downlink::default();
        // Loss: the estimator is not restarted (see the next test).
        d.on_stats(None, Some(0.05), None, t0);
        let at = |ms: u64| t0 + Duration::from_millis(ms);
        assert_eq!(d.probe_toward(2_000, 2_000, at(0)), 2_000, "nothing lacks");
        assert_eq!(d.probe_toward(200, 2_000, at(0)), 2_000, "lacking: armed");
        assert_eq!(d.probe_toward(200, 2_000, at(1_900)), 2_000);
        assert_eq!(d.probe_toward(200, 2_000, at(2_000)), 200, "lowered");
        assert_eq!(
            d.probe_toward(200, 2_000, at(2_100)),
            2_000,
            "raised: a probe"
        );
        assert_eq!(d.probe_toward(200, 2_000, at(3_900)), 2_000);
        assert_eq!(d.probe_toward(200, 2_000, at(4_000)), 200, "again");
        assert_eq!(d.probe_toward(200, 2_000, at(4_100)), 2_000);
        assert_eq!(d.probe_toward(2_000, 2_000, at(4_200)), 2_000, "climbed");
        assert_eq!(d.probe_toward(200, 2_000, at(4_300)), 2_000, "a new wait");
        assert_eq!(d.probe_toward(200, 2_000, at(6_200)), 2_000);
        assert_eq!(d.probe_toward(200, 2_000, at(6_300)), 200);
    }

    #[test]
    fn an_estimate_stuck_below_what_flows_cleanly_restarts_and_two_ticks_of_its_estimates_count() {
        let t0 = Instant::now();
        let at = |ms: u64| t0 + STARTUP + Duration::from_millis(ms);
        let mut d = Downlink::default();
        d.on_twcc(1_000_000, true, t0);
        d.on_stats(Some(300_000), Some(0.0), None, at(0));
        assert_eq!(d.probe_toward(200_000, 2_000_000, at(0)), 2_000_000);
        assert_eq!(d.take_restart(at(0)), None);
        d.on_stats(Some(310_000), Some(0.0), None, at(1_000));
        assert_eq!(d.probe_toward(200_000, 2_000_000, at(2_000)), 200_000);
        assert_eq!(
            d.take_restart(at(2_000)),
            None,
            "an estimate above what flows: a probe as usual"
        );
        assert_eq!(d.probe_toward(200_000, 2_000_000, at(2_100)), 2_000_000);
        d.on_stats(Some(150_000), Some(0.0), None, at(2_200));
        assert_eq!(d.probe_toward(200_000, 2_000_000, at(6_100)), 2_000_000);
        assert_eq!(
            d.take_restart(at(6_100)),
            Some(200_000),
            "below what flows, on a clean link: from what flows"
        );
        assert_eq!(d.take_restart(at(6_100)), None, "once");
        d.on_stats(Some(150_000), Some(0.0), None, at(5_850));
        d.on_stats(Some(1_800_000), Some(0.0), None, at(6_350));
        assert_eq!(
            d.estimate(at(6_350)),
            Some((150_000, Source::Twcc)),
            "one tick is not enough"
        );
        d.on_stats(Some(2_000_000), Some(0.0), None, at(6_600));
        assert_eq!(
            d.estimate(at(6_600)),
            Some((1_800_000, Source::Twcc)),
            "two ticks of probe results count"
        );
        d.on_stats(Some(2_100_000), Some(0.0), None, at(6_850));
        assert_eq!(d.estimate(at(6_850)), Some((2_000_000, Source::Twcc)));
        d.on_stats(Some(1_700_000), Some(0.0), None, at(7_850));
        d.on_stats(Some(2_400_000), Some(0.0), None, at(8_350));
        assert_eq!(
            d.estimate(at(8_350)),
            Some((1_700_000, Source::Twcc)),
            "then rises wait again"
        );
    }

    #[test]
    fn an_estimate_frozen_or_decaying_on_a_clean_link_restarts() {
        // A link without loss whose raw estimate reads `raw(tick)` every
        // 0.25 s for 2 s, 150 kbit/s flowing, 1.5 Mbit/s wanted: the
        // restart the probe at 2 s asks for.
        let restart_after = |raw: &dyn Fn(u64) -> u64| {
            let t0 = Instant::now();
            let at = |ms: u64| t0 + STARTUP + Duration::from_millis(ms);
            let mut d = Downlink::default();
            d.on_twcc(1_000_000, true, t0);
            for tick in 0..=8 {
                d.on_stats(Some(raw(tick)), Some(0.0), None, at(tick * 250));
            }
            assert_eq!(d.probe_toward(150_000, 1_500_000, at(0)), 1_500_000);
            let told = d.probe_toward(150_000, 1_500_000, at(2_000));
            (told, d.take_restart(at(2_000)))
        };
        assert_eq!(
            restart_after(&|_| 260_000),
            (1_500_000, Some(150_000)),
            "frozen: restarted"
        );
        assert_eq!(
            restart_after(&|tick| 260_000 - 8_000 * tick),
            (1_500_000, Some(150_000)),
            "falling tick after tick: restarted"
        );
        assert_eq!(
            restart_after(&|tick| 260_000 + 1_000 * (tick % 2)),
            (150_000, None),
            "moving: the usual probe"
        );
    }

    #[test]
    fn small_moves_of_the_desired_bitrate_are_not_told() {
        let t0 = Instant::now();
        let mut d = Downlink::default();
        assert_eq!(d.probe_toward(1_000, 1_000, t0), 1_000);
        assert_eq!(d.probe_toward(1_040, 1_040, t0), 1_000, "4% up");
        assert_eq!(d.probe_toward(950, 950, t0), 1_000, "5% down");
        assert_eq!(d.probe_toward(1_000, 1_200, t0), 1_200, "20% up");
        assert_eq!(d.probe_toward(300, 300, t0), 300, "asked for less");
    }

    #[test]
    fn climbing_waits_after_a_fall() {
        let now = Instant::now();
        let mut d = Downlink::default();
        assert!(d.may_climb(now));
        d.note_fall(now);
        assert!(!d.may_climb(now + CLIMB_HOLD / 2));
        assert!(d.may_climb(now + CLIMB_HOLD));
        // A climb that fails within seconds doubles the next hold.
        let t = now + CLIMB_HOLD;
        d.note_climb(t);
        d.note_fall(t + Duration::from_secs(2));
        assert!(!d.may_climb(t + Duration::from_secs(2) + CLIMB_HOLD));
        assert!(d.may_climb(t + Duration::from_secs(2) + CLIMB_HOLD * 2));
    }
}
