//! A VP9 SVC publisher's payloads, as Chromium sends `L3T3_KEY`: one SSRC,
//! each picture a frame per spatial layer (320x180, 640x360, 1280x720),
//! temporal layers 0,2,1,2 from each keyframe, the upper spatial layers
//! predicted from the lower ones only in keyframes.

use super::SIZES;

/// TIDs of the pictures from a keyframe on.
pub const L3T3_TIDS: [u8; 4] = [0, 2, 1, 2];

/// Where a picture sits in the publisher's pattern.
#[derive(Debug, Clone, Copy)]
pub struct Picture {
    pub picture_id: u16,
    pub tl0_pic_idx: u8,
    pub tid: u8,
    pub key: bool,
}

/// One picture's payloads, lowest spatial layer first, each with its RTP
/// marker bit (the last packet of the top layer). `layers[sid]` gives the
/// packets and payload bytes of each spatial layer's frame. The descriptor
/// is in non-flexible mode with a 15-bit picture id; keyframes carry the
/// scalability structure. Each packet carries the test tag (SID, keyframe).
pub fn vp9_picture(p: Picture, layers: [(usize, usize); 3]) -> Vec<(Vec<u8>, bool)> {
    let mut out = Vec::new();
    for (sid, &(packets, padding)) in layers.iter().enumerate() {
        for k in 0..packets {
            let (begins, ends) = (k == 0, k + 1 == packets);
            let mut first = 0x80 | 0x20; // I, L
            if !p.key {
                first |= 0x40; // P
            }
            if begins {
                first |= 0x08;
            }
            if ends {
                first |= 0x04;
            }
            let ss = p.key && sid == 0 && begins;
            if ss {
                first |= 0x02; // V
            }
            let pid = p.picture_id & 0x7fff;
            let switching_up = p.tid > 0;
            let inter_layer = p.key && sid > 0;
            let mut bytes = vec![
                first,
                0x80 | (pid >> 8) as u8,
                pid as u8,
                p.tid << 5 | u8::from(switching_up) << 4 | (sid as u8) << 1 | u8::from(inter_layer),
                p.tl0_pic_idx,
            ];
            if ss {
                bytes.push(2 << 5 | 0x10); // N_S = 2, Y, no G
                for (w, h) in SIZES {
                    bytes.extend_from_slice(&w.to_be_bytes());
                    bytes.extend_from_slice(&h.to_be_bytes());
                }
            }
            bytes.extend_from_slice(b"RLAY");
            bytes.push(sid as u8);
            bytes.push(p.key as u8);
            bytes.resize(bytes.len() + padding, 0);
            out.push((bytes, sid == 2 && ends));
        }
    }
    out
}
