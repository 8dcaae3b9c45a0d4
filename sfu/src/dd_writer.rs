//! Writing dependency descriptors, for test publishers: the SFU itself
//! forwards each descriptor as it arrived. [`l3t3_key`] is the structure
//! of Chromium's AV1 `L3T3_KEY` (libwebrtc's `ScalabilityStructureL3T3Key`,
//! without chains).

use crate::dependency_descriptor::{Dtis, Fdiffs, Structure, Template, MAX_TEMPLATES};

/// The structure of `L3T3_KEY` with these sizes: 9 decode targets (S0T0,
/// S0T1, ... S2T2), templates in (spatial, temporal) order. Per spatial
/// layer `s`, template `L3T3_KEY_TEMPLATES[kind] + 4 * s` where kind is
/// 0 for the keyframe picture, 1 for T0, 2 for T1 and 3 for T2 (fdiffs
/// counted in frames: three a picture).
pub fn l3t3_key(sizes: [(u16, u16); 3]) -> Structure {
    // S0: key, T0, T1, T2; S1: the same; S2: the same.
    const DTIS: [&str; 12] = [
        "SSSSSSSSS",
        "SSS------",
        "-DS------",
        "--D------",
        "---SSSSSS",
        "---SSS---",
        "----DS---",
        "-----D---",
        "------SSS",
        "------SSS",
        "-------DS",
        "--------D",
    ];
    // The S0 keyframe refers to nothing; an upper layer's keyframe frame to
    // the layer below in its picture.
    const FDIFFS: [&[u16]; 4] = [&[], &[12], &[6], &[3]];
    let mut s = Structure {
        decode_targets: 9,
        template_count: 12,
        resolution_count: 3,
        ..Structure::default()
    };
    for (i, dtis) in DTIS.iter().enumerate() {
        let (spatial, kind) = (i / 4, i % 4);
        let mut fd = Fdiffs::default();
        let diffs: &[u16] = if kind == 0 && spatial > 0 {
            &[1]
        } else {
            FDIFFS[kind]
        };
        for &d in diffs {
            fd = fd.with(d);
        }
        s.templates[i] = Template {
            spatial: spatial as u8,
            temporal: [0, 0, 1, 2][kind],
            dtis: parse_dtis(dtis),
            fdiffs: fd,
        };
    }
    for dt in 0..9u8 {
        s.target_layers[usize::from(dt)] = (dt / 3, dt % 3);
    }
    s.resolutions[..3].copy_from_slice(&sizes);
    s
}

/// The template index of layer frame `spatial` in a picture of `kind`
/// (0 keyframe, 1 T0, 2 T1, 3 T2) in [`l3t3_key`].
pub fn l3t3_key_template(spatial: u8, kind: u8) -> u8 {
    spatial * 4 + kind.min(3)
}

fn parse_dtis(s: &str) -> Dtis {
    let mut v = 0u64;
    for (i, c) in s.bytes().enumerate() {
        let d = match c {
            b'D' => 1,
            b'S' => 2,
            b'R' => 3,
            _ => 0,
        };
        v |= d << (2 * i);
    }
    Dtis(v)
}

/// One descriptor: the mandatory fields, and with `structure` (a
/// keyframe's first packet) or `active` (the active decode targets, of
/// `targets`) the extended fields carrying them.
#[allow(clippy::too_many_arguments)]
pub fn write(
    start_of_frame: bool,
    end_of_frame: bool,
    template: u8,
    frame_number: u16,
    structure: Option<&Structure>,
    id: u8,
    active: Option<u32>,
    targets: u8,
) -> Vec<u8> {
    let mut w = BitWriter::default();
    w.put(u32::from(start_of_frame), 1);
    w.put(u32::from(end_of_frame), 1);
    let template_id = (usize::from(template) + usize::from(id)) % MAX_TEMPLATES;
    w.put(template_id as u32, 6);
    w.put(u32::from(frame_number), 16);
    if structure.is_some() || active.is_some() {
        w.put(u32::from(structure.is_some()), 1);
        w.put(u32::from(active.is_some()), 1);
        w.put(0, 3);
    }
    if let Some(s) = structure {
        w.put(u32::from(s.id), 6);
        w.put(u32::from(s.decode_targets - 1), 5);
        let t = s.templates();
        for pair in t.windows(2) {
            let idc = if pair[1].spatial > pair[0].spatial {
                2
            } else {
                u32::from(pair[1].temporal > pair[0].temporal)
            };
            w.put(idc, 2);
        }
        w.put(3, 2);
        for tpl in t {
            for dt in 0..s.decode_targets {
                w.put((tpl.dtis.0 >> (2 * dt)) as u32 & 3, 2);
            }
        }
        for tpl in t {
            for &d in tpl.fdiffs.as_slice() {
                w.put(1, 1);
                w.put(u32::from(d - 1), 4);
            }
            w.put(0, 1);
        }
        // chain_cnt = 0, as ns(decode targets + 1): w - 1 zero bits.
        let n = u32::from(s.decode_targets) + 1;
        w.put(0, 32 - n.leading_zeros() - 1);
        let res = usize::from(s.resolution_count);
        w.put(u32::from(res > 0), 1);
        for &(width, height) in &s.resolutions[..res] {
            w.put(u32::from(width) - 1, 16);
            w.put(u32::from(height) - 1, 16);
        }
    }
    if let Some(mask) = active {
        w.put(mask, u32::from(targets));
    }
    w.finish()
}

#[derive(Default)]
struct BitWriter {
    bytes: Vec<u8>,
    bits: usize,
}

impl BitWriter {
    fn put(&mut self, v: u32, n: u32) {
        for i in (0..n).rev() {
            if self.bits.is_multiple_of(8) {
                self.bytes.push(0);
            }
            let bit = (v >> i) & 1;
            let last = self.bytes.len() - 1;
            self.bytes[last] |= (bit as u8) << (7 - self.bits % 8);
            self.bits += 1;
        }
    }

    fn finish(self) -> Vec<u8> {
        self.bytes
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::dependency_descriptor::{parse, Dti};

    #[test]
    fn written_descriptors_read_back() {
        let st = l3t3_key([(320, 180), (640, 360), (1280, 720)]);
        let mut s = None;
        let mut scratch = Box::default();
        let key = write(true, false, 0, 65535, Some(&st), st.id, None, 9);
        let d = parse(&key, &mut s, &mut scratch).unwrap();
        assert!(d.structure_attached && d.start_of_frame && !d.end_of_frame);
        assert_eq!(s.as_deref(), Some(&st));
        let t1 = write(
            false,
            true,
            l3t3_key_template(2, 2),
            7,
            None,
            st.id,
            None,
            9,
        );
        assert_eq!(t1.len(), 3);
        let d = parse(&t1, &mut s, &mut scratch).unwrap();
        assert_eq!((d.spatial, d.temporal, d.frame_number), (2, 1, 7));
        assert_eq!(d.fdiffs.as_slice(), &[6]);
        assert_eq!(d.dtis.get(8), Dti::Switch);
        assert_eq!(d.dtis.get(5), Dti::NotPresent);
        let masked = write(true, true, 1, 8, None, st.id, Some(0x3f), 9);
        let d = parse(&masked, &mut s, &mut scratch).unwrap();
        assert_eq!((d.frame_number, d.active_targets), (8, Some(0x3f)));
    }
}
