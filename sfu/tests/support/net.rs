//! A simulated access link for the virtual world: one-way delay, jitter,
//! reordering, random loss from a seeded generator, and a bandwidth cap as a
//! bottleneck queue (serialisation at the link rate, a bounded queue that
//! drops at its tail, as `tbf` does). Deterministic for a given seed.

use std::cmp::Ordering;
use std::collections::BinaryHeap;
use std::net::SocketAddr;
use std::time::{Duration, Instant};

/// How one direction of a link behaves. The default is a perfect link:
/// datagrams arrive at once, as the world always did.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct LinkConfig {
    /// One-way propagation delay.
    pub delay: Duration,
    /// Extra delay, uniform in `0..jitter`, per datagram. Arrivals stay in
    /// order unless a datagram is picked for reordering.
    pub jitter: Duration,
    /// Share of datagrams (in percent) held back by `reorder_delay`, so that
    /// later ones overtake them.
    pub reorder_percent: f64,
    pub reorder_delay: Duration,
    /// Share of SRTP/SRTCP datagrams (in percent) lost at random.
    pub loss_percent: f64,
    /// Bottleneck rate in bit/s (`None`: unlimited). Counts IP and UDP headers.
    pub rate_bps: Option<u64>,
    /// How much the bottleneck queue holds, as time at the link rate; what
    /// would wait longer is dropped at the tail.
    pub queue: Duration,
}

impl Default for LinkConfig {
    fn default() -> Self {
        LinkConfig {
            delay: Duration::ZERO,
            jitter: Duration::ZERO,
            reorder_percent: 0.0,
            reorder_delay: Duration::from_millis(20),
            loss_percent: 0.0,
            rate_bps: None,
            queue: Duration::from_millis(200),
        }
    }
}

impl LinkConfig {
    pub fn is_perfect(&self) -> bool {
        *self
            == LinkConfig {
                reorder_delay: self.reorder_delay,
                queue: self.queue,
                ..LinkConfig::default()
            }
    }
}

/// Counters of one direction of a link.
#[derive(Debug, Default, Clone, Copy)]
pub struct LinkStats {
    pub sent: u64,
    pub delivered: u64,
    pub delivered_bytes: u64,
    pub lost_random: u64,
    pub lost_queue: u64,
    pub reordered: u64,
}

/// One direction of a link and its state.
#[derive(Debug, Default)]
pub struct Link {
    pub config: LinkConfig,
    pub stats: LinkStats,
    /// When the bottleneck finishes sending what it holds.
    busy_until: Option<Instant>,
    /// Latest in-order arrival so far.
    last_arrival: Option<Instant>,
}

/// IPv4 + UDP headers, counted against the rate like a real link does.
const HEADERS: u64 = 28;

impl Link {
    /// When a datagram sent at `now` arrives, or `None` if the link drops it.
    pub fn admit(&mut self, now: Instant, data: &[u8], rng: &mut Rng) -> Option<Instant> {
        let c = self.config;
        self.stats.sent += 1;
        let srtp = data.first().is_some_and(|b| (0x80..0xc0).contains(b));
        if srtp && c.loss_percent > 0.0 && rng.percent() < c.loss_percent {
            self.stats.lost_random += 1;
            return None;
        }
        let mut depart = now;
        if let Some(rate) = c.rate_bps {
            let start = self.busy_until.map_or(now, |b| b.max(now));
            if start.saturating_duration_since(now) > c.queue {
                self.stats.lost_queue += 1;
                return None;
            }
            let bits = (data.len() as u64 + HEADERS) * 8;
            depart = start + Duration::from_nanos(bits * 1_000_000_000 / rate.max(1));
            self.busy_until = Some(depart);
        }
        let jitter = c.jitter.mul_f64(rng.unit());
        let mut at = depart + c.delay + jitter;
        if c.reorder_percent > 0.0 && rng.percent() < c.reorder_percent {
            self.stats.reordered += 1;
            at += c.reorder_delay;
        } else {
            at = at.max(self.last_arrival.unwrap_or(at));
            self.last_arrival = Some(at);
        }
        self.stats.delivered += 1;
        self.stats.delivered_bytes += data.len() as u64;
        Some(at)
    }
}

/// SplitMix64: small, seeded, good enough for a network simulation.
#[derive(Debug, Clone)]
pub struct Rng(u64);

impl Rng {
    pub fn new(seed: u64) -> Rng {
        Rng(seed)
    }

    pub fn next_u64(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9e37_79b9_7f4a_7c15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
        z ^ (z >> 31)
    }

    /// Uniform in `[0, 1)`.
    pub fn unit(&mut self) -> f64 {
        (self.next_u64() >> 11) as f64 / (1u64 << 53) as f64
    }

    pub fn percent(&mut self) -> f64 {
        self.unit() * 100.0
    }
}

/// A datagram on its way.
#[derive(Debug)]
pub struct Flight {
    pub at: Instant,
    order: u64,
    pub from: SocketAddr,
    pub to: SocketAddr,
    pub data: Vec<u8>,
}

impl PartialEq for Flight {
    fn eq(&self, o: &Self) -> bool {
        (self.at, self.order) == (o.at, o.order)
    }
}
impl Eq for Flight {}
impl PartialOrd for Flight {
    fn partial_cmp(&self, o: &Self) -> Option<Ordering> {
        Some(self.cmp(o))
    }
}
impl Ord for Flight {
    /// Reversed: the heap pops the earliest arrival first.
    fn cmp(&self, o: &Self) -> Ordering {
        (o.at, o.order).cmp(&(self.at, self.order))
    }
}

/// Datagrams in flight, earliest arrival first (ties in sending order).
#[derive(Debug, Default)]
pub struct InFlight {
    heap: BinaryHeap<Flight>,
    sent: u64,
}

impl InFlight {
    pub fn push(&mut self, at: Instant, from: SocketAddr, to: SocketAddr, data: Vec<u8>) {
        self.sent += 1;
        self.heap.push(Flight {
            at,
            order: self.sent,
            from,
            to,
            data,
        });
    }

    pub fn next_at(&self) -> Option<Instant> {
        self.heap.peek().map(|f| f.at)
    }

    pub fn pop_due(&mut self, now: Instant) -> Option<Flight> {
        if self.next_at()? <= now {
            self.heap.pop()
        } else {
            None
        }
    }
}
