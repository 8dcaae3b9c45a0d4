//! A published track on a worker: where its packets come from, which
//! simulcast layers are flowing (and at what bitrate, by temporal layer),
//! and who subscribes to it.

use std::time::{Duration, Instant};

use str0m::media::{Mid, Pt, Rid};

use crate::api::TrackInfo;
use crate::bitrate::BitrateMeter;
use crate::codec::{Codec, Spatial};
use crate::dd_stream::{DdFrame, DdStream};
use crate::dependency_descriptor::Dti;
use crate::ids::{ParticipantId, RoomId};
use crate::keyframe_throttle::KeyframeThrottle;
use crate::layer_selector::LayerView;
use crate::relay::WorkerIndex;
use crate::vp9_descriptor::Vp9Descriptor;

/// A layer with no packet for this long counts as stopped.
pub const LAYER_TIMEOUT: Duration = Duration::from_millis(1500);

#[derive(Debug, Default, Clone, Copy)]
pub struct LayerState {
    pub last_packet: Option<Instant>,
    pub width: u32,
    pub height: u32,
    pub bitrate: BitrateMeter,
    /// The same bytes by temporal layer, for packets that name one (TID).
    pub temporal_bitrate: [BitrateMeter; 3],
}

/// Where a track's packets come from.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Origin {
    /// A publisher on this worker, on this m-line of its connection.
    Local { mid: Mid },
    /// Relayed from the worker that has the publisher.
    Remote { worker: WorkerIndex },
}

pub struct Track {
    pub info: TrackInfo,
    pub room: RoomId,
    pub origin: Origin,
    /// Codec of the payload type the publisher sends now.
    pub codec: Codec,
    pub pt: Pt,
    pub clock_rate: u32,
    /// The rid of each layer, lowest first; empty without simulcast.
    pub rids: Vec<Rid>,
    /// Spatial layers inside the one stream of an SVC track (VP9 `L3T3_KEY`),
    /// 0 for other tracks. `layers` then holds the spatial layers.
    pub svc_layers: u8,
    pub layers: [LayerState; 3],
    pub subscribers: Vec<ParticipantId>,
    pub throttle: KeyframeThrottle,
    /// AV1 without simulcast whose packets carry the dependency
    /// descriptor: its structure and frame numbers.
    pub dd: Option<DdStream>,
    /// With the dependency descriptor, `[spatial][temporal]`: the bytes of
    /// the frames that a subscriber asking for that layer is given (its
    /// decode target's frames), so that its cost is what it receives:
    /// `L3T3_KEY` sends a top-layer subscriber the lower layers' keyframes
    /// only, `L3T3` every lower frame.
    pub dd_costs: [[BitrateMeter; 3]; 3],
    /// Audio top-N: not among the loudest of a large room, so not forwarded
    /// (set on the housekeeping timer, read per packet).
    pub silenced: bool,
}

impl Track {
    /// A track as it is announced, before any packet: nothing learned yet
    /// from its stream (layers, SVC structure, descriptors), no subscriber.
    pub fn new(
        info: TrackInfo,
        room: RoomId,
        origin: Origin,
        codec: Codec,
        pt: Pt,
        clock_rate: u32,
        rids: Vec<Rid>,
    ) -> Track {
        Track {
            info,
            room,
            origin,
            codec,
            pt,
            clock_rate,
            rids,
            svc_layers: 0,
            layers: [LayerState::default(); 3],
            subscribers: Vec::new(),
            throttle: KeyframeThrottle::default(),
            dd: None,
            dd_costs: Default::default(),
            silenced: false,
        }
    }

    /// Encodings the publisher sends (simulcast layers): what dynacast
    /// can pause.
    pub fn layer_count(&self) -> usize {
        self.rids.len().clamp(1, 3)
    }

    /// Layers a subscriber can be given: the simulcast layers, or the
    /// spatial layers of an SVC stream.
    pub fn spatial_count(&self) -> usize {
        if self.svc_layers > 0 {
            usize::from(self.svc_layers).min(3)
        } else {
            self.layer_count()
        }
    }

    /// An SVC stream: one encoding, spatial layers inside it.
    pub fn is_svc(&self) -> bool {
        self.svc_layers > 0
    }

    /// Read a VP9 packet's layer indices: the spatial layer of an SVC
    /// stream, `None` for other streams (VP9 simulcast has a spatial layer
    /// per rid instead). A spatial layer above 0, or a scalability structure
    /// with several, makes the track an SVC track: from then on its layers
    /// are its spatial layers, with the sizes the structure gives.
    pub fn note_vp9(&mut self, d: &Vp9Descriptor) -> Option<Spatial> {
        let layer = d.layer.filter(|_| self.rids.len() <= 1)?;
        let ss = d.scalability;
        if layer.sid > 0 || self.is_svc() || ss.is_some_and(|ss| ss.spatial_layers > 1) {
            self.svc_layers = ss.map_or(self.svc_layers.max(layer.sid + 1), |ss| ss.spatial_layers);
            if let Some(sizes) = ss.and_then(|ss| ss.sizes) {
                let count = usize::from(ss.map_or(0, |ss| ss.spatial_layers));
                for (state, &(w, h)) in self.layers.iter_mut().zip(&sizes[..count]) {
                    state.width = u32::from(w);
                    state.height = u32::from(h);
                }
            }
        }
        self.is_svc().then_some(Spatial {
            sid: layer.sid,
            ends_layer_frame: d.ends_frame,
        })
    }

    /// Read an AV1 packet's dependency descriptor (a track without
    /// simulcast; AV1 simulcast is forwarded as before, by rid). The track
    /// is then an SVC track with the spatial layers of the structure, sized
    /// from it when it has resolutions. `None` for a descriptor that cannot
    /// be read (none seen yet with a structure, or malformed).
    pub fn note_dd(&mut self, bytes: &[u8]) -> Option<DdFrame> {
        if self.rids.len() > 1 {
            return None;
        }
        let stream = self.dd.get_or_insert_with(DdStream::default);
        let before = stream.structure_changes();
        let frame = stream.read(bytes).ok()?;
        if stream.structure_changes() != before {
            if let Some(s) = stream.structure() {
                tracing::debug!(
                    track = %self.info.id,
                    spatial_layers = s.spatial_layers(),
                    decode_targets = s.decode_targets,
                    templates = s.template_count,
                    descriptor = ?bytes,
                    "AV1 dependency structure"
                );
            }
        }
        if frame.keyframe {
            if let Some(s) = stream.structure() {
                self.svc_layers = s.spatial_layers().clamp(1, 3);
                let count = usize::from(s.resolution_count);
                for (state, &(w, h)) in self.layers.iter_mut().zip(&s.resolutions[..count]) {
                    state.width = u32::from(w);
                    state.height = u32::from(h);
                }
            }
        }
        Some(frame)
    }

    /// Packets of this track are placed by their dependency descriptor.
    /// Count a descriptor frame's packet in the cost of every request
    /// whose decode target needs the frame.
    pub fn note_dd_cost(&mut self, frame: &DdFrame, bytes: usize, now: Instant) {
        for (spatial, costs) in (0u8..).zip(self.dd_costs.iter_mut()) {
            for (temporal, meter) in (0u8..).zip(costs.iter_mut()) {
                let needed = frame
                    .target(spatial, temporal)
                    .is_some_and(|t| frame.dti(t.index) != Dti::NotPresent);
                if needed {
                    meter.add(bytes, now);
                }
            }
        }
    }

    pub fn uses_dd(&self) -> bool {
        self.dd.is_some()
    }

    /// The layer index of a packet's rid (0 without simulcast).
    pub fn layer_of(&self, rid: Option<Rid>) -> Option<u8> {
        match rid {
            None => Some(0),
            Some(rid) => self.rids.iter().position(|r| *r == rid).map(|i| i as u8),
        }
    }

    pub fn rid_of(&self, layer: u8) -> Option<Rid> {
        self.rids.get(usize::from(layer)).copied()
    }

    /// Bitrate of each layer now, `[spatial][temporal]`: what spatial layer
    /// costs with its temporal layers up to that one (0 for a layer that is
    /// not flowing). A layer without temporal layers costs the same in all
    /// three.
    pub fn layer_bitrates(&mut self, now: Instant) -> [[u64; 3]; 3] {
        let views = self.layer_views(now);
        let mut bps = [[0; 3]; 3];
        for (i, state) in self.layers.iter_mut().enumerate() {
            if !views[i].active {
                continue;
            }
            let total = state.bitrate.bps(now).max(1);
            let mut below = 0;
            for (cost, meter) in bps[i].iter_mut().zip(&mut state.temporal_bitrate) {
                below += meter.bps(now);
                // Packets without a TID belong to every temporal layer.
                *cost = if below == 0 {
                    total
                } else {
                    below.clamp(1, total)
                };
            }
            bps[i][2] = total;
        }
        if self.dd.is_some() {
            for (i, costs) in bps.iter_mut().enumerate() {
                if costs[2] == 0 {
                    continue; // not flowing
                }
                for (cost, meter) in costs.iter_mut().zip(&mut self.dd_costs[i]) {
                    *cost = meter.bps(now).max(1);
                }
            }
            return bps;
        }
        if self.is_svc() {
            // A spatial layer of an SVC stream is forwarded with those below.
            for i in 1..bps.len() {
                let below = bps[i - 1];
                for (cost, lower) in bps[i].iter_mut().zip(below) {
                    if *cost > 0 {
                        *cost += lower;
                    }
                }
            }
        }
        bps
    }

    /// Layer states as the selector sees them at `now`.
    pub fn layer_views(&self, now: Instant) -> [LayerView; 3] {
        let mut views = [LayerView::default(); 3];
        for (view, state) in views.iter_mut().zip(&self.layers) {
            *view = LayerView {
                active: state
                    .last_packet
                    .is_some_and(|t| now.saturating_duration_since(t) < LAYER_TIMEOUT),
                width: state.width,
                height: state.height,
            };
        }
        views
    }

    /// Record a packet of `layer`; true when the layer just (re)started.
    pub fn note_packet(
        &mut self,
        layer: u8,
        temporal: Option<u8>,
        bytes: usize,
        now: Instant,
        size: Option<(u32, u32)>,
    ) -> bool {
        let Some(state) = self.layers.get_mut(usize::from(layer)) else {
            return false;
        };
        let started = state
            .last_packet
            .is_none_or(|t| now.saturating_duration_since(t) >= LAYER_TIMEOUT);
        state.last_packet = Some(now);
        state.bitrate.add(bytes, now);
        if let Some(meter) = temporal.and_then(|t| state.temporal_bitrate.get_mut(usize::from(t))) {
            meter.add(bytes, now);
        }
        if let Some((w, h)) = size {
            state.width = w;
            state.height = h;
        }
        started
    }
}

/// Layer index of a simulcast rid: browsers name them q/h/f (LiveKit, Jitsi)
/// or l/m/h; any other names keep the order the publisher gave.
pub fn order_rids(rids: &[Rid]) -> Vec<Rid> {
    fn rank(rid: &str) -> Option<u8> {
        match rid {
            "q" | "l" | "low" | "0" => Some(0),
            "h" | "m" | "mid" | "medium" | "1" => Some(1),
            "f" | "hi" | "high" | "full" | "2" => Some(2),
            _ => None,
        }
    }
    let mut sorted: Vec<Rid> = rids.iter().copied().take(3).collect();
    if sorted.iter().all(|r| rank(r).is_some()) {
        sorted.sort_by_key(|r| rank(r));
    }
    sorted
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rids_are_ordered_low_to_high() {
        let rids: Vec<Rid> = ["f", "q", "h"].iter().map(|r| Rid::from(*r)).collect();
        let ordered = order_rids(&rids);
        let names: Vec<String> = ordered.iter().map(|r| r.to_string()).collect();
        assert_eq!(names, ["q", "h", "f"]);
        let odd: Vec<Rid> = ["b", "a"].iter().map(|r| Rid::from(*r)).collect();
        let kept: Vec<String> = order_rids(&odd).iter().map(|r| r.to_string()).collect();
        assert_eq!(kept, ["b", "a"]);
    }
}
