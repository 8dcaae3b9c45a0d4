//! A room spread over several workers: messages to and from the other
//! workers (see [`crate::relay`]).

use std::time::Instant;

use crate::ids::{RoomId, TrackId};
use crate::relay::{RelayMsg, RelayedTrack, WorkerIndex};
use crate::track::{Origin, Track};

use super::Worker;

impl Worker {
    /// One message from another worker.
    pub fn handle_relay(&mut self, now: Instant, from: WorkerIndex, msg: RelayMsg) {
        match msg {
            RelayMsg::RoomJoined { room } => {
                let workers = self.room_workers.entry(room).or_default();
                if !workers.contains(&from) {
                    workers.push(from);
                }
                let local = self.local_tracks(room);
                let tracks: Vec<RelayedTrack> = local
                    .iter()
                    .filter_map(|t| self.relayed_track(*t))
                    .collect();
                if !tracks.is_empty() {
                    self.relay_outbox
                        .push((from, RelayMsg::TracksAdded(tracks)));
                }
            }
            RelayMsg::RoomLeft { room } => {
                self.forget_worker_needs(room, from);
                if let Some(workers) = self.room_workers.get_mut(&room) {
                    workers.retain(|w| *w != from);
                    if workers.is_empty() {
                        self.room_workers.remove(&room);
                    }
                }
            }
            RelayMsg::TracksAdded(tracks) => {
                let tracks: Vec<Track> = tracks
                    .into_iter()
                    .filter(|t| {
                        self.rooms.contains_key(&t.room) && !self.tracks.contains_key(&t.info.id)
                    })
                    .map(|t| {
                        Track::new(
                            t.info,
                            t.room,
                            Origin::Remote { worker: from },
                            t.codec,
                            t.pt,
                            t.clock_rate,
                            t.rids,
                        )
                    })
                    .collect();
                self.add_tracks(tracks, now);
            }
            RelayMsg::TrackRemoved { track } => {
                if self
                    .tracks
                    .get(&track)
                    .is_some_and(|t| t.origin == Origin::Remote { worker: from })
                {
                    self.remove_track(track, now);
                }
            }
            RelayMsg::TrackMuted { track, muted } => {
                if let Some(t) = self.tracks.get_mut(&track) {
                    t.info.muted = muted;
                }
            }
            RelayMsg::Packet(packet) => {
                self.observe_relayed_level(&packet, now);
                self.fan_out(&packet, now);
            }
            RelayMsg::LayersNeeded { track, need } => self.on_layers_needed(from, track, need, now),
            RelayMsg::KeyframeRequest { track, layer } => {
                if self
                    .tracks
                    .get(&track)
                    .is_some_and(|t| matches!(t.origin, Origin::Local { .. }))
                {
                    self.request_keyframe(track, layer, now);
                }
            }
        }
        self.settle(now);
    }

    /// Tell every other worker about a room that now has members here, or none.
    pub(crate) fn announce_room(&mut self, room: RoomId, joined: bool) {
        for w in (0..self.config.workers).filter(|w| *w != self.config.index) {
            let msg = if joined {
                RelayMsg::RoomJoined { room }
            } else {
                RelayMsg::RoomLeft { room }
            };
            self.relay_outbox.push((w, msg));
        }
    }

    /// Send a message about a local track to every other worker in its room.
    pub(crate) fn relay_to_room(&mut self, room: RoomId, msg: impl Fn() -> RelayMsg) {
        if let Some(workers) = self.room_workers.get(&room) {
            for &w in workers {
                self.relay_outbox.push((w, msg()));
            }
        }
    }

    fn local_tracks(&self, room: RoomId) -> Vec<TrackId> {
        self.rooms
            .get(&room)
            .map(|r| {
                r.tracks
                    .iter()
                    .copied()
                    .filter(|t| {
                        self.tracks
                            .get(t)
                            .is_some_and(|t| matches!(t.origin, Origin::Local { .. }))
                    })
                    .collect()
            })
            .unwrap_or_default()
    }

    pub(crate) fn relayed_track(&self, track: TrackId) -> Option<RelayedTrack> {
        let t = self.tracks.get(&track)?;
        Some(RelayedTrack {
            room: t.room,
            info: t.info.clone(),
            codec: t.codec,
            pt: t.pt,
            clock_rate: t.clock_rate,
            rids: t.rids.clone(),
        })
    }
}
