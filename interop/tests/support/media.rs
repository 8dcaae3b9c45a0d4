//! Synthetic media: VP8 and Opus payloads that carry a marker, and the
//! parsing a receiver does to check them.

use rtc::rtp;

/// Payload types of webrtc-rs's default codecs.
pub const VP8_PT: u8 = 96;
pub const OPUS_PT: u8 = 111;

/// Bytes every synthetic payload carries, followed by a big-endian u32
/// counter (the frame number for video) and, for video, the packet's index
/// within its frame and its simulcast layer.
pub const MARKER: &[u8; 4] = b"RLAY";

/// The RTP payloads of one VP8 frame (RFC 7741) of simulcast layer `layer`
/// (0 without simulcast): a payload descriptor with a 15-bit picture id, the
/// VP8 payload header on the first packet (with the keyframe start code and
/// the layer's size on keyframes), then [`MARKER`], the frame number, the
/// packet index and the layer, padded to a plausible size.
pub fn vp8_frame(frame: u32, picture_id: u16, keyframe: bool, layer: u8) -> Vec<Vec<u8>> {
    let (packets, size) = if keyframe { (3, 1100) } else { (1, 500) };
    let (width, height) = (320u16 << layer, 180u16 << layer);
    (0..packets)
        .map(|index| {
            let start = index == 0;
            // X=1, S on the first packet, PID=0; I=1; M=1 and the 15-bit picture id.
            let mut p = vec![
                if start { 0x90 } else { 0x80 },
                0x80,
                0x80 | ((picture_id >> 8) as u8 & 0x7f),
                picture_id as u8,
            ];
            if start {
                // Frame tag (RFC 6386 9.1): show_frame=1, P=0 on keyframes.
                p.extend([if keyframe { 0x10 } else { 0x11 }, 0x00, 0x00]);
                if keyframe {
                    p.extend([0x9d, 0x01, 0x2a]);
                    p.extend(width.to_le_bytes());
                    p.extend(height.to_le_bytes());
                }
            }
            p.extend(MARKER);
            p.extend(frame.to_be_bytes());
            p.extend([index as u8, layer]);
            p.resize(size, 0);
            p
        })
        .collect()
}

/// An Opus-sized audio payload: a TOC byte, [`MARKER`] and the packet counter.
pub fn opus_payload(counter: u32) -> Vec<u8> {
    let mut p = vec![0xfc];
    p.extend(MARKER);
    p.extend(counter.to_be_bytes());
    p.resize(80, 0);
    p
}

/// What a receiver reads back from a VP8 payload.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Vp8Info {
    /// S=1 and PID=0: the first packet of a frame.
    pub start: bool,
    /// The first packet of a keyframe (frame tag P bit clear).
    pub keyframe: bool,
    /// What the publisher wrote after [`MARKER`], if it is there.
    pub mark: Option<Mark>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Mark {
    pub frame: u32,
    pub index: u8,
    pub layer: u8,
}

pub fn parse_vp8(payload: &[u8]) -> Option<Vp8Info> {
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
    let start = first & 0x10 != 0 && first & 0x07 == 0;
    let keyframe = start && payload.get(len)? & 0x01 == 0;
    let mark = find_marker(payload).and_then(|at| {
        let b = payload.get(at..at + 6)?;
        Some(Mark {
            frame: u32::from_be_bytes([b[0], b[1], b[2], b[3]]),
            index: b[4],
            layer: b[5],
        })
    });
    Some(Vp8Info {
        start,
        keyframe,
        mark,
    })
}

/// The counter after [`MARKER`] in an audio payload.
pub fn parse_opus(payload: &[u8]) -> Option<u32> {
    let at = find_marker(payload)?;
    let b = payload.get(at..at + 4)?;
    Some(u32::from_be_bytes([b[0], b[1], b[2], b[3]]))
}

/// Index just past the marker.
fn find_marker(payload: &[u8]) -> Option<usize> {
    payload
        .windows(MARKER.len())
        .position(|w| w == MARKER)
        .map(|at| at + MARKER.len())
}

/// A plain RTP packet (no header extensions).
pub fn rtp_packet(
    pt: u8,
    seq: u16,
    ts: u32,
    ssrc: u32,
    marker: bool,
    payload: Vec<u8>,
) -> rtp::Packet {
    rtp::Packet {
        header: rtp::Header {
            version: 2,
            marker,
            payload_type: pt,
            sequence_number: seq,
            timestamp: ts,
            ssrc,
            ..Default::default()
        },
        payload: payload.into(),
    }
}
