//! The bitrate of a stream over the last second, from the bytes of its
//! packets: two half-second buckets, so it costs an add per packet and
//! reacts within a second when a layer starts, stops or changes.

use std::time::{Duration, Instant};

const BUCKET: Duration = Duration::from_millis(500);

#[derive(Debug, Default, Clone, Copy)]
pub struct BitrateMeter {
    /// Start of the current bucket.
    start: Option<Instant>,
    current: u64,
    previous: u64,
}

impl BitrateMeter {
    pub fn add(&mut self, bytes: usize, now: Instant) {
        self.roll(now);
        self.current += bytes as u64;
    }

    /// Bits per second over the last full bucket and the current one.
    pub fn bps(&mut self, now: Instant) -> u64 {
        self.roll(now);
        let Some(start) = self.start else { return 0 };
        let span = BUCKET + now.saturating_duration_since(start);
        (self.previous + self.current) * 8 * 1000 / span.as_millis().max(1) as u64
    }

    fn roll(&mut self, now: Instant) {
        let Some(start) = self.start else {
            self.start = Some(now);
            return;
        };
        let elapsed = now.saturating_duration_since(start);
        if elapsed < BUCKET {
            return;
        }
        if elapsed < BUCKET * 2 {
            self.previous = self.current;
            self.start = Some(start + BUCKET);
        } else {
            self.previous = 0;
            self.start = Some(now);
        }
        self.current = 0;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn measures_a_steady_stream_and_forgets_a_stopped_one() {
        let t0 = Instant::now();
        let mut m = BitrateMeter::default();
        // 1,000 bytes every 10 ms = 800 kbit/s, for 3 seconds.
        for i in 0..300 {
            m.add(1000, t0 + Duration::from_millis(i * 10));
        }
        let bps = m.bps(t0 + Duration::from_millis(3000));
        assert!((700_000..=900_000).contains(&bps), "{bps}");
        assert_eq!(m.bps(t0 + Duration::from_secs(5)), 0);
    }
}
