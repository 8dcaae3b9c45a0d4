//! Who is in which room, which tracks exist, and who receives what: every
//! participant that may subscribe gets a downtrack for each track of the
//! others in its room.

use std::time::Instant;

use crate::api::{CoreEvent, LayerRequest, MediaKind, Permissions, SfuError};
use crate::forwarder::Forwarder;
use crate::ids::{ParticipantId, RoomId, TrackId};
use crate::layer_selector::select_layer;
use crate::participant::{Downtrack, Participant};
use crate::relay::RelayMsg;
use crate::track::Origin;

use super::Worker;

impl Worker {
    pub(crate) fn add_participant(
        &mut self,
        room: RoomId,
        id: ParticipantId,
        permissions: Permissions,
        now: Instant,
    ) -> Result<(), SfuError> {
        if self.participants.contains_key(&id) {
            return Err(SfuError::Rejected(format!(
                "{id} is already on this worker"
            )));
        }
        self.participants
            .insert(id, Participant::new(id, room, permissions));
        let new_room = !self.rooms.contains_key(&room);
        let existing = {
            let room = self.rooms.entry(room).or_default();
            room.participants.push(id);
            room.tracks.clone()
        };
        if new_room {
            self.announce_room(room, true);
        }
        if permissions.can_subscribe {
            for track in existing {
                self.add_downtrack(id, track, now);
            }
            self.negotiate(id, now);
        }
        self.update_gauges();
        Ok(())
    }

    /// Remove a participant and everything of it: tracks, downtracks, peers.
    pub(crate) fn remove_participant(&mut self, id: ParticipantId, now: Instant) {
        let Some(participant) = self.participants.get(&id) else {
            return;
        };
        let room = participant.room;
        let own: Vec<TrackId> = participant.published.iter().map(|(_, t)| *t).collect();
        let received: Vec<TrackId> = participant.downtracks.keys().copied().collect();
        let peers = [participant.publish, participant.subscribe];
        for track in own {
            self.remove_track(track, now);
        }
        for track in received {
            if let Some(t) = self.tracks.get_mut(&track) {
                t.subscribers.retain(|s| *s != id);
            }
        }
        for key in peers.into_iter().flatten() {
            self.remove_peer(key);
        }
        self.participants.remove(&id);
        if let Some(r) = self.rooms.get_mut(&room) {
            r.participants.retain(|p| *p != id);
            let was_speaker = r.speaker.remove(id);
            if r.participants.is_empty() {
                // Tracks relayed from other workers served only the members here.
                let relayed = std::mem::take(&mut r.tracks);
                self.rooms.remove(&room);
                for t in relayed {
                    self.tracks.remove(&t);
                }
                self.announce_room(room, false);
            } else if was_speaker {
                self.emit(CoreEvent::ActiveSpeaker {
                    room,
                    participant: None,
                });
            }
        }
        self.failed.retain(|(p, _)| *p != id);
        self.update_gauges();
    }

    /// New tracks: announce them and give them to everyone else in their
    /// room, each subscriber in one offer, each other worker in one message.
    pub(crate) fn add_tracks(&mut self, tracks: Vec<crate::track::Track>, now: Instant) {
        let mut subscribers = Vec::new();
        let mut relayed: Vec<crate::relay::RelayedTrack> = Vec::new();
        for track in tracks {
            let id = track.info.id;
            let local = matches!(track.origin, Origin::Local { .. });
            subscribers.extend(self.insert_track(track, now));
            if local {
                relayed.extend(self.relayed_track(id));
            }
        }
        if let Some(room) = relayed.first().map(|t| t.room) {
            self.relay_to_room(room, || RelayMsg::TracksAdded(relayed.clone()));
        }
        subscribers.sort_unstable();
        subscribers.dedup();
        for p in subscribers {
            self.negotiate(p, now);
        }
    }

    /// Add a track and its downtracks; returns the participants whose
    /// receiving connection needs a new offer. Relaying is the caller's.
    fn insert_track(&mut self, track: crate::track::Track, now: Instant) -> Vec<ParticipantId> {
        let id = track.info.id;
        let room = track.room;
        let info = track.info.clone();
        let local = matches!(track.origin, Origin::Local { .. });
        self.tracks.insert(id, track);
        let others: Vec<ParticipantId> = match self.rooms.get_mut(&room) {
            Some(r) => {
                r.tracks.push(id);
                r.participants
                    .iter()
                    .copied()
                    .filter(|p| *p != id.owner)
                    .collect()
            }
            None => Vec::new(),
        };
        if local {
            // Only the worker with the publisher tells signaling.
            self.emit(CoreEvent::TrackPublished { room, track: info });
        }
        let mut subscribers = Vec::with_capacity(others.len());
        for p in others {
            if self
                .participants
                .get(&p)
                .is_some_and(|p| p.permissions.can_subscribe)
            {
                self.add_downtrack(p, id, now);
                subscribers.push(p);
            }
        }
        self.update_gauges();
        subscribers
    }

    /// End a track: its subscribers lose their m-line, the room is told.
    pub(crate) fn remove_track(&mut self, id: TrackId, now: Instant) {
        let Some(track) = self.tracks.remove(&id) else {
            return;
        };
        let local = matches!(track.origin, Origin::Local { .. });
        if let Some(owner) = self.participants.get_mut(&id.owner) {
            owner.published.retain(|(_, t)| *t != id);
        }
        if let Some(r) = self.rooms.get_mut(&track.room) {
            r.tracks.retain(|t| *t != id);
        }
        for sub in &track.subscribers {
            let Some(p) = self.participants.get_mut(sub) else {
                continue;
            };
            let Some(dt) = p.downtracks.remove(&id) else {
                continue;
            };
            let n = &mut p.negotiation;
            n.to_add.retain(|t| *t != id);
            if let Some(mid) = dt.mid {
                n.lines.retain(|(m, _)| *m != mid);
                n.to_stop.push(mid);
            }
        }
        if local {
            self.emit(CoreEvent::TrackUnpublished {
                room: track.room,
                track: id,
            });
            self.relay_to_room(track.room, || RelayMsg::TrackRemoved { track: id });
        }
        for sub in track.subscribers {
            self.negotiate(sub, now);
        }
        self.update_gauges();
    }

    /// Start sending `track` to `subscriber`: a downtrack waiting for its m-line.
    pub(crate) fn add_downtrack(
        &mut self,
        subscriber: ParticipantId,
        track: TrackId,
        now: Instant,
    ) {
        let Some(t) = self.tracks.get_mut(&track) else {
            return;
        };
        let Some(p) = self.participants.get_mut(&subscriber) else {
            return;
        };
        if p.downtracks.contains_key(&track) || track.owner == subscriber {
            return;
        }
        let request = p.take_early_request(track).unwrap_or_default();
        let views = t.layer_views(now);
        let target = select_layer(request, &views[..t.spatial_count()]);
        p.downtracks.insert(
            track,
            Downtrack {
                kind: t.info.kind,
                mid: None,
                negotiated: false,
                pt: None,
                request,
                pinned: false,
                forwarder: Forwarder::new(if t.info.kind == MediaKind::Audio {
                    (request != LayerRequest::Off).then_some(0)
                } else {
                    target
                }),
                tx_ssrc: None,
            },
        );
        p.negotiation.to_add.push(track);
        t.subscribers.push(subscriber);
    }
}
