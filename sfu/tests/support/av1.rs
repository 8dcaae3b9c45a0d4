//! An AV1 SVC publisher's packets, as Chromium sends `L3T3_KEY` with the
//! dependency descriptor: one SSRC, each picture a frame per spatial layer
//! (320x180, 640x360, 1280x720) with consecutive frame numbers, temporal
//! layers 0,2,1,2 from each keyframe, the structure on the keyframe's first
//! packet.

use relais_sfu::dd_writer::{l3t3_key, l3t3_key_template, write};

use super::SIZES;

/// Where a picture sits in the publisher's pattern.
#[derive(Debug, Clone, Copy)]
pub struct Picture {
    /// Pictures since the keyframe (0: the keyframe).
    pub since_key: u64,
    /// Frame number of its first layer frame.
    pub frame_number: u16,
}

/// TIDs of the pictures from a keyframe on.
pub const TIDS: [u8; 4] = [0, 2, 1, 2];

/// One packet: payload, marker bit, dependency descriptor.
pub type Packet = (Vec<u8>, bool, Vec<u8>);

/// One picture's packets, lowest spatial layer first. `layers[sid]` gives
/// the packets and payload bytes of each spatial layer's frame. The payload
/// is an AV1 aggregation header (N on the keyframe's first packet) and the
/// test tag (SID, keyframe).
pub fn av1_picture(p: Picture, layers: [(usize, usize); 3]) -> Vec<Packet> {
    let key = p.since_key == 0;
    let kind = if key {
        0
    } else {
        1 + [0, 2, 1, 2][(p.since_key % 4) as usize]
    };
    let structure = l3t3_key(SIZES);
    let mut out = Vec::new();
    for (sid, &(packets, padding)) in layers.iter().enumerate() {
        let number = p.frame_number.wrapping_add(sid as u16);
        for k in 0..packets {
            let (start, end) = (k == 0, k + 1 == packets);
            let attach = (key && sid == 0 && start).then_some(&structure);
            let dd = write(
                start,
                end,
                l3t3_key_template(sid as u8, kind),
                number,
                attach,
                0,
                None,
                9,
            );
            // Z (continues an OBU) unless first, Y (continued) unless last,
            // W = 1 OBU, N on a keyframe's first packet.
            let mut aggregation = 0x10;
            if !start {
                aggregation |= 0x80;
            }
            if !end {
                aggregation |= 0x40;
            }
            if key && sid == 0 && start {
                aggregation |= 0x08;
            }
            let mut bytes = vec![aggregation];
            bytes.extend_from_slice(b"RLAY");
            bytes.push(sid as u8);
            bytes.push(key as u8);
            bytes.resize(bytes.len() + padding, 0);
            out.push((bytes, sid == 2 && end, dd));
        }
    }
    out
}
