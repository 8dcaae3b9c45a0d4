//! What the forwarding path needs to know about a payload, per codec:
//! does this packet start a keyframe, and for VP8, how large is the picture
//! and which temporal layer it belongs to.
//!
//! These functions only read the payload; they never allocate.

use crate::vp9_descriptor::Vp9Descriptor;

/// The codecs the core tells apart.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Codec {
    Opus,
    Vp8,
    Vp9,
    H264,
    H265,
    Av1,
    /// Audio codecs other than Opus (PCMU, PCMA, G722...): no layers, no keyframes.
    OtherAudio,
}

impl Codec {
    pub fn from_str0m(codec: str0m::format::Codec) -> Option<Codec> {
        use str0m::format::Codec as C;
        Some(match codec {
            C::Opus => Codec::Opus,
            C::Vp8 => Codec::Vp8,
            C::Vp9 => Codec::Vp9,
            C::H264 => Codec::H264,
            C::H265 => Codec::H265,
            C::Av1 => Codec::Av1,
            c if c.is_audio() => Codec::OtherAudio,
            _ => return None,
        })
    }

    pub fn is_audio(self) -> bool {
        matches!(self, Codec::Opus | Codec::OtherAudio)
    }

    pub fn name(self) -> &'static str {
        match self {
            Codec::Opus => "opus",
            Codec::Vp8 => "VP8",
            Codec::Vp9 => "VP9",
            Codec::H264 => "H264",
            Codec::H265 => "H265",
            Codec::Av1 => "AV1",
            Codec::OtherAudio => "audio",
        }
    }

    /// Whether this packet is the first packet of a keyframe. Audio packets
    /// always count as one: any of them can start a stream.
    pub fn starts_keyframe(self, payload: &[u8]) -> bool {
        match self {
            Codec::Opus | Codec::OtherAudio => true,
            Codec::Vp8 => vp8_starts_keyframe(payload),
            Codec::Vp9 => vp9_starts_keyframe(payload),
            Codec::H264 => h264_starts_keyframe(payload),
            Codec::H265 => h265_starts_keyframe(payload),
            Codec::Av1 => av1_starts_keyframe(payload),
        }
    }
}

fn vp8_starts_keyframe(payload: &[u8]) -> bool {
    match str0m::rtp::Vp8Descriptor::parse(payload) {
        Ok(d) => d.starts_keyframe(payload),
        Err(_) => false,
    }
}

/// Width and height from the header of a VP8 keyframe (RFC 6386 9.1), when
/// this packet starts one.
pub fn vp8_keyframe_size(payload: &[u8]) -> Option<(u32, u32)> {
    let d = str0m::rtp::Vp8Descriptor::parse(payload).ok()?;
    if !d.starts_keyframe(payload) {
        return None;
    }
    let offset = vp8_descriptor_len(payload)?;
    let frame = payload.get(offset..offset + 10)?;
    if frame[3..6] != [0x9d, 0x01, 0x2a] {
        return None;
    }
    let width = u32::from(u16::from_le_bytes([frame[6], frame[7]]) & 0x3fff);
    let height = u32::from(u16::from_le_bytes([frame[8], frame[9]]) & 0x3fff);
    Some((width, height))
}

/// Length of the VP8 payload descriptor (RFC 7741 4.2), if `payload` holds one.
pub fn vp8_descriptor_len(payload: &[u8]) -> Option<usize> {
    let first = *payload.first()?;
    let mut len = 1;
    if first & 0x80 != 0 {
        let ext = *payload.get(1)?;
        len += 1;
        if ext & 0x80 != 0 {
            len += if payload.get(len)? & 0x80 != 0 { 2 } else { 1 };
        }
        if ext & 0x40 != 0 {
            len += 1;
        }
        if ext & 0x30 != 0 {
            len += 1;
        }
    }
    (len <= payload.len()).then_some(len)
}

/// A packet's temporal layer (RFC 7741 4.2: TID and the layer sync bit Y).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Temporal {
    /// Temporal layer index: 0 is the base layer.
    pub tid: u8,
    /// Y: this frame depends only on the base layer, so a receiver can start
    /// taking layer `tid` here.
    pub layer_sync: bool,
}

/// The temporal layer of a VP8 packet, when its descriptor has one (T=1).
pub fn vp8_temporal(payload: &[u8]) -> Option<Temporal> {
    let first = *payload.first()?;
    if first & 0x80 == 0 {
        return None;
    }
    let ext = *payload.get(1)?;
    if ext & 0x20 == 0 {
        return None;
    }
    let mut at = 2;
    if ext & 0x80 != 0 {
        at += if payload.get(at)? & 0x80 != 0 { 2 } else { 1 };
    }
    if ext & 0x40 != 0 {
        at += 1;
    }
    let byte = *payload.get(at)?;
    Some(Temporal {
        tid: byte >> 6,
        layer_sync: byte & 0x20 != 0,
    })
}

/// Where a packet of an SVC stream (VP9 with spatial layers in one SSRC)
/// sits in its picture.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Spatial {
    /// Spatial layer index (SID), 0 the lowest resolution.
    pub sid: u8,
    /// The last packet of this spatial layer's frame in the picture (E).
    pub ends_layer_frame: bool,
}

/// Whether a VP8 packet is the first of its frame: S=1 and partition 0.
pub fn vp8_starts_frame(payload: &[u8]) -> bool {
    payload
        .first()
        .is_some_and(|b| b & 0x10 != 0 && b & 0x07 == 0)
}

/// VP9 (RFC 9628): B (start of frame) set and P (inter-picture predicted)
/// clear, on the base spatial layer.
fn vp9_starts_keyframe(payload: &[u8]) -> bool {
    Vp9Descriptor::parse(payload).is_some_and(|d| d.starts_keyframe())
}

/// H.264 (RFC 6184): an IDR slice or an SPS, alone, in a STAP-A, or at the
/// start of an FU-A.
fn h264_starts_keyframe(payload: &[u8]) -> bool {
    let Some(&first) = payload.first() else {
        return false;
    };
    match first & 0x1f {
        5 | 7 => true,
        24 => {
            // STAP-A: [header][size16][nal]...
            let mut at = 1;
            while at + 2 < payload.len() {
                let size = usize::from(u16::from_be_bytes([payload[at], payload[at + 1]]));
                let nal = payload[at + 2] & 0x1f;
                if nal == 5 || nal == 7 {
                    return true;
                }
                at += 2 + size;
            }
            false
        }
        28 => payload
            .get(1)
            .is_some_and(|fu| fu & 0x80 != 0 && matches!(fu & 0x1f, 5 | 7)),
        _ => false,
    }
}

/// H.265 (RFC 7798): IRAP pictures (types 16..=21) or a VPS/SPS, alone, in an
/// aggregation packet, or at the start of a fragmentation unit.
fn h265_starts_keyframe(payload: &[u8]) -> bool {
    fn key(t: u8) -> bool {
        (16..=21).contains(&t) || t == 32 || t == 33
    }
    let Some(&first) = payload.first() else {
        return false;
    };
    match (first >> 1) & 0x3f {
        48 => payload.get(4).is_some_and(|b| key((b >> 1) & 0x3f)),
        49 => payload
            .get(2)
            .is_some_and(|fu| fu & 0x80 != 0 && key(fu & 0x3f)),
        t => key(t),
    }
}

/// AV1 (RTP payload format 4.4): the N bit marks the first packet of a coded
/// video sequence, which starts with a keyframe.
fn av1_starts_keyframe(payload: &[u8]) -> bool {
    payload.first().is_some_and(|b| b & 0x08 != 0)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn vp8(keyframe: bool, start: bool, w: u16, h: u16) -> Vec<u8> {
        // X=1, S, PID=0; I=1 L=1 T=1; 15-bit picture id; tl0; tid=2,y=1
        let mut p = vec![
            0x80 | if start { 0x10 } else { 0 },
            0xe0,
            0x80 | 0x12,
            0x34,
            7,
            0x80 | 0x20,
        ];
        let tag = if keyframe { 0x00 } else { 0x01 };
        p.extend_from_slice(&[tag, 0, 0, 0x9d, 0x01, 0x2a]);
        p.extend_from_slice(&w.to_le_bytes());
        p.extend_from_slice(&h.to_le_bytes());
        p.extend_from_slice(&[0; 20]);
        p
    }

    #[test]
    fn vp8_keyframes_and_sizes_are_read_from_the_payload() {
        assert!(Codec::Vp8.starts_keyframe(&vp8(true, true, 640, 360)));
        assert!(!Codec::Vp8.starts_keyframe(&vp8(false, true, 640, 360)));
        assert!(!Codec::Vp8.starts_keyframe(&vp8(true, false, 640, 360)));
        assert_eq!(
            vp8_keyframe_size(&vp8(true, true, 640, 360)),
            Some((640, 360))
        );
        assert_eq!(vp8_keyframe_size(&vp8(false, true, 640, 360)), None);
        assert_eq!(
            vp8_temporal(&vp8(false, true, 1, 1)),
            Some(Temporal {
                tid: 2,
                layer_sync: true
            })
        );
        assert!(vp8_starts_frame(&vp8(false, true, 1, 1)));
        assert!(!vp8_starts_frame(&vp8(false, false, 1, 1)));
        // 7-bit picture id, no TL0PICIDX: TID 1, Y 0.
        assert_eq!(
            vp8_temporal(&[0x90, 0xa0, 0x05, 0x40, 0]),
            Some(Temporal {
                tid: 1,
                layer_sync: false
            })
        );
        // No T bit, or no extension at all: no temporal layer.
        assert_eq!(vp8_temporal(&[0x90, 0x80, 0x05, 0]), None);
        assert_eq!(vp8_temporal(&[0x10, 0]), None);
        assert_eq!(vp8_temporal(&[0x90, 0xe0, 0x80]), None);
        assert!(!Codec::Vp8.starts_keyframe(&[]));
        assert_eq!(vp8_keyframe_size(&[0x80]), None);
    }

    #[test]
    fn h264_keyframes_alone_aggregated_and_fragmented() {
        assert!(Codec::H264.starts_keyframe(&[0x65, 1, 2]));
        assert!(Codec::H264.starts_keyframe(&[0x67, 1, 2]));
        assert!(!Codec::H264.starts_keyframe(&[0x41, 1, 2]));
        // STAP-A with SPS then PPS
        assert!(Codec::H264.starts_keyframe(&[0x78, 0, 2, 0x67, 0, 0, 2, 0x68, 0]));
        // FU-A start of IDR, and its continuation
        assert!(Codec::H264.starts_keyframe(&[0x7c, 0x85, 0]));
        assert!(!Codec::H264.starts_keyframe(&[0x7c, 0x05, 0]));
        // truncated STAP-A never reads out of bounds
        assert!(!Codec::H264.starts_keyframe(&[0x78, 0xff]));
    }

    #[test]
    fn vp9_av1_and_audio() {
        assert!(Codec::Vp9.starts_keyframe(&[0x08, 0]));
        assert!(!Codec::Vp9.starts_keyframe(&[0x48, 0]));
        assert!(Codec::Av1.starts_keyframe(&[0x08]));
        assert!(!Codec::Av1.starts_keyframe(&[0x00]));
        assert!(Codec::Opus.starts_keyframe(&[1, 2, 3]));
    }
}
