//! The dependency descriptor RTP header extension (AV1 RTP specification,
//! appendix A): how an AV1 SVC stream says which layer each frame belongs
//! to, which frames it refers to, and which decode targets (a spatial and
//! temporal layer a receiver can decode) need it.
//!
//! ```text
//!  start_of_frame(1) end_of_frame(1) template_id(6) frame_number(16)   always
//!  structure_present(1) active_targets_present(1)                      when the
//!  custom_dtis(1) custom_fdiffs(1) custom_chains(1)                    extension is
//!  [template dependency structure]  [active decode targets mask]       longer than 3
//!  [frame dtis] [frame fdiffs] [frame chain diffs]                     bytes
//! ```
//!
//! A descriptor names one of the templates of the latest structure (sent
//! with keyframes) and may override its decode target indications, frame
//! references and chains. [`parse`] reads one into a [`FrameDescriptor`];
//! a descriptor that carries a structure replaces the [`Structure`] it is
//! given, only when the whole descriptor is valid.
//!
//! Bounded and panic-free on any input: every read is checked, every count
//! is capped (64 templates, 32 decode targets, 4 spatial and 8 temporal
//! layers as the specification allows; 8 references a frame, which no
//! encoder comes near). Nothing allocates.

/// The extension's URI in SDP.
pub const URI: &str =
    "https://aomediacodec.github.io/av1-rtp-spec/#dependency-descriptor-rtp-header-extension";

/// Templates a structure can hold (template ids are 6 bits).
pub const MAX_TEMPLATES: usize = 64;
/// Decode targets a structure can have (5 bits, plus one).
pub const MAX_DECODE_TARGETS: usize = 32;
/// Spatial and temporal layers the specification allows.
pub const MAX_SPATIAL: usize = 4;
pub const MAX_TEMPORAL: usize = 8;
/// References kept per frame; more makes the descriptor invalid here.
pub const MAX_FDIFFS: usize = 8;

/// How a frame matters to a decode target (2 bits each).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Dti {
    /// Not in the decode target: a receiver of it does without.
    NotPresent,
    /// In it, and no later frame of it refers to this one.
    Discardable,
    /// In it, and a receiver can start decoding the target here (provided
    /// it has the frames this one refers to).
    Switch,
    /// In it, and later frames of it refer to this one.
    Required,
}

impl Dti {
    fn from_bits(b: u64) -> Dti {
        match b & 3 {
            0 => Dti::NotPresent,
            1 => Dti::Discardable,
            2 => Dti::Switch,
            _ => Dti::Required,
        }
    }
}

/// Decode target indications, 2 bits per target, target 0 lowest.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Dtis(pub u64);

impl Dtis {
    pub fn get(self, target: u8) -> Dti {
        if usize::from(target) >= MAX_DECODE_TARGETS {
            return Dti::NotPresent;
        }
        Dti::from_bits(self.0 >> (2 * target))
    }
}

/// A frame's references, as differences of frame numbers (each ≥ 1).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Fdiffs {
    diffs: [u16; MAX_FDIFFS],
    len: u8,
}

impl Fdiffs {
    pub fn as_slice(&self) -> &[u16] {
        &self.diffs[..usize::from(self.len)]
    }

    /// These references and `d` (dropped beyond [`MAX_FDIFFS`]).
    pub fn with(mut self, d: u16) -> Fdiffs {
        let _ = self.push(d);
        self
    }

    fn push(&mut self, d: u16) -> Option<()> {
        *self.diffs.get_mut(usize::from(self.len))? = d;
        self.len += 1;
        Some(())
    }
}

/// A frame dependency template.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Template {
    pub spatial: u8,
    pub temporal: u8,
    pub dtis: Dtis,
    pub fdiffs: Fdiffs,
}

/// The template dependency structure of a stream.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Structure {
    /// template_id_offset: the id of template 0.
    pub id: u8,
    pub decode_targets: u8,
    pub chains: u8,
    pub templates: [Template; MAX_TEMPLATES],
    pub template_count: u8,
    /// The highest spatial and temporal layer of each decode target: those
    /// of the templates it needs (specification A.8.3.4).
    pub target_layers: [(u8, u8); MAX_DECODE_TARGETS],
    /// Width and height of each spatial layer, when the structure has them.
    pub resolutions: [(u16, u16); MAX_SPATIAL],
    pub resolution_count: u8,
}

impl Default for Structure {
    fn default() -> Self {
        Structure {
            id: 0,
            decode_targets: 0,
            chains: 0,
            templates: [Template::default(); MAX_TEMPLATES],
            template_count: 0,
            target_layers: [(0, 0); MAX_DECODE_TARGETS],
            resolutions: [(0, 0); MAX_SPATIAL],
            resolution_count: 0,
        }
    }
}

impl Structure {
    pub fn templates(&self) -> &[Template] {
        &self.templates[..usize::from(self.template_count)]
    }

    /// Spatial layers: the highest spatial id of the templates, plus one.
    pub fn spatial_layers(&self) -> u8 {
        self.templates()
            .iter()
            .map(|t| t.spatial + 1)
            .max()
            .unwrap_or(0)
    }

    /// All decode targets, as a mask.
    pub fn all_targets(&self) -> u32 {
        mask(self.decode_targets)
    }
}

fn mask(targets: u8) -> u32 {
    if targets >= 32 {
        u32::MAX
    } else {
        (1u32 << targets) - 1
    }
}

/// What one packet's descriptor says about its frame.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct FrameDescriptor {
    pub start_of_frame: bool,
    pub end_of_frame: bool,
    /// 16 bits, wrapping; one per frame (a layer frame of an SVC picture).
    pub frame_number: u16,
    pub spatial: u8,
    pub temporal: u8,
    pub dtis: Dtis,
    pub fdiffs: Fdiffs,
    /// This descriptor carried the structure (first packet of a keyframe).
    pub structure_attached: bool,
    /// The active decode targets, when the descriptor says (all of them
    /// with a new structure).
    pub active_targets: Option<u32>,
}

/// Why a descriptor was not read.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DdError {
    /// Shorter than its fields say.
    Truncated,
    /// No structure yet: nothing to read the template from.
    NoStructure,
    /// A template id outside the structure, a layer beyond the limits, or
    /// too many templates or references.
    Invalid,
}

/// Read one descriptor. A valid attached structure replaces `*structure`
/// (`scratch` is where it is built, then the two are swapped, so a
/// malformed one leaves the current structure as it was).
pub fn parse(
    buf: &[u8],
    structure: &mut Option<Box<Structure>>,
    scratch: &mut Box<Structure>,
) -> Result<FrameDescriptor, DdError> {
    let mut r = Bits::new(buf);
    let start_of_frame = r.bit()?;
    let end_of_frame = r.bit()?;
    let template_id = r.bits(6)? as u8;
    let frame_number = r.bits(16)? as u16;
    let (mut has_structure, mut active_present) = (false, false);
    let (mut custom_dtis, mut custom_fdiffs, mut custom_chains) = (false, false, false);
    if buf.len() > 3 {
        has_structure = r.bit()?;
        active_present = r.bit()?;
        custom_dtis = r.bit()?;
        custom_fdiffs = r.bit()?;
        custom_chains = r.bit()?;
    }
    if has_structure {
        read_structure(&mut r, scratch)?;
    }
    let s: &Structure = if has_structure {
        scratch
    } else {
        structure.as_deref().ok_or(DdError::NoStructure)?
    };
    let mut active_targets = has_structure.then(|| s.all_targets());
    if active_present {
        active_targets = Some(r.bits(u32::from(s.decode_targets))?);
    }
    let index = (usize::from(template_id) + MAX_TEMPLATES - usize::from(s.id)) % MAX_TEMPLATES;
    let template = *s.templates().get(index).ok_or(DdError::Invalid)?;
    let mut d = FrameDescriptor {
        start_of_frame,
        end_of_frame,
        frame_number,
        spatial: template.spatial,
        temporal: template.temporal,
        dtis: template.dtis,
        fdiffs: template.fdiffs,
        structure_attached: has_structure,
        active_targets,
    };
    if custom_dtis {
        d.dtis = read_dtis(&mut r, s.decode_targets)?;
    }
    if custom_fdiffs {
        d.fdiffs = Fdiffs::default();
        loop {
            let size = r.bits(2)?;
            if size == 0 {
                break;
            }
            let diff = r.bits(4 * size)? + 1;
            d.fdiffs.push(diff as u16).ok_or(DdError::Invalid)?;
        }
    }
    if custom_chains {
        for _ in 0..s.chains {
            r.bits(8)?;
        }
    }
    if has_structure {
        std::mem::swap(structure.get_or_insert_with(Box::default), scratch);
    }
    Ok(d)
}

fn read_dtis(r: &mut Bits, targets: u8) -> Result<Dtis, DdError> {
    let mut dtis = 0u64;
    for i in 0..targets {
        dtis |= u64::from(r.bits(2)?) << (2 * i);
    }
    Ok(Dtis(dtis))
}

/// template_dependency_structure() (A.8.3.1) into `s`.
fn read_structure(r: &mut Bits, s: &mut Structure) -> Result<(), DdError> {
    s.id = r.bits(6)? as u8;
    s.decode_targets = r.bits(5)? as u8 + 1;
    // template_layers()
    let (mut spatial, mut temporal) = (0u8, 0u8);
    let mut count = 0usize;
    loop {
        let t = s.templates.get_mut(count).ok_or(DdError::Invalid)?;
        *t = Template {
            spatial,
            temporal,
            ..Template::default()
        };
        count += 1;
        match r.bits(2)? {
            0 => {}
            1 => temporal += 1,
            2 => {
                temporal = 0;
                spatial += 1;
            }
            _ => break,
        }
        if usize::from(temporal) >= MAX_TEMPORAL || usize::from(spatial) >= MAX_SPATIAL {
            return Err(DdError::Invalid);
        }
    }
    s.template_count = count as u8;
    for t in &mut s.templates[..count] {
        t.dtis = read_dtis(r, s.decode_targets)?;
    }
    for t in &mut s.templates[..count] {
        while r.bit()? {
            let diff = r.bits(4)? + 1;
            t.fdiffs.push(diff as u16).ok_or(DdError::Invalid)?;
        }
    }
    // template_chains(): kept as a count only; chain diffs are skipped.
    s.chains = r.ns(u32::from(s.decode_targets) + 1)? as u8;
    if s.chains > 0 {
        for _ in 0..s.decode_targets {
            r.ns(u32::from(s.chains))?;
        }
        for _ in 0..count {
            for _ in 0..s.chains {
                r.bits(4)?;
            }
        }
    }
    // decode_target_layers()
    for dt in 0..s.decode_targets {
        let mut layer = (0, 0);
        for t in &s.templates[..count] {
            if t.dtis.get(dt) != Dti::NotPresent {
                layer = (layer.0.max(t.spatial), layer.1.max(t.temporal));
            }
        }
        s.target_layers[usize::from(dt)] = layer;
    }
    s.resolution_count = 0;
    if r.bit()? {
        for i in 0..=usize::from(spatial) {
            let w = r.bits(16)? + 1;
            let h = r.bits(16)? + 1;
            s.resolutions[i] = (
                w.min(u32::from(u16::MAX)) as u16,
                h.min(u32::from(u16::MAX)) as u16,
            );
        }
        s.resolution_count = spatial + 1;
    }
    Ok(())
}

/// A big-endian bit reader over a byte slice.
struct Bits<'a> {
    buf: &'a [u8],
    pos: usize,
}

impl<'a> Bits<'a> {
    fn new(buf: &'a [u8]) -> Self {
        Bits { buf, pos: 0 }
    }

    fn bit(&mut self) -> Result<bool, DdError> {
        Ok(self.bits(1)? == 1)
    }

    /// `n` bits (at most 32).
    fn bits(&mut self, n: u32) -> Result<u32, DdError> {
        let mut v = 0u32;
        for _ in 0..n.min(32) {
            let byte = *self.buf.get(self.pos / 8).ok_or(DdError::Truncated)?;
            let bit = (byte >> (7 - self.pos % 8)) & 1;
            v = (v << 1) | u32::from(bit);
            self.pos += 1;
        }
        Ok(v)
    }

    /// ns(n): a non-symmetric unsigned value below `n` (A.8.2).
    fn ns(&mut self, n: u32) -> Result<u32, DdError> {
        if n <= 1 {
            return Ok(0);
        }
        let w = 32 - n.leading_zeros();
        let m = (1u32 << w) - n;
        let v = self.bits(w - 1)?;
        if v < m {
            return Ok(v);
        }
        let extra = self.bits(1)?;
        Ok((v << 1) - m + extra)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn hex(s: &str) -> Vec<u8> {
        (0..s.len())
            .step_by(2)
            .map(|i| u8::from_str_radix(&s[i..i + 2], 16).unwrap())
            .collect()
    }

    /// Chromium's AV1 `L3T3` (from a capture in LiveKit's test vectors,
    /// pkg/sfu/rtpextension/dependencydescriptor): a keyframe with its
    /// structure, then delta frames, the upper layer switched off.
    const KEYFRAME: &str = "c1017280081485214eafffaaaa863cf0430c10c302afc0aaa0063c00430010c002a000a80006000040001d954926e082b04a0941b820ac1282503157f974000ca864330e222222eca8655304224230eca877530077004200ef008601df010d";

    fn read(bytes: &[u8], s: &mut Option<Box<Structure>>) -> Result<FrameDescriptor, DdError> {
        parse(bytes, s, &mut Box::default())
    }

    #[test]
    fn chromium_l3t3_keyframe_structure_and_delta_frames() {
        let mut s = None;
        assert_eq!(read(&hex("860173"), &mut s), Err(DdError::NoStructure));
        let key = read(&hex(KEYFRAME), &mut s).unwrap();
        assert!(key.start_of_frame && key.end_of_frame && key.structure_attached);
        assert_eq!((key.frame_number, key.spatial, key.temporal), (370, 0, 0));
        assert!(key.fdiffs.as_slice().is_empty());
        assert_eq!(key.active_targets, Some(0x1ff));
        // A keyframe is a switch point of every decode target.
        assert!((0..9).all(|dt| key.dtis.get(dt) == Dti::Switch));
        let st = s.as_deref().unwrap();
        assert_eq!((st.id, st.decode_targets, st.chains), (0, 9, 3));
        assert_eq!(st.template_count, 15);
        assert_eq!(st.spatial_layers(), 3);
        assert_eq!(
            &st.resolutions[..usize::from(st.resolution_count)],
            &[(120, 67), (240, 135), (480, 270)]
        );
        let layers: Vec<(u8, u8)> = (0..3).flat_map(|s| (0..3).map(move |t| (s, t))).collect();
        assert_eq!(&st.target_layers[..9], &layers[..]);

        // S1 of the same picture: refers to S0; not in S0's targets.
        let s1 = read(&hex("86017340fc"), &mut s).unwrap();
        assert_eq!((s1.frame_number, s1.spatial, s1.temporal), (371, 1, 0));
        assert!(s1.start_of_frame && !s1.end_of_frame);
        assert_eq!(s1.fdiffs.as_slice(), &[1]);
        assert_eq!(s1.dtis.get(2), Dti::NotPresent);
        assert_eq!(s1.dtis.get(3), Dti::Switch);
        // The publisher switched S2 off: six targets active.
        assert_eq!(s1.active_targets, Some(0x3f));
        let t2 = read(&hex("c3017540fc"), &mut s).unwrap();
        assert_eq!((t2.frame_number, t2.spatial, t2.temporal), (373, 0, 2));
        assert_eq!(t2.fdiffs.as_slice(), &[3]);
        assert_eq!(t2.dtis.get(2), Dti::Discardable);
        assert_eq!(t2.dtis.get(1), Dti::NotPresent);
        let s1t2 = read(&hex("88017640fc"), &mut s).unwrap();
        assert_eq!((s1t2.spatial, s1t2.temporal), (1, 2));
        assert_eq!(s1t2.fdiffs.as_slice(), &[3, 1]);
        let t1 = read(&hex("c2017840fc"), &mut s).unwrap();
        assert_eq!((t1.frame_number, t1.spatial, t1.temporal), (376, 0, 1));
        assert_eq!(t1.fdiffs.as_slice(), &[6]);
        // Three bytes: the template alone.
        let s2 = read(&hex("8b0174"), &mut s).unwrap();
        assert_eq!((s2.frame_number, s2.spatial, s2.temporal), (372, 2, 0));
        assert_eq!(s2.active_targets, None);
        let last = read(&hex("c30175"), &mut s).unwrap();
        assert!(last.start_of_frame && last.end_of_frame);
    }

    /// Chromium 156 here, AV1 `L3T3_KEY` through Relais (the server's
    /// debug log, `web-client/tests/av1-svc.test.mjs`): its first keyframe.
    const CHROMIUM_156_L3T3_KEY: &[u8] = &[
        192, 0, 1, 192, 8, 20, 133, 33, 78, 170, 170, 168, 0, 6, 0, 0, 64, 0, 16, 0, 2, 170, 128,
        168, 0, 6, 0, 0, 64, 0, 16, 0, 2, 160, 0, 168, 0, 6, 0, 0, 64, 0, 22, 213, 73, 36, 27, 85,
        36, 144, 109, 84, 146, 49, 87, 224, 1, 151, 76, 168, 100, 51, 14, 34, 35, 150, 236, 168,
        101, 83, 4, 34, 67, 144, 236, 168, 119, 83, 1, 63, 0, 179, 2, 127, 1, 103, 4, 255, 2, 207,
        31, 128,
    ];

    #[test]
    fn chromium_l3t3_key_structure() {
        let mut s = None;
        let key = read(CHROMIUM_156_L3T3_KEY, &mut s).unwrap();
        assert_eq!((key.frame_number, key.spatial, key.temporal), (1, 0, 0));
        assert!(key.start_of_frame && key.end_of_frame && key.structure_attached);
        let st = s.as_deref().unwrap();
        assert_eq!(
            (st.decode_targets, st.template_count, st.chains),
            (9, 15, 3)
        );
        assert_eq!(&st.resolutions[..3], &[(320, 180), (640, 360), (1280, 720)]);
        // The same templates as libwebrtc's L3T3_KEY (and the test
        // publishers', `dd_writer::l3t3_key`): the keyframe a switch point
        // of all nine targets, S0's T0 delta frames of S0's three.
        let t = st.templates();
        assert!((0..9).all(|dt| t[0].dtis.get(dt) == Dti::Switch));
        assert_eq!(
            (t[1].spatial, t[1].temporal, t[1].fdiffs.as_slice()),
            (0, 0, &[12][..])
        );
        let s0: Vec<Dti> = (0..4).map(|dt| t[1].dtis.get(dt)).collect();
        assert_eq!(s0, [Dti::Switch, Dti::Switch, Dti::Switch, Dti::NotPresent]);
        // K-SVC: a delta frame of one spatial layer is in no other spatial
        // layer's decode targets.
        for t in st
            .templates()
            .iter()
            .filter(|t| !t.fdiffs.as_slice().is_empty())
        {
            for dt in 0..9u8 {
                let other = dt / 3 != t.spatial;
                if other && t.fdiffs.as_slice() != [1] {
                    assert_eq!(t.dtis.get(dt), Dti::NotPresent, "{t:?} target {dt}");
                }
            }
        }
    }

    #[test]
    fn custom_fields_override_the_template() {
        let mut s = None;
        read(&hex(KEYFRAME), &mut s).unwrap();
        // Template 1 (S0T0 key), frame 5, extended: custom dtis and
        // fdiffs: dtis all "required" (9 x 2 bits of 1s), fdiffs 2 (4-bit
        // size) and 300 (8-bit size... 300-1 = 299 needs 12 bits).
        let mut bits = String::from("11");
        bits += "000001"; // template id 1
        bits += &format!("{:016b}", 5);
        bits += "00110"; // no structure, no mask, custom dtis, custom fdiffs, no chains
        bits += &"11".repeat(9);
        bits += "01";
        bits += &format!("{:04b}", 1); // fdiff 2
        bits += "11";
        bits += &format!("{:012b}", 299); // fdiff 300
        bits += "00";
        while bits.len() % 8 != 0 {
            bits.push('0');
        }
        let bytes: Vec<u8> = bits
            .as_bytes()
            .chunks(8)
            .map(|c| u8::from_str_radix(std::str::from_utf8(c).unwrap(), 2).unwrap())
            .collect();
        let d = read(&bytes, &mut s).unwrap();
        assert_eq!(d.frame_number, 5);
        assert_eq!(d.fdiffs.as_slice(), &[2, 300]);
        assert!((0..9).all(|dt| d.dtis.get(dt) == Dti::Required));
        assert_eq!(d.dtis.get(40), Dti::NotPresent);
    }

    #[test]
    fn truncated_and_invalid_descriptors_are_refused_and_keep_the_structure() {
        let mut s = None;
        let key = hex(KEYFRAME);
        for n in 0..key.len() {
            if n == 3 {
                // Mandatory fields only: a template, but no structure yet.
                assert_eq!(read(&key[..n], &mut s), Err(DdError::NoStructure));
                continue;
            }
            assert!(read(&key[..n], &mut s).is_err(), "{n} bytes");
            assert!(s.is_none());
        }
        read(&key, &mut s).unwrap();
        let before = s.clone();
        // A template id beyond the 15 templates.
        assert_eq!(read(&[0xc0 | 20, 0, 1], &mut s), Err(DdError::Invalid));
        // A broken structure leaves the previous one.
        assert!(read(&key[..20], &mut s).is_err());
        assert_eq!(s, before);
    }

    /// A tiny generator (xorshift) for the random inputs.
    fn random_bytes(state: &mut u64, len: usize) -> Vec<u8> {
        (0..len)
            .map(|_| {
                *state ^= *state << 13;
                *state ^= *state >> 7;
                *state ^= *state << 17;
                *state as u8
            })
            .collect()
    }

    #[test]
    fn random_bytes_never_panic() {
        let mut rng = 0x2545_f491_4f6c_dd1d_u64;
        let mut s = None;
        let mut scratch = Box::default();
        let key = hex(KEYFRAME);
        let mut parsed = 0;
        for i in 0..20_000 {
            let len = i % 80;
            let mut bytes = random_bytes(&mut rng, len);
            if i % 3 == 0 && len > 0 {
                // Mostly a real structure, a few bits flipped.
                bytes = key.clone();
                let flip = random_bytes(&mut rng, 2);
                let at = usize::from(flip[0]) % bytes.len();
                bytes[at] ^= 1 << (flip[1] % 8);
            }
            if i % 5 == 0 {
                // Structure present, the rest random.
                if let Some(b) = bytes.first_mut() {
                    *b |= 0x80;
                }
            }
            if let Ok(d) = parse(&bytes, &mut s, &mut scratch) {
                parsed += 1;
                assert!(usize::from(d.spatial) < MAX_SPATIAL);
                assert!(usize::from(d.temporal) < MAX_TEMPORAL);
                assert!(d.fdiffs.as_slice().len() <= MAX_FDIFFS);
            }
            if let Some(st) = s.as_deref() {
                assert!(usize::from(st.template_count) <= MAX_TEMPLATES);
                assert!(st.decode_targets as usize <= MAX_DECODE_TARGETS);
            }
        }
        assert!(parsed > 100, "{parsed}");
    }
}
