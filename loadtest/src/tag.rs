//! The tag every synthetic payload carries after its codec header, so that a
//! receiver knows which layer and frame a packet belongs to and how long it
//! travelled: magic `RLAY`, the layer index (0, 1, 2; [`AUDIO_LAYER`] for
//! audio), the frame number and the send time.
//!
//! Layout (17 bytes, big-endian):
//! `b"RLAY" | layer: u8 | frame: u32 | sent_us: u64` (microseconds since the
//! Unix epoch). Writing and reading never allocate.

use std::time::{Duration, SystemTime, UNIX_EPOCH};

/// The four bytes that start a tag.
pub const MAGIC: [u8; 4] = *b"RLAY";
/// The layer index of audio packets.
pub const AUDIO_LAYER: u8 = 255;
/// Bytes of one tag.
pub const TAG_LEN: usize = 17;

/// What a payload's tag says.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Tag {
    /// Simulcast layer index, or [`AUDIO_LAYER`].
    pub layer: u8,
    /// Frame number within the layer (packet number for audio).
    pub frame: u32,
    /// Send time in microseconds since the Unix epoch.
    pub sent_us: u64,
}

impl Tag {
    /// Write the tag into the first [`TAG_LEN`] bytes of `out`.
    ///
    /// # Panics
    /// When `out` is shorter than [`TAG_LEN`].
    pub fn write(&self, out: &mut [u8]) {
        out[..4].copy_from_slice(&MAGIC);
        out[4] = self.layer;
        out[5..9].copy_from_slice(&self.frame.to_be_bytes());
        out[9..17].copy_from_slice(&self.sent_us.to_be_bytes());
    }

    /// The tag at the start of `bytes`, if there is one.
    pub fn read(bytes: &[u8]) -> Option<Tag> {
        let t = bytes.get(..TAG_LEN)?;
        if t[..4] != MAGIC {
            return None;
        }
        Some(Tag {
            layer: t[4],
            frame: u32::from_be_bytes([t[5], t[6], t[7], t[8]]),
            sent_us: u64::from_be_bytes([t[9], t[10], t[11], t[12], t[13], t[14], t[15], t[16]]),
        })
    }

    pub fn is_audio(&self) -> bool {
        self.layer == AUDIO_LAYER
    }

    /// How long ago (by the wall clock `now_us`) the packet was sent; `None`
    /// when the clock says it was sent in the future.
    pub fn latency(&self, now_us: u64) -> Option<Duration> {
        now_us.checked_sub(self.sent_us).map(Duration::from_micros)
    }
}

/// The wall clock in microseconds since the Unix epoch.
pub fn unix_micros() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_micros() as u64)
        .unwrap_or(0)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trips() {
        let tag = Tag {
            layer: 2,
            frame: 0xdead_beef,
            sent_us: 1_790_000_000_123_456,
        };
        let mut buf = [0u8; 20];
        tag.write(&mut buf);
        assert_eq!(&buf[..4], b"RLAY");
        assert_eq!(Tag::read(&buf), Some(tag));
    }

    #[test]
    fn rejects_short_or_foreign_bytes() {
        assert_eq!(Tag::read(b"RLAY"), None);
        assert_eq!(Tag::read(&[0u8; 17]), None);
        let mut buf = [0u8; 17];
        Tag {
            layer: AUDIO_LAYER,
            frame: 1,
            sent_us: 5,
        }
        .write(&mut buf);
        let tag = Tag::read(&buf).unwrap();
        assert!(tag.is_audio());
        assert_eq!(tag.latency(7), Some(Duration::from_micros(2)));
        assert_eq!(tag.latency(4), None);
    }
}
