//! How many bytes each frame of a layer gets, so that a layer's stream has
//! its configured bitrate: every frame earns `bitrate / 8 / fps` bytes of
//! credit; a keyframe spends [`KEYFRAME_FACTOR`] frames' worth at once and the
//! frames after it are smaller until the debt is repaid, as a real rate
//! controller does. Integer arithmetic in millibytes: no drift.

/// A keyframe is this many average frames large.
pub const KEYFRAME_FACTOR: u64 = 3;
/// An interframe is never smaller than this fraction of an average frame.
const MIN_FRACTION: u64 = 4;
/// ... nor larger than this many average frames.
const MAX_FACTOR: u64 = 2;

#[derive(Debug, Clone)]
pub struct FramePacer {
    /// Average frame size in millibytes.
    per_frame_mb: u64,
    /// Bytes earned and not yet spent, in millibytes (negative after a keyframe).
    credit_mb: i64,
    /// The smallest frame this pacer hands out, in bytes.
    floor: usize,
}

impl FramePacer {
    /// A pacer for `bitrate_bps` at `fps` frames per second; no frame is
    /// smaller than `floor` bytes (the headers a frame needs).
    pub fn new(bitrate_bps: u64, fps: u32, floor: usize) -> FramePacer {
        let fps = u64::from(fps.max(1));
        FramePacer {
            per_frame_mb: bitrate_bps * 1000 / 8 / fps,
            credit_mb: 0,
            floor,
        }
    }

    /// Average frame size in bytes.
    pub fn average(&self) -> usize {
        (self.per_frame_mb / 1000) as usize
    }

    /// The size in bytes of the next frame.
    pub fn next_frame(&mut self, key: bool) -> usize {
        self.credit_mb += self.per_frame_mb as i64;
        let want_mb = if key {
            self.per_frame_mb * KEYFRAME_FACTOR
        } else {
            let credit = self.credit_mb.max(0) as u64;
            credit.clamp(
                self.per_frame_mb / MIN_FRACTION,
                self.per_frame_mb * MAX_FACTOR,
            )
        };
        let bytes = ((want_mb / 1000) as usize).max(self.floor);
        self.credit_mb -= bytes as i64 * 1000;
        bytes
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Bytes over `seconds` at 30 fps with a keyframe every `key_every` frames.
    fn bytes_over(bitrate: u64, seconds: u64, key_every: u64) -> u64 {
        let mut p = FramePacer::new(bitrate, 30, 40);
        (0..30 * seconds)
            .map(|f| p.next_frame(f % key_every == 0) as u64)
            .sum()
    }

    #[test]
    fn delivers_the_bitrate() {
        for bitrate in [150_000u64, 500_000, 1_500_000] {
            let bytes = bytes_over(bitrate, 10, 90);
            let want = bitrate / 8 * 10;
            let err = (bytes as f64 - want as f64).abs() / want as f64;
            assert!(
                err < 0.02,
                "{bitrate} bit/s gave {bytes} bytes in 10 s, want {want}"
            );
        }
    }

    #[test]
    fn keyframes_are_larger_and_repaid() {
        let mut p = FramePacer::new(1_500_000, 30, 40);
        let avg = p.average();
        assert_eq!(avg, 6250);
        let key = p.next_frame(true);
        assert_eq!(key, 3 * avg);
        let after = p.next_frame(false);
        assert!(after < avg, "the frame after a keyframe repays: {after}");
        // Every keyframe: still the bitrate, even with keyframes on every PLI.
        let bytes = bytes_over(1_500_000, 10, 15);
        let want = 1_500_000 / 8 * 10;
        let err = (bytes as f64 - want as f64).abs() / want as f64;
        assert!(err < 0.1, "{bytes} vs {want}");
    }

    #[test]
    fn never_below_the_floor() {
        let mut p = FramePacer::new(1_000, 30, 40);
        for f in 0..100 {
            assert!(p.next_frame(f % 10 == 0) >= 40);
        }
    }
}
