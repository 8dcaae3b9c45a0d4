//! Choosing the video layers each subscriber receives: the layer it asked
//! for (the selector), within its downlink estimate shared by priority (the
//! allocator). One place sets every video target of a subscriber, in two
//! steps: plan for all of its tracks, then apply. It runs when an estimate,
//! a request or a layer changes, and on the housekeeping timer; never per
//! packet.

use std::time::Instant;

use str0m::bwe::{Bitrate, BweKind};
use str0m::stats::PeerStats;

use crate::allocator::{allocate, priority, Demand};
use crate::api::{CoreEvent, MediaKind, TrackSource};
use crate::downlink::Source;
use crate::ids::{ParticipantId, TrackId};
use crate::layer_selector::{select_layer, visible_area};
use crate::layers::{Layers, TOP_TEMPORAL};
use crate::metrics::WorkerMetrics;

use super::Worker;

/// What one subscriber should receive, before it is applied.
struct DownlinkPlan {
    tracks: Vec<PlannedTrack>,
    /// What the plan forwards, audio included, in bit/s.
    used_bps: u64,
    /// What everything asked for would take.
    desired_bps: u64,
    /// Some layer went down for lack of bandwidth.
    fell: bool,
    /// Some layer went up.
    rose: bool,
    /// An estimate bounded the plan (so str0m is told what to probe for).
    estimated: bool,
}

struct PlannedTrack {
    track: TrackId,
    target: Option<Layers>,
    /// Below what the subscriber asked for, for lack of bandwidth.
    limited: bool,
}

impl Worker {
    pub(crate) fn reallocate(&mut self, id: ParticipantId, now: Instant) {
        if let Some(plan) = self.plan_downlink(id, now) {
            self.apply_downlink(id, plan, now);
        }
    }

    /// The estimate changed (TWCC from str0m's estimator, or the client's REMB).
    pub(super) fn on_downlink_estimate(&mut self, id: ParticipantId, kind: BweKind, now: Instant) {
        let Some(p) = self.participants.get_mut(&id) else {
            return;
        };
        match kind {
            BweKind::Twcc {
                estimate,
                can_probe,
            } => p.downlink.on_twcc(estimate.as_u64(), can_probe, now),
            BweKind::Remb { estimate, .. } => p.downlink.on_remb(estimate.as_u64(), now),
            _ => return,
        }
        self.reallocate(id, now);
    }

    /// A stats tick of a receiving connection: the raw estimate, loss, round trip.
    pub(super) fn on_downlink_stats(&mut self, id: ParticipantId, s: &PeerStats, now: Instant) {
        let Some(p) = self.participants.get_mut(&id) else {
            return;
        };
        let before = p.downlink.estimate(now);
        let raw = s.bwe_tx.map(|b| b.as_u64());
        p.downlink.on_stats(raw, s.egress_loss_fraction, s.rtt, now);
        let after = p.downlink.estimate(now);
        self.observe_downlink(after.map(|e| e.0), s.egress_loss_fraction, s.rtt);
        if after != before {
            self.reallocate(id, now);
        }
    }

    /// Plan every video downtrack of a subscriber from its requests, the
    /// layers flowing, priorities and its estimate.
    fn plan_downlink(&mut self, id: ParticipantId, now: Instant) -> Option<DownlinkPlan> {
        let p = self.participants.get(&id)?;
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
            let max_layer = select_layer(dt.request, &views[..t.spatial_count()]).filter(|_| {
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
                area: visible_area(dt.request),
                layer_bps: t.layer_bitrates(now),
                max_layer,
            });
            current.push(dt.forwarder.current_layers());
        }
        let estimate = p.downlink.estimate(now);
        // Without loss, what flows keeps flowing however the estimate dips
        // (see `Downlink::congested`).
        let keep_bps = match estimate {
            Some((_, Source::Twcc)) if !p.downlink.congested() => demands
                .iter()
                .zip(&current)
                .map(|(d, c)| c.map_or(0, |l| d.cost(l)))
                .sum(),
            _ => 0,
        };
        let estimate = estimate.map(|(bps, _)| bps);
        let layers = match estimate {
            Some(e) => allocate(
                e.saturating_sub(audio_bps).max(keep_bps),
                &demands,
                &current,
                p.downlink.may_climb(now),
            ),
            None => demands
                .iter()
                .map(|d| d.max_layer.map(Layers::full))
                .collect(),
        };
        let cost = |d: &Demand, l: Option<Layers>| l.map_or(0, |l| d.cost(l));
        let mut plan = DownlinkPlan {
            tracks: Vec::with_capacity(ids.len()),
            used_bps: audio_bps,
            desired_bps: audio_bps,
            fell: false,
            rose: false,
            estimated: estimate.is_some(),
        };
        for (i, track) in ids.into_iter().enumerate() {
            let (d, target) = (&demands[i], layers[i]);
            let wanted = d.max_layer.map(Layers::full);
            let limited = target < wanted;
            plan.used_bps += cost(d, target);
            plan.desired_bps += cost(d, wanted);
            plan.fell |= limited && target < current[i];
            plan.rose |= current[i].is_some() && target > current[i];
            plan.tracks.push(PlannedTrack {
                track,
                target,
                limited,
            });
        }
        Some(plan)
    }

    /// Set the planned targets, tell the subscriber what was paused, ask for
    /// the keyframes the new targets wait for, and tell str0m what to pad
    /// and probe toward.
    fn apply_downlink(&mut self, id: ParticipantId, plan: DownlinkPlan, now: Instant) {
        let receiving = self.receiving(id);
        let Some(p) = self.participants.get_mut(&id) else {
            return;
        };
        if plan.fell && !p.downlink.starting(now) {
            p.downlink.note_fall(now);
        } else if plan.rose {
            p.downlink.note_climb(now);
        }
        if plan.estimated && !p.downlink.starting(now) {
            p.downlink.note_forwarding(plan.used_bps);
        }
        let mut events = Vec::new();
        let mut wanted = Vec::new();
        for planned in &plan.tracks {
            let Some(dt) = p.downtracks.get_mut(&planned.track) else {
                continue;
            };
            dt.forwarder
                .set_temporal_target(planned.target.map_or(TOP_TEMPORAL, |l| l.temporal));
            let target = planned.target.map(|l| l.spatial);
            if target != dt.forwarder.target() {
                let was_flowing = dt.forwarder.current().is_some();
                dt.forwarder.set_target(target);
                if target.is_none() && was_flowing {
                    events.push(if planned.limited {
                        CoreEvent::PausedForBandwidth {
                            participant: id,
                            track: planned.track,
                        }
                    } else {
                        CoreEvent::LayerSwitched {
                            participant: id,
                            track: planned.track,
                            layer: None,
                        }
                    });
                }
            }
            if let (true, true, Some(layer)) =
                (dt.negotiated, receiving, dt.forwarder.awaiting_keyframe())
            {
                wanted.push((planned.track, layer));
            }
        }
        let subscribe = p.subscribe;
        let desired_bps = p
            .downlink
            .probe_toward(plan.used_bps, plan.desired_bps, now);
        let restart = p.downlink.take_restart(now);
        for event in events {
            if matches!(event, CoreEvent::PausedForBandwidth { .. }) {
                WorkerMetrics::add(&self.metrics.bandwidth_pauses, 1);
            }
            self.emit(event);
        }
        for (track, layer) in wanted {
            self.request_keyframe(track, layer, now);
        }
        if let (Some(key), true) = (subscribe, plan.estimated) {
            // Pad up to what flows; probe toward what was asked for, so that
            // the estimate shows room before a layer moves up.
            let used = Bitrate::bps(plan.used_bps);
            let desired = Bitrate::bps(desired_bps.max(plan.used_bps));
            self.mutate_peer(key, |rtc| {
                if let Some(bps) = restart {
                    rtc.bwe().reset(Bitrate::bps(bps));
                }
                rtc.bwe().set_bitrate(used, desired);
                Ok(())
            });
        }
    }

    /// The downlink estimate of a participant's receiving connection, in bit/s.
    pub fn downlink_estimate(&self, id: ParticipantId, now: Instant) -> Option<u64> {
        let p = self.participants.get(&id)?;
        p.downlink.estimate(now).map(|(bps, _)| bps)
    }
}
