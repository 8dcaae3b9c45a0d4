//! Choosing the video layers each subscriber receives: the layer it asked
//! for (the selector), within its downlink estimate shared by priority (the
//! allocator). One place sets every video target of a subscriber; it runs when
//! an estimate, a request or a layer changes, and on the housekeeping timer.

use std::time::Instant;

use str0m::bwe::Bitrate;

use crate::allocator::{allocate, priority, Demand};
use crate::api::{CoreEvent, MediaKind, TrackSource};
use crate::ids::{ParticipantId, TrackId};
use crate::layer_selector::select_layer;

use super::Worker;

impl Worker {
    pub(crate) fn reallocate(&mut self, id: ParticipantId, now: Instant) {
        let Some(p) = self.participants.get(&id) else {
            return;
        };
        let speaker = self.rooms.get(&p.room).and_then(|r| r.speaker.current());
        let last_n = self.rooms.get(&p.room).map(|r| &r.last_n);
        let mut ids: Vec<TrackId> = Vec::with_capacity(p.downtracks.len());
        let mut demands = Vec::with_capacity(p.downtracks.len());
        let mut current = Vec::with_capacity(p.downtracks.len());
        let mut audio_bps = 0;
        for (track_id, dt) in &p.downtracks {
            let Some(t) = self.tracks.get_mut(track_id) else {
                continue;
            };
            if dt.kind == MediaKind::Audio {
                if dt.forwarder.target().is_some() {
                    audio_bps += t.layers[0].bitrate.bps(now);
                }
                continue;
            }
            let views = t.layer_views(now);
            let max_layer = select_layer(dt.request, &views[..t.layer_count()]).filter(|_| {
                last_n.is_none_or(|l| l.admits(id, track_id.owner, t.info.source, dt.pinned))
            });
            let priority = if t.info.source == TrackSource::Screen {
                priority::SCREEN
            } else if Some(track_id.owner) == speaker {
                priority::SPEAKER
            } else if dt.pinned {
                priority::PINNED
            } else {
                priority::DEFAULT
            };
            ids.push(*track_id);
            demands.push(Demand {
                priority,
                layer_bps: t.layer_bitrates(now),
                max_layer,
            });
            current.push(dt.forwarder.current());
        }
        let plan = match p.estimate_bps {
            Some(estimate) => allocate(estimate.saturating_sub(audio_bps), &demands, &current),
            None => demands.iter().map(|d| d.max_layer).collect(),
        };
        let cost = |d: &Demand, l: Option<u8>| l.map_or(0, |l| d.layer_bps[usize::from(l)]);
        let used: u64 = audio_bps
            + demands
                .iter()
                .zip(&plan)
                .map(|(d, l)| cost(d, *l))
                .sum::<u64>();
        let desired: u64 = audio_bps + demands.iter().map(|d| cost(d, d.max_layer)).sum::<u64>();

        let receiving = self.receiving(id);
        let p = self.participants.get_mut(&id).expect("checked above");
        let mut paused = Vec::new();
        let mut wanted = Vec::new();
        for (track, target) in ids.iter().zip(&plan) {
            let Some(dt) = p.downtracks.get_mut(track) else {
                continue;
            };
            if *target != dt.forwarder.target() {
                let was_flowing = dt.forwarder.current().is_some();
                dt.forwarder.set_target(*target);
                if target.is_none() && was_flowing {
                    paused.push(*track);
                }
            }
            if let (true, true, Some(layer)) =
                (dt.negotiated, receiving, dt.forwarder.awaiting_keyframe())
            {
                wanted.push((*track, layer));
            }
        }
        let subscribe = p.subscribe;
        let probe = p.estimate_bps.is_some();
        for track in paused {
            self.emit(CoreEvent::LayerSwitched {
                participant: id,
                track,
                layer: None,
            });
        }
        for (track, layer) in wanted {
            self.request_keyframe(track, layer, now);
        }
        if let (Some(key), true) = (subscribe, probe) {
            // Pad up to what flows, probe toward what was asked for.
            self.mutate_peer(key, |rtc| {
                rtc.bwe()
                    .set_bitrate(Bitrate::bps(used), Bitrate::bps(desired.max(used)));
                Ok(())
            });
        }
    }
}
