//! Dynacast on a worker ([`crate::dynacast`] holds the pure state): what the
//! subscribers here need of each video track; the publisher's worker decides
//! which layers it sends and tells it, the other workers report their need.
//!
//! Runs on the housekeeping timer, and for one track when its subscriptions
//! change; never per packet.

use std::time::Instant;

use crate::api::{CoreEvent, MediaKind, PublisherLayer};
use crate::dynacast::LayerDemand;
use crate::ids::{RoomId, TrackId};
use crate::layer_selector::{select_layer, LayerView};
use crate::relay::{RelayMsg, WorkerIndex};
use crate::track::{Origin, LAYER_TIMEOUT};

use super::Worker;

impl Worker {
    /// Every video track, on the housekeeping timer.
    pub(crate) fn update_dynacast(&mut self, now: Instant) {
        let video: Vec<TrackId> = self
            .tracks
            .iter()
            .filter(|(_, t)| t.info.kind == MediaKind::Video)
            .map(|(id, _)| *id)
            .collect();
        for id in video {
            self.dynacast_track(id, now);
        }
        let tracks = &self.tracks;
        self.dynacast.reported.retain(|t, _| tracks.contains_key(t));
        self.dynacast.demands.retain(|t, _| tracks.contains_key(t));
    }

    /// One video track: decide its layers (published here) or report what
    /// this worker needs of it (relayed here).
    pub(crate) fn dynacast_track(&mut self, id: TrackId, now: Instant) {
        let Some(need) = self.layer_need(id) else {
            return;
        };
        match self.tracks.get(&id).map(|t| t.origin) {
            Some(Origin::Local { .. }) => self.decide_layers(id, need, now),
            Some(Origin::Remote { worker }) => self.report_need(id, worker, need, now),
            None => {}
        }
    }

    /// The highest layer this worker's subscribers need of a video track:
    /// what their requests map to whatever flows now, for those last-N lets
    /// receive it. `None` for a track that is not video.
    fn layer_need(&self, id: TrackId) -> Option<Option<u8>> {
        let t = self.tracks.get(&id)?;
        if t.info.kind != MediaKind::Video {
            return None;
        }
        let last_n = self.rooms.get(&t.room).map(|r| &r.last_n);
        let mut all_on = [LayerView::default(); 3];
        for (view, state) in all_on.iter_mut().zip(&t.layers) {
            *view = LayerView {
                active: true,
                width: state.width,
                height: state.height,
            };
        }
        let mut need: Option<u8> = None;
        for sub in &t.subscribers {
            let Some(dt) = self
                .participants
                .get(sub)
                .and_then(|p| p.downtracks.get(&id))
            else {
                continue;
            };
            if last_n.is_some_and(|l| !l.admits(*sub, id.owner, t.info.source, dt.pinned)) {
                continue;
            }
            need = need.max(select_layer(dt.request, &all_on[..t.layer_count()]));
        }
        Some(need)
    }

    /// Tell the publisher's worker what this one needs, when it changed.
    fn report_need(&mut self, id: TrackId, worker: WorkerIndex, need: Option<u8>, now: Instant) {
        let reported = self.dynacast.reported.get(&id).copied();
        if reported == Some(need) {
            return;
        }
        self.dynacast.reported.insert(id, need);
        self.relay_outbox
            .push((worker, RelayMsg::LayersNeeded { track: id, need }));
        let Some(n) = need.filter(|_| need > reported.flatten()) else {
            return;
        };
        // Layers that flowed and stopped were probably paused by the origin's
        // dynacast, which resumes them now: expect them, so that the first
        // layer back does not pull the targets down to it.
        let Some(t) = self.tracks.get_mut(&id) else {
            return;
        };
        let mut expected = false;
        for state in t.layers.iter_mut().take(usize::from(n) + 1) {
            let stopped = state
                .last_packet
                .is_some_and(|at| now.saturating_duration_since(at) >= LAYER_TIMEOUT);
            if stopped {
                state.last_packet = Some(now);
                expected = true;
            }
        }
        if expected {
            self.reselect_layers(id, now);
        }
    }

    /// Decide which layers the publisher here sends; tell it on a change.
    fn decide_layers(&mut self, id: TrackId, need: Option<u8>, now: Instant) {
        let enabled = self
            .tracks
            .get(&id)
            .is_some_and(|t| self.media_policy(t.room).dynacast);
        let Some(t) = self.tracks.get_mut(&id) else {
            return;
        };
        let count = t.layer_count();
        let demand = self
            .dynacast
            .demands
            .entry(id)
            .or_insert_with(|| LayerDemand::new(count, now));
        let before = demand.sending();
        let Some(mask) = demand.decide(count, need, enabled, now) else {
            return;
        };
        for (l, state) in t.layers.iter_mut().enumerate().take(count) {
            let (was, is) = (before & (1 << l) != 0, mask & (1 << l) != 0);
            if was && !is {
                // Stopped on purpose: not a layer that failed, and not one to
                // forward from while it drains.
                state.last_packet = None;
            } else if !was && is {
                // Expected back: targets move to it now (and ask for its
                // keyframe) rather than follow the first layer to return.
                state.last_packet = Some(now);
            }
        }
        let layers = (0..count)
            .map(|l| PublisherLayer {
                rid: t.rid_of(l as u8).map(|r| r.to_string()),
                active: mask & (1 << l) != 0,
            })
            .collect();
        self.emit(CoreEvent::PublisherLayers {
            participant: id.owner,
            track: id,
            layers,
        });
        if mask & !before != 0 {
            self.reselect_layers(id, now);
        }
    }

    /// A layer report from another worker about a track published here.
    pub(super) fn on_layers_needed(
        &mut self,
        from: WorkerIndex,
        id: TrackId,
        need: Option<u8>,
        now: Instant,
    ) {
        let Some(t) = self.tracks.get(&id) else {
            return;
        };
        if !matches!(t.origin, Origin::Local { .. }) || t.info.kind != MediaKind::Video {
            return;
        }
        // The report may come before this worker's first sweep of the track.
        let count = t.layer_count();
        self.dynacast
            .demands
            .entry(id)
            .or_insert_with(|| LayerDemand::new(count, now))
            .report(from, need);
        // Reports come only on changes: a layer asked for resumes now, not at
        // the next sweep.
        self.dynacast_track(id, now);
    }

    /// Another worker left a room: its subscribers need nothing any more.
    pub(super) fn forget_worker_needs(&mut self, room: RoomId, worker: WorkerIndex) {
        for (track, demand) in self.dynacast.demands.iter_mut() {
            if self.tracks.get(track).is_some_and(|t| t.room == room) {
                demand.forget(worker);
            }
        }
    }
}
