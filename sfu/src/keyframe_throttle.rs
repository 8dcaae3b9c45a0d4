//! At most one keyframe request per layer of a published track per interval,
//! however many subscribers ask (JVB waits about 200 ms, LiveKit 500 ms).

use std::time::{Duration, Instant};

pub const KEYFRAME_REQUEST_INTERVAL: Duration = Duration::from_millis(500);

#[derive(Debug, Default)]
pub struct KeyframeThrottle {
    last: [Option<Instant>; 3],
}

impl KeyframeThrottle {
    /// Whether a request for `layer` may go out now; if so it is recorded.
    pub fn allow(&mut self, layer: u8, now: Instant) -> bool {
        let Some(slot) = self.last.get_mut(usize::from(layer)) else {
            return false;
        };
        match slot {
            Some(t) if now.saturating_duration_since(*t) < KEYFRAME_REQUEST_INTERVAL => false,
            _ => {
                *slot = Some(now);
                true
            }
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
        assert!(k.allow(0, t0));
        assert!(!k.allow(0, t0 + Duration::from_millis(499)));
        assert!(k.allow(1, t0 + Duration::from_millis(10)));
        assert!(k.allow(0, t0 + Duration::from_millis(500)));
        assert!(!k.allow(7, t0));
    }
}
