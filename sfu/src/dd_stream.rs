//! One publisher stream's dependency descriptors (AV1 SVC): the latest
//! template structure, the frame numbers unwrapped, the decode targets the
//! publisher says are active, and for each packet what a subscriber's
//! forwarder needs to decide on its frame ([`DdFrame`]).
//!
//! A subscriber asks for a spatial and a temporal layer; the decode target
//! it is given is the highest active one within both ([`DdFrame::target`]).
//! The table of those choices is made once per packet here, so that the
//! forwarders need no access to the structure.
//!
//! The structure lives in two boxes made with the first descriptor; after
//! that, reading a packet allocates nothing.

use crate::dependency_descriptor::{self, DdError, Dti, Dtis, Fdiffs, Structure};
use crate::layers::TOP_TEMPORAL;

/// Spatial layers a subscriber can be given (as for VP9 SVC and simulcast).
const SPATIAL: usize = 3;
const TEMPORAL: usize = TOP_TEMPORAL as usize + 1;

/// A decode target and its layers.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct DecodeTarget {
    pub index: u8,
    pub spatial: u8,
    pub temporal: u8,
}

/// What a forwarder needs to know about a packet's frame.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct DdFrame {
    /// Frame number, unwrapped.
    pub number: u64,
    /// Counts the structures the stream has had: decode target indices
    /// mean something else after a change.
    pub structure: u32,
    pub spatial: u8,
    pub temporal: u8,
    pub start_of_frame: bool,
    pub end_of_frame: bool,
    /// The first packet of a keyframe: it carries the structure.
    pub keyframe: bool,
    pub dtis: Dtis,
    pub fdiffs: Fdiffs,
    /// For each (spatial, temporal) a subscriber can ask for, the decode
    /// target it gets now.
    targets: [[Option<DecodeTarget>; TEMPORAL]; SPATIAL],
}

impl DdFrame {
    /// The decode target for a subscriber asking for `spatial` and
    /// `temporal` (clamped to the layers the core handles).
    pub fn target(&self, spatial: u8, temporal: u8) -> Option<DecodeTarget> {
        let s = usize::from(spatial).min(SPATIAL - 1);
        let t = usize::from(temporal).min(TEMPORAL - 1);
        self.targets[s][t]
    }

    pub fn dti(&self, target: u8) -> Dti {
        self.dtis.get(target)
    }

    /// The frame numbers this frame refers to.
    pub fn references(&self) -> impl Iterator<Item = u64> + '_ {
        let n = self.number;
        self.fdiffs
            .as_slice()
            .iter()
            .filter_map(move |&d| n.checked_sub(u64::from(d)))
    }
}

#[derive(Debug)]
pub struct DdStream {
    structure: Option<Box<Structure>>,
    scratch: Box<Structure>,
    generation: u32,
    active: u32,
    highest: Option<u64>,
    targets: [[Option<DecodeTarget>; TEMPORAL]; SPATIAL],
}

impl Default for DdStream {
    fn default() -> Self {
        DdStream {
            structure: None,
            scratch: Box::default(),
            generation: 0,
            active: u32::MAX,
            highest: None,
            targets: [[None; TEMPORAL]; SPATIAL],
        }
    }
}

impl DdStream {
    /// Read a packet's descriptor.
    pub fn read(&mut self, bytes: &[u8]) -> Result<DdFrame, DdError> {
        let d = dependency_descriptor::parse(bytes, &mut self.structure, &mut self.scratch)?;
        // The structure parsed went in, the one before is in `scratch`: a
        // keyframe repeating it (or its retransmission) changes nothing.
        if d.structure_attached && self.structure.as_deref() != Some(&*self.scratch) {
            self.generation = self.generation.wrapping_add(1);
        }
        let number = self.unwrap(d.frame_number);
        let newest = self.highest.is_none_or(|h| number >= h);
        if newest {
            self.highest = Some(number);
        }
        if let Some(active) = d.active_targets.filter(|_| newest || d.structure_attached) {
            if active != self.active || d.structure_attached {
                self.active = active;
                self.choose_targets();
            }
        }
        Ok(DdFrame {
            number,
            structure: self.generation,
            spatial: d.spatial,
            temporal: d.temporal,
            start_of_frame: d.start_of_frame,
            end_of_frame: d.end_of_frame,
            keyframe: d.structure_attached && d.start_of_frame,
            dtis: d.dtis,
            fdiffs: d.fdiffs,
            targets: self.targets,
        })
    }

    /// Counts the structures seen (a repeated one does not count).
    pub fn structure_changes(&self) -> u32 {
        self.generation
    }

    pub fn structure(&self) -> Option<&Structure> {
        self.structure.as_deref()
    }

    /// The 16-bit frame number placed nearest the highest seen.
    fn unwrap(&self, n: u16) -> u64 {
        let Some(h) = self.highest else {
            return u64::from(n) + (1 << 16);
        };
        let delta = n.wrapping_sub(h as u16) as i16;
        h.wrapping_add_signed(i64::from(delta))
    }

    /// For each (spatial, temporal) request, the highest active decode
    /// target within it: the highest spatial layer, then temporal.
    fn choose_targets(&mut self) {
        self.targets = [[None; TEMPORAL]; SPATIAL];
        let Some(s) = self.structure.as_deref() else {
            return;
        };
        for dt in 0..s.decode_targets {
            if self.active & (1 << dt) == 0 {
                continue;
            }
            let (spatial, temporal) = s.target_layers[usize::from(dt)];
            let target = DecodeTarget {
                index: dt,
                spatial,
                temporal,
            };
            for (si, row) in self.targets.iter_mut().enumerate() {
                for (ti, slot) in row.iter_mut().enumerate() {
                    if usize::from(spatial) > si || usize::from(temporal) > ti {
                        continue;
                    }
                    let better = slot.is_none_or(|c| (spatial, temporal) > (c.spatial, c.temporal));
                    if better {
                        *slot = Some(target);
                    }
                }
            }
        }
    }
}
