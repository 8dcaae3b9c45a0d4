//! The VP9 RTP payload descriptor (RFC 9628, section 4.2): what the
//! forwarding path needs to drop spatial and temporal layers of an SVC
//! stream (Chromium's `L3T3_KEY`: one SSRC, up to three spatial layers in
//! each picture) and to end each picture where the subscriber's layers end.
//!
//! ```text
//!  |I|P|L|F|B|E|V|Z|             always
//!  |M| PICTURE ID  | (PID)       I=1; M=1: 15 bits, two bytes
//!  |  TID  |U| SID |D|           L=1
//!  |   TL0PICIDX   |             L=1 and F=0
//!  |   P_DIFF    |N|  (up to 3)  F=1 and P=1
//!  |   SS ...      |             V=1 (in keyframes)
//! ```
//!
//! Parsing reads the payload in place; nothing allocates.

/// Spatial layers a scalability structure can describe (N_S is 3 bits).
pub const MAX_SPATIAL: usize = 8;

/// A parsed descriptor. Only the fields the SFU uses are kept.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Vp9Descriptor {
    /// P: the picture is predicted from earlier pictures (not a keyframe).
    pub inter_picture: bool,
    /// F: flexible mode (references given as P_DIFF, no TL0PICIDX).
    pub flexible: bool,
    /// B: the first packet of a layer frame.
    pub begins_frame: bool,
    /// E: the last packet of a layer frame.
    pub ends_frame: bool,
    /// Z: no frame of the next spatial layer in this picture refers to it.
    pub not_reference: bool,
    pub picture_id: Option<u16>,
    /// Layer indices (L=1).
    pub layer: Option<Vp9Layer>,
    /// TL0PICIDX, in non-flexible mode with layer indices.
    pub tl0_pic_idx: Option<u8>,
    /// The scalability structure (V=1), sent with keyframes.
    pub scalability: Option<Scalability>,
}

/// The layer indices of a packet.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Vp9Layer {
    /// TID: temporal layer, 0 is the base.
    pub tid: u8,
    /// U: switching up point: later frames of higher temporal layers do not
    /// refer to earlier ones, so a receiver may take them from here.
    pub switching_up: bool,
    /// SID: spatial layer, 0 is the lowest resolution.
    pub sid: u8,
    /// D: this layer frame refers to the spatial layer below in the picture.
    pub inter_layer_dependency: bool,
}

/// The scalability structure: how many spatial layers and, when given, each
/// one's resolution.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Scalability {
    /// N_S + 1.
    pub spatial_layers: u8,
    /// Width and height of each spatial layer, lowest first (Y=1); zeros
    /// past `spatial_layers`.
    pub sizes: Option<[(u16, u16); MAX_SPATIAL]>,
}

impl Vp9Descriptor {
    /// `None` when the payload is too short for the descriptor it announces.
    pub fn parse(payload: &[u8]) -> Option<Vp9Descriptor> {
        let first = *payload.first()?;
        let bit = |b: u8| first & b != 0;
        let mut d = Vp9Descriptor {
            inter_picture: bit(0x40),
            flexible: bit(0x10),
            begins_frame: bit(0x08),
            ends_frame: bit(0x04),
            not_reference: bit(0x01),
            picture_id: None,
            layer: None,
            tl0_pic_idx: None,
            scalability: None,
        };
        let mut at = 1;
        if bit(0x80) {
            let b = *payload.get(at)?;
            if b & 0x80 != 0 {
                let low = *payload.get(at + 1)?;
                d.picture_id = Some(u16::from(b & 0x7f) << 8 | u16::from(low));
                at += 2;
            } else {
                d.picture_id = Some(u16::from(b));
                at += 1;
            }
        }
        if bit(0x20) {
            let b = *payload.get(at)?;
            d.layer = Some(Vp9Layer {
                tid: b >> 5,
                switching_up: b & 0x10 != 0,
                sid: (b >> 1) & 0x07,
                inter_layer_dependency: b & 0x01 != 0,
            });
            at += 1;
            if !d.flexible {
                d.tl0_pic_idx = Some(*payload.get(at)?);
                at += 1;
            }
        }
        if d.flexible && d.inter_picture {
            // Up to three reference indices, each with N: another follows.
            for _ in 0..3 {
                let b = *payload.get(at)?;
                at += 1;
                if b & 0x01 == 0 {
                    break;
                }
            }
        }
        if bit(0x02) {
            d.scalability = Some(parse_scalability(payload.get(at..)?)?);
        }
        Some(d)
    }

    /// The first packet of a keyframe: the base spatial layer's frame begins
    /// and is not predicted from earlier pictures.
    pub fn starts_keyframe(&self) -> bool {
        self.begins_frame && !self.inter_picture && self.layer.is_none_or(|l| l.sid == 0)
    }
}

fn parse_scalability(ss: &[u8]) -> Option<Scalability> {
    let first = *ss.first()?;
    let spatial_layers = (first >> 5) + 1;
    let sizes = if first & 0x10 != 0 {
        let mut sizes = [(0, 0); MAX_SPATIAL];
        for (i, size) in sizes
            .iter_mut()
            .take(usize::from(spatial_layers))
            .enumerate()
        {
            let at = 1 + 4 * i;
            let b = ss.get(at..at + 4)?;
            *size = (
                u16::from_be_bytes([b[0], b[1]]),
                u16::from_be_bytes([b[2], b[3]]),
            );
        }
        Some(sizes)
    } else {
        None
    };
    Some(Scalability {
        spatial_layers,
        sizes,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The first packet of a Chromium L3T3_KEY keyframe: I P=0 L B V, 15-bit
    /// picture id 0x1234, TID 0 U=0 SID 0 D=0, TL0PICIDX 7, then the
    /// scalability structure: N_S=2 Y=1 G=1, 320x180, 640x360, 1280x720,
    /// N_G=4 and the group of pictures.
    const KEYFRAME_S0: &[u8] = &[
        0xaa, 0x92, 0x34, 0x00, 0x07, // I|L|B|V; picture id; layers; TL0PICIDX
        0x58, // N_S=2, Y, G
        0x01, 0x40, 0x00, 0xb4, // 320x180
        0x02, 0x80, 0x01, 0x68, // 640x360
        0x05, 0x00, 0x02, 0xd0, // 1280x720
        0x04, // N_G
        0x04, 0x04, // TID 0, R=1, P_DIFF 4
        0x54, 0x02, // TID 2 U R=1, P_DIFF 1
        0x34, 0x02, // TID 1 U R=1, P_DIFF 2
        0x54, 0x02, // TID 2 U R=1, P_DIFF 1
        0x9d, 0x01, // the VP9 frame begins
    ];

    #[test]
    fn a_keyframe_with_its_scalability_structure() {
        let d = Vp9Descriptor::parse(KEYFRAME_S0).unwrap();
        assert!(d.starts_keyframe());
        assert!(d.begins_frame && !d.ends_frame && !d.inter_picture && !d.flexible);
        assert_eq!(d.picture_id, Some(0x1234));
        assert_eq!(
            d.layer,
            Some(Vp9Layer {
                tid: 0,
                switching_up: false,
                sid: 0,
                inter_layer_dependency: false
            })
        );
        assert_eq!(d.tl0_pic_idx, Some(7));
        let ss = d.scalability.unwrap();
        assert_eq!(ss.spatial_layers, 3);
        assert_eq!(
            &ss.sizes.unwrap()[..4],
            &[(320, 180), (640, 360), (1280, 720), (0, 0)]
        );
    }

    #[test]
    fn layer_frames_of_a_delta_picture() {
        // The top spatial layer of a TL2 picture, its last packet: I P L E,
        // 7-bit picture id 0x35, TID 2 U SID 2 D=0, TL0PICIDX 8.
        let d = Vp9Descriptor::parse(&[0xe4, 0x35, 0x54, 0x08, 0xaa]).unwrap();
        assert!(d.inter_picture && d.ends_frame && !d.begins_frame);
        assert!(!d.starts_keyframe());
        assert_eq!(d.picture_id, Some(0x35));
        assert_eq!(
            d.layer,
            Some(Vp9Layer {
                tid: 2,
                switching_up: true,
                sid: 2,
                inter_layer_dependency: false
            })
        );
        assert_eq!(d.tl0_pic_idx, Some(8));
        assert_eq!(d.scalability, None);
        // SID 1 of a keyframe picture: not predicted from earlier pictures,
        // but from the layer below (D): not where a keyframe starts.
        let d = Vp9Descriptor::parse(&[0xac, 0x80, 0x01, 0x03, 0x07, 0]).unwrap();
        assert_eq!(d.layer.unwrap().sid, 1);
        assert!(d.layer.unwrap().inter_layer_dependency);
        assert!(!d.starts_keyframe());
    }

    #[test]
    fn flexible_mode_references_and_no_layer_indices() {
        // I P L F B E, picture id 0x0102, TID 1 SID 0, two P_DIFFs (N on the
        // first), then the frame.
        let d = Vp9Descriptor::parse(&[0xfc, 0x81, 0x02, 0x20, 0x03, 0x04, 0x9d]).unwrap();
        assert!(d.flexible);
        assert_eq!(d.tl0_pic_idx, None);
        assert_eq!(d.layer.unwrap().tid, 1);
        // A plain VP9 stream: B E only, a keyframe.
        let d = Vp9Descriptor::parse(&[0x0c, 0x9d]).unwrap();
        assert!(d.starts_keyframe() && d.layer.is_none() && d.picture_id.is_none());
    }

    #[test]
    fn truncated_descriptors_are_refused() {
        assert_eq!(Vp9Descriptor::parse(&[]), None);
        assert_eq!(Vp9Descriptor::parse(&[0x80]), None);
        assert_eq!(Vp9Descriptor::parse(&[0x80, 0x81]), None);
        assert_eq!(
            Vp9Descriptor::parse(&[0xa0, 0x05, 0x00]),
            None,
            "no TL0PICIDX"
        );
        assert_eq!(Vp9Descriptor::parse(&KEYFRAME_S0[..10]), None, "sizes cut");
        assert_eq!(Vp9Descriptor::parse(&[0x50]), None, "F P without P_DIFF");
    }
}
