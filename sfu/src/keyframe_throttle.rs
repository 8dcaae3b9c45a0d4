//! At most one keyframe request per layer of a published track per interval,
//! however many subscribers ask (JVB waits about 200 ms, LiveKit 500 ms).

use std::time::{Duration, Instant};

pub const KEYFRAME_REQUEST_INTERVAL: Duration = Duration::from_millis(500);

#[derive(Debug, Default)]
pub struct KeyframeThrottle {
    last: [Option<Instant>; 3],
}

impl KeyframeThrottle {
    /// Whether a request for `layer` may go out now.
    pub fn ready(&self, layer: u8, now: Instant) -> bool {
        match self.last.get(usize::from(layer)) {
            None => false,
            Some(Some(t)) => now.saturating_duration_since(*t) >= KEYFRAME_REQUEST_INTERVAL,
            Some(None) => true,
        }
    }

    /// A request for `layer` went out at `now`.
    pub fn record(&mut self, layer: u8, now: Instant) {
        if let Some(slot) = self.last.get_mut(usize::from(layer)) {
            *slot = Some(now);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn one_request_per_layer_per_interval() {
        let t0 = Instant::now();
        let mut k = KeyframeThrottle::default();
        let ms = Duration::from_millis;
        assert!(k.ready(0, t0));
        k.record(0, t0);
        assert!(!k.ready(0, t0 + ms(499)));
        assert!(k.ready(1, t0 + ms(10)));
        assert!(k.ready(0, t0 + ms(500)));
        assert!(!k.ready(7, t0));
    }
}
