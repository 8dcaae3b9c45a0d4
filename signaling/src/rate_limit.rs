//! A token bucket per connection: `rate` messages a second with a burst of
//! `burst`, and a count of refusals that tells when a client keeps flooding.
//! Time is a parameter, so tests need no clock.

use std::time::{Duration, Instant};

/// Refusals in a row (without a quiet second between them) after which the
/// connection is closed, as a multiple of the rate.
const PATIENCE_SECONDS: u32 = 2;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Verdict {
    Allow,
    /// Refuse this message, keep the connection.
    Refuse,
    /// Refused for too long: close the connection.
    Close,
}

#[derive(Debug)]
pub struct RateLimiter {
    rate: f64,
    burst: f64,
    tokens: f64,
    last: Instant,
    refusals: u32,
    max_refusals: u32,
    last_refusal: Option<Instant>,
}

impl RateLimiter {
    /// `rate` messages per second, bursts of twice that.
    pub fn new(rate: u32, now: Instant) -> Self {
        let rate = rate.max(1);
        let burst = f64::from(rate) * 2.0;
        RateLimiter {
            rate: f64::from(rate),
            burst,
            tokens: burst,
            last: now,
            refusals: 0,
            max_refusals: rate.saturating_mul(PATIENCE_SECONDS),
            last_refusal: None,
        }
    }

    pub fn check(&mut self, now: Instant) -> Verdict {
        let elapsed = now.saturating_duration_since(self.last).as_secs_f64();
        self.last = now;
        self.tokens = (self.tokens + elapsed * self.rate).min(self.burst);
        if self
            .last_refusal
            .is_some_and(|t| now.saturating_duration_since(t) >= Duration::from_secs(1))
        {
            self.refusals = 0;
        }
        if self.tokens >= 1.0 {
            self.tokens -= 1.0;
            return Verdict::Allow;
        }
        self.refusals += 1;
        self.last_refusal = Some(now);
        if self.refusals > self.max_refusals {
            Verdict::Close
        } else {
            Verdict::Refuse
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn allows_a_burst_then_refuses() {
        let t0 = Instant::now();
        let mut rl = RateLimiter::new(10, t0);
        for _ in 0..20 {
            assert_eq!(rl.check(t0), Verdict::Allow);
        }
        assert_eq!(rl.check(t0), Verdict::Refuse);
    }

    #[test]
    fn refills_at_the_rate() {
        let t0 = Instant::now();
        let mut rl = RateLimiter::new(10, t0);
        for _ in 0..20 {
            rl.check(t0);
        }
        assert_eq!(rl.check(t0), Verdict::Refuse);
        // 100 ms at 10/s gives one token back.
        let t1 = t0 + Duration::from_millis(100);
        assert_eq!(rl.check(t1), Verdict::Allow);
        assert_eq!(rl.check(t1), Verdict::Refuse);
    }

    #[test]
    fn steady_rate_is_never_refused() {
        let t0 = Instant::now();
        let mut rl = RateLimiter::new(50, t0);
        for i in 0..1000u64 {
            let t = t0 + Duration::from_millis(20 * i);
            assert_eq!(rl.check(t), Verdict::Allow, "message {i}");
        }
    }

    #[test]
    fn sustained_flood_closes() {
        let t0 = Instant::now();
        let mut rl = RateLimiter::new(10, t0);
        let mut verdicts = Vec::new();
        for i in 0..100u64 {
            verdicts.push(rl.check(t0 + Duration::from_millis(i)));
        }
        assert_eq!(verdicts.last(), Some(&Verdict::Close));
        let first_close = verdicts.iter().position(|v| *v == Verdict::Close).unwrap();
        // 20 allowed in the burst, then 20 refusals of patience.
        assert_eq!(first_close, 40);
    }

    #[test]
    fn a_quiet_second_forgives() {
        let t0 = Instant::now();
        let mut rl = RateLimiter::new(10, t0);
        for _ in 0..35 {
            rl.check(t0);
        }
        let later = t0 + Duration::from_secs(2);
        for _ in 0..35 {
            assert_ne!(rl.check(later), Verdict::Close);
        }
    }
}
