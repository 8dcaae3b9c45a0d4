//! VP8 RTP payloads as a real encoder's packetizer lays them out (RFC 7741)
//! and a reader for them.
//!
//! Every payload starts with a 6-byte descriptor: X=1; I=1 with a 15-bit
//! PictureID; L=1 with TL0PICIDX; T=1 with the TID and Y of the frame (with
//! temporal layers, Chromium's L1T3 pattern: [`L1T3_TIDS`]). The first packet of
//! a frame (S=1, PID=0) then carries the frame header (RFC 6386 9.1): a 3-byte
//! frame tag (P=0 for a keyframe, 1 for an interframe) and, on keyframes, the
//! start code `9d 01 2a` and the 14-bit width and height. These functions write
//! into and read from caller-owned buffers; they never allocate.

use crate::tag::Tag;

/// Bytes of the payload descriptor this module writes.
pub const DESCRIPTOR_LEN: usize = 6;
/// Bytes of a keyframe's frame header (frame tag, start code, size).
pub const KEY_HEADER_LEN: usize = 10;
/// Bytes of an interframe's frame header (the frame tag).
pub const INTER_HEADER_LEN: usize = 3;
/// The keyframe start code (RFC 6386 9.1).
pub const START_CODE: [u8; 3] = [0x9d, 0x01, 0x2a];

/// Chromium's VP8 with three temporal layers (libwebrtc's default pattern,
/// restarted at every keyframe): the TID of each frame of eight...
pub const L1T3_TIDS: [u8; 8] = [0, 2, 1, 2, 0, 2, 1, 2];
/// ...and its layer sync bit Y: set on the first TL2 and the first TL1 of
/// the eight, which reference only the base layer.
pub const L1T3_SYNC: [bool; 8] = [false, true, true, false, false, false, false, false];

/// A frame's temporal layer: TID and Y.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct FrameLayer {
    pub tid: u8,
    pub layer_sync: bool,
}

impl FrameLayer {
    /// The layer of the frame `since_key` frames after the last keyframe,
    /// with `temporal_layers` layers (1, or 3 for L1T3).
    pub fn nth(since_key: u32, temporal_layers: u8) -> FrameLayer {
        if temporal_layers < 3 {
            return FrameLayer {
                tid: 0,
                layer_sync: true,
            };
        }
        let i = (since_key % 8) as usize;
        FrameLayer {
            tid: L1T3_TIDS[i],
            layer_sync: L1T3_SYNC[i],
        }
    }
}

/// Write the payload descriptor into `out[..DESCRIPTOR_LEN]`.
pub fn write_descriptor(
    out: &mut [u8],
    start: bool,
    picture_id: u16,
    tl0_pic_idx: u8,
    layer: FrameLayer,
) {
    let pid = picture_id & 0x7fff;
    out[0] = 0x80 | if start { 0x10 } else { 0 }; // X, S, PID 0
    out[1] = 0x80 | 0x40 | 0x20; // I, L, T
    out[2] = 0x80 | (pid >> 8) as u8; // M: 15-bit PictureID
    out[3] = pid as u8;
    out[4] = tl0_pic_idx;
    out[5] = (layer.tid & 0x03) << 6 | if layer.layer_sync { 0x20 } else { 0 }; // KEYIDX 0
}

/// Write a frame header into `out`; returns its length ([`KEY_HEADER_LEN`] or
/// [`INTER_HEADER_LEN`]). `first_part_size` is clamped to its 19 bits.
pub fn write_frame_header(
    out: &mut [u8],
    key: bool,
    width: u16,
    height: u16,
    first_part_size: u32,
) -> usize {
    let size = first_part_size.min(0x7_ffff);
    let p = u32::from(!key);
    // bit 0: P (inverse key frame), bits 1-3: version 0, bit 4: show_frame, bits 5-23: size.
    let tag = p | (1 << 4) | (size << 5);
    out[0] = tag as u8;
    out[1] = (tag >> 8) as u8;
    out[2] = (tag >> 16) as u8;
    if !key {
        return INTER_HEADER_LEN;
    }
    out[3..6].copy_from_slice(&START_CODE);
    out[6..8].copy_from_slice(&(width & 0x3fff).to_le_bytes());
    out[8..10].copy_from_slice(&(height & 0x3fff).to_le_bytes());
    KEY_HEADER_LEN
}

/// What a receiver learns from a VP8 payload.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Vp8Info {
    /// S=1 and PID=0: the first packet of a frame.
    pub starts_frame: bool,
    /// The first packet of a keyframe.
    pub keyframe: bool,
    pub picture_id: Option<u16>,
    pub tl0_pic_idx: Option<u8>,
    /// Width and height from a keyframe header.
    pub size: Option<(u16, u16)>,
    /// The synthetic tag after the headers, when the payload has one.
    pub tag: Option<Tag>,
}

/// Length of a VP8 payload descriptor (RFC 7741 4.2), if `payload` holds
/// one: the same parser the media core uses.
pub use relais_sfu::codec::vp8_descriptor_len as descriptor_len;

/// Read a VP8 payload: descriptor, frame header on a frame's first packet,
/// and the tag that follows them.
pub fn read(payload: &[u8]) -> Option<Vp8Info> {
    let d = str0m::rtp::Vp8Descriptor::parse(payload).ok()?;
    let mut at = descriptor_len(payload)?;
    let starts_frame = payload[0] & 0x10 != 0 && payload[0] & 0x07 == 0;
    let keyframe = d.starts_keyframe(payload);
    let mut size = None;
    if starts_frame {
        let header = payload.get(at..)?;
        if keyframe {
            if header.get(3..6) == Some(&START_CODE[..]) && header.len() >= KEY_HEADER_LEN {
                let w = u16::from_le_bytes([header[6], header[7]]) & 0x3fff;
                let h = u16::from_le_bytes([header[8], header[9]]) & 0x3fff;
                size = Some((w, h));
            }
            at += KEY_HEADER_LEN;
        } else {
            at += INTER_HEADER_LEN;
        }
    }
    Some(Vp8Info {
        starts_frame,
        keyframe,
        picture_id: d.picture_id(),
        tl0_pic_idx: d.tl0_pic_idx(),
        size,
        tag: payload.get(at..).and_then(Tag::read),
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::tag::TAG_LEN;
    use str0m::rtp::Vp8Descriptor;

    fn payload(start: bool, key: bool, pid: u16, tl0: u8) -> Vec<u8> {
        let mut p = vec![0u8; 64];
        write_descriptor(&mut p, start, pid, tl0, FrameLayer::nth(0, 1));
        let mut at = DESCRIPTOR_LEN;
        if start {
            at += write_frame_header(&mut p[at..], key, 1280, 720, 40);
        }
        Tag {
            layer: 2,
            frame: 9,
            sent_us: 77,
        }
        .write(&mut p[at..at + TAG_LEN]);
        p
    }

    #[test]
    fn keyframe_parses_with_str0m() {
        let p = payload(true, true, 0x1234, 7);
        let d = Vp8Descriptor::parse(&p).unwrap();
        assert!(d.starts_keyframe(&p));
        assert_eq!(d.picture_id(), Some(0x1234));
        assert_eq!(d.tl0_pic_idx(), Some(7));
        assert_eq!(descriptor_len(&p), Some(DESCRIPTOR_LEN));
        let info = read(&p).unwrap();
        assert!(info.starts_frame && info.keyframe);
        assert_eq!(info.size, Some((1280, 720)));
        assert_eq!(info.tag.unwrap().frame, 9);
        assert_eq!(info.tag.unwrap().layer, 2);
        // The frame tag: P=0, show_frame=1, size 40.
        assert_eq!(p[6] & 1, 0);
        assert_eq!(p[6] & 0x10, 0x10);
        assert_eq!(&p[9..12], &START_CODE);
    }

    #[test]
    fn interframe_and_continuation_are_not_keyframes() {
        let inter = payload(true, false, 0x7fff, 255);
        let d = Vp8Descriptor::parse(&inter).unwrap();
        assert!(!d.starts_keyframe(&inter));
        assert_eq!(d.picture_id(), Some(0x7fff));
        assert_eq!(d.tl0_pic_idx(), Some(255));
        let info = read(&inter).unwrap();
        assert!(info.starts_frame && !info.keyframe);
        assert_eq!(info.size, None);
        assert_eq!(info.tag.unwrap().sent_us, 77);

        let cont = payload(false, true, 3, 1);
        let d = Vp8Descriptor::parse(&cont).unwrap();
        assert!(!d.starts_keyframe(&cont));
        let info = read(&cont).unwrap();
        assert!(!info.starts_frame && !info.keyframe);
        assert_eq!(info.tag.unwrap().layer, 2);
    }

    #[test]
    fn l1t3_frames_carry_chromiums_tids_and_sync_bits() {
        let seen: Vec<(u8, bool)> = (0..10)
            .map(|n| {
                let mut p = vec![0u8; 16];
                write_descriptor(&mut p, true, 1, 1, FrameLayer::nth(n, 3));
                let t = relais_sfu::codec::vp8_temporal(&p).unwrap();
                (t.tid, t.layer_sync)
            })
            .collect();
        assert_eq!(
            seen,
            [
                (0, false),
                (2, true),
                (1, true),
                (2, false),
                (0, false),
                (2, false),
                (1, false),
                (2, false),
                (0, false),
                (2, true)
            ]
        );
        assert_eq!(FrameLayer::nth(5, 1).tid, 0);
    }

    #[test]
    fn picture_id_is_fifteen_bits() {
        let p = payload(true, false, 0x8001, 0);
        assert_eq!(read(&p).unwrap().picture_id, Some(1));
    }

    #[test]
    fn foreign_payloads_have_no_tag() {
        let mut p = vec![0x90, 0xe0, 0x80, 0x01, 0x00, 0x20, 0x01, 0, 0, 1, 2, 3];
        assert_eq!(read(&p).unwrap().tag, None);
        p.truncate(3);
        assert_eq!(read(&p), None);
    }
}
