//! One direction of an impaired network path, sans-IO: given a datagram and
//! the time it was sent, decide whether it is lost and when it arrives.
//! Random decisions come from a seeded generator, so a run with the same
//! seed and the same traffic makes the same decisions.
//!
//! The model, in order: random loss; a rate cap that serialises datagrams
//! (a datagram that would wait longer than `queue` behind the others is
//! dropped, as a router's tail drop); a fixed delay plus a uniform jitter
//! that keeps order; and a share of datagrams held back by `reorder_gap` so
//! that later ones overtake them.

use std::time::{Duration, Instant};

use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};

/// How a path mistreats datagrams. `Default` passes everything at once.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Impairment {
    /// Share of datagrams lost at random, 0 to 1.
    pub loss: f64,
    /// One-way delay added to every datagram.
    pub delay: Duration,
    /// Up to this much more delay, uniform; order is kept.
    pub jitter: Duration,
    /// Share of datagrams held back by `reorder_gap`, 0 to 1.
    pub reorder: f64,
    pub reorder_gap: Duration,
    /// Rate cap in bits per second; `None`: unlimited.
    pub rate_bps: Option<u64>,
    /// With a rate cap: the longest a datagram may wait to be sent.
    pub queue: Duration,
}

impl Default for Impairment {
    fn default() -> Self {
        Impairment {
            loss: 0.0,
            delay: Duration::ZERO,
            jitter: Duration::ZERO,
            reorder: 0.0,
            reorder_gap: Duration::from_millis(10),
            rate_bps: None,
            queue: Duration::from_millis(100),
        }
    }
}

impl Impairment {
    /// Lose this share of datagrams (0 to 1).
    pub fn loss(mut self, share: f64) -> Self {
        self.loss = share.clamp(0.0, 1.0);
        self
    }

    pub fn delay(mut self, d: Duration) -> Self {
        self.delay = d;
        self
    }

    pub fn jitter(mut self, d: Duration) -> Self {
        self.jitter = d;
        self
    }

    /// Hold back this share of datagrams (0 to 1) by `gap`.
    pub fn reorder(mut self, share: f64, gap: Duration) -> Self {
        self.reorder = share.clamp(0.0, 1.0);
        self.reorder_gap = gap;
        self
    }

    pub fn rate(mut self, bits_per_s: Option<u64>) -> Self {
        self.rate_bps = bits_per_s.filter(|r| *r > 0);
        self
    }
}

/// What a link did, by cause.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct LinkStats {
    pub passed: u64,
    pub lost: u64,
    /// Dropped because the rate cap's queue was full.
    pub overflowed: u64,
    pub reordered: u64,
    pub bytes_passed: u64,
}

/// One direction of a path.
#[derive(Debug)]
pub struct Link {
    imp: Impairment,
    rng: StdRng,
    /// The rate cap's queue is busy until then.
    busy_until: Option<Instant>,
    /// Latest arrival given to an in-order datagram.
    last_arrival: Option<Instant>,
    pub stats: LinkStats,
}

impl Link {
    pub fn new(imp: Impairment, seed: u64) -> Link {
        Link {
            imp,
            rng: StdRng::seed_from_u64(seed),
            busy_until: None,
            last_arrival: None,
            stats: LinkStats::default(),
        }
    }

    pub fn impairment(&self) -> Impairment {
        self.imp
    }

    /// Change the impairment from now on; datagrams already admitted keep
    /// their arrival times.
    pub fn set(&mut self, imp: Impairment) {
        self.imp = imp;
    }

    /// A datagram of `len` bytes sent at `now`: when it arrives, or `None`
    /// when it is lost.
    pub fn admit(&mut self, now: Instant, len: usize) -> Option<Instant> {
        let imp = self.imp;
        if imp.loss > 0.0 && self.rng.random_bool(imp.loss) {
            self.stats.lost += 1;
            return None;
        }
        let mut leaves = now;
        if let Some(rate) = imp.rate_bps {
            let start = self.busy_until.map_or(now, |b| b.max(now));
            if start.duration_since(now) > imp.queue {
                self.stats.overflowed += 1;
                return None;
            }
            let serialise = Duration::from_secs_f64(len as f64 * 8.0 / rate as f64);
            leaves = start + serialise;
            self.busy_until = Some(leaves);
        }
        let mut arrives = leaves + imp.delay;
        if !imp.jitter.is_zero() {
            arrives += imp.jitter.mul_f64(self.rng.random::<f64>());
        }
        if imp.reorder > 0.0 && self.rng.random_bool(imp.reorder) {
            self.stats.reordered += 1;
            arrives += imp.reorder_gap;
        } else {
            // Jitter alone keeps order, as on a real path without reordering.
            arrives = self.last_arrival.map_or(arrives, |l| l.max(arrives));
            self.last_arrival = Some(arrives);
        }
        self.stats.passed += 1;
        self.stats.bytes_passed += len as u64;
        Some(arrives)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn nothing_set_passes_at_once() {
        let mut l = Link::new(Impairment::default(), 1);
        let t = Instant::now();
        assert_eq!(l.admit(t, 1200), Some(t));
        assert_eq!(l.stats.passed, 1);
    }

    #[test]
    fn loss_is_near_its_share_and_the_same_for_a_seed() {
        let run = |seed| {
            let mut l = Link::new(Impairment::default().loss(0.05), seed);
            let t = Instant::now();
            (0..20_000)
                .map(|_| l.admit(t, 100).is_none())
                .collect::<Vec<_>>()
        };
        let a = run(7);
        assert_eq!(a, run(7), "same seed, same losses");
        let lost = a.iter().filter(|x| **x).count() as f64 / a.len() as f64;
        assert!((0.04..0.06).contains(&lost), "{lost}");
    }

    #[test]
    fn jitter_delays_within_bounds_and_keeps_order() {
        let imp = Impairment::default()
            .delay(Duration::from_millis(25))
            .jitter(Duration::from_millis(10));
        let mut l = Link::new(imp, 3);
        let t0 = Instant::now();
        let mut last = t0;
        for i in 0..1000u64 {
            let sent = t0 + Duration::from_micros(i * 100);
            let at = l.admit(sent, 100).unwrap();
            assert!(at >= sent + Duration::from_millis(25));
            assert!(at <= sent + Duration::from_millis(35) + Duration::from_micros(100));
            assert!(at >= last, "order kept");
            last = at;
        }
    }

    #[test]
    fn reordered_datagrams_are_overtaken() {
        let imp = Impairment::default().reorder(0.5, Duration::from_millis(10));
        let mut l = Link::new(imp, 5);
        let t0 = Instant::now();
        let arrivals: Vec<_> = (0..100u64)
            .map(|i| l.admit(t0 + Duration::from_millis(i), 100).unwrap())
            .collect();
        assert!(arrivals.windows(2).any(|w| w[1] < w[0]));
        assert!(l.stats.reordered > 20);
    }

    #[test]
    fn a_rate_cap_spaces_datagrams_and_drops_what_overflows() {
        // 1 Mbit/s: 1250 bytes take 10 ms; the queue holds 100 ms.
        let imp = Impairment::default().rate(Some(1_000_000));
        let mut l = Link::new(imp, 1);
        let t0 = Instant::now();
        let arrivals: Vec<_> = (0..50).map(|_| l.admit(t0, 1250)).collect();
        let passed: Vec<_> = arrivals.iter().flatten().collect();
        assert_eq!(passed.len(), 11, "10 ms each, 100 ms of queue");
        assert_eq!(*passed[1], t0 + Duration::from_millis(20));
        assert_eq!(l.stats.overflowed, 39);
        // Later, the queue has drained.
        assert!(l.admit(t0 + Duration::from_secs(1), 1250).is_some());
    }
}
