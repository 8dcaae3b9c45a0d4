//! What a room forwards as it grows, decided on the housekeeping timer:
//! last-N video ([`crate::last_n`]) and audio of the loudest few
//! ([`crate::audio_top_n`]); plus pins and media policies from signaling.
//! Dynacast, which follows from both, is in `dynacasting`.
//!
//! Nothing here runs per packet, except reading the level of a relayed audio
//! packet, which allocates nothing.

use std::time::Instant;

use crate::api::{CoreEvent, LayerRequest, MediaKind, MediaPolicy, SfuError, TrackSource};
use crate::ids::{ParticipantId, RoomId, TrackId};
use crate::relay::RelayedPacket;

use super::Worker;

impl Worker {
    /// The policy of a room: its own, or the default.
    pub(crate) fn media_policy(&self, room: RoomId) -> MediaPolicy {
        self.room_policies
            .get(&room)
            .copied()
            .unwrap_or(self.media_policy)
    }

    pub(crate) fn set_media_policy(
        &mut self,
        room: Option<RoomId>,
        policy: MediaPolicy,
        now: Instant,
    ) {
        match room {
            Some(room) => {
                self.room_policies.insert(room, policy);
            }
            None => self.media_policy = policy,
        }
        self.update_room_media(&[], now);
        let everyone: Vec<ParticipantId> = self.participants.keys().copied().collect();
        for p in everyone {
            self.reallocate(p, now);
        }
    }

    /// Pin or unpin a remote video track for one subscriber.
    pub(crate) fn pin(
        &mut self,
        id: ParticipantId,
        track: TrackId,
        pinned: bool,
        now: Instant,
    ) -> Result<(), SfuError> {
        let p = self
            .participants
            .get_mut(&id)
            .ok_or(SfuError::UnknownParticipant)?;
        let dt = p
            .downtracks
            .get_mut(&track)
            .ok_or(SfuError::UnknownTrack(track))?;
        if dt.kind != MediaKind::Video {
            return Err(SfuError::Rejected(format!(
                "track {track} is audio; only video tracks can be pinned"
            )));
        }
        dt.pinned = pinned;
        let room = p.room;
        self.update_last_n(room, None);
        self.reallocate(id, now);
        Ok(())
    }

    /// On the housekeeping timer, after the speakers were judged: last-N
    /// and audio top-N of every room.
    pub(super) fn update_room_media(&mut self, speakers: &[(RoomId, ParticipantId)], now: Instant) {
        let rooms: Vec<RoomId> = self.rooms.keys().copied().collect();
        let mut ranking = Vec::new();
        for room in rooms {
            let spoke = speakers.iter().find(|(r, _)| *r == room).map(|(_, p)| *p);
            self.update_last_n(room, spoke);
            self.update_audio_top_n(room, &mut ranking, now);
        }
    }

    /// Rank the room's camera publishers again and tell each subscriber
    /// whose paused set changed.
    fn update_last_n(&mut self, room_id: RoomId, spoke: Option<ParticipantId>) {
        let limit = self.media_policy(room_id).last_n;
        let Some(room) = self.rooms.get_mut(&room_id) else {
            return;
        };
        let mut publishers: Vec<ParticipantId> = Vec::new();
        for t in &room.tracks {
            let camera = self
                .tracks
                .get(t)
                .is_some_and(|t| t.info.source == TrackSource::Camera);
            if camera && !publishers.contains(&t.owner) {
                publishers.push(t.owner);
            }
        }
        if let Some(who) = spoke {
            room.last_n.spoke(who);
        }
        room.last_n.update(limit, &publishers);
        let mut told = Vec::new();
        for sub in &room.participants {
            let Some(p) = self.participants.get(sub) else {
                continue;
            };
            let mut paused: Vec<TrackId> = p
                .downtracks
                .iter()
                .filter(|(_, dt)| dt.kind == MediaKind::Video)
                .filter(|(t, dt)| {
                    let source = self
                        .tracks
                        .get(t)
                        .map_or(TrackSource::Camera, |t| t.info.source);
                    !room.last_n.admits(*sub, t.owner, source, dt.pinned)
                })
                .map(|(t, _)| *t)
                .collect();
            paused.sort_unstable();
            if room.last_n.tell(*sub, paused.clone()) {
                told.push(CoreEvent::LastN {
                    participant: *sub,
                    paused,
                });
            }
        }
        let members = &room.participants;
        room.last_n.retain_subscribers(|p| members.contains(&p));
        for event in told {
            self.emit(event);
        }
    }

    /// Choose the loudest few of a large room and silence the others' audio.
    fn update_audio_top_n(
        &mut self,
        room_id: RoomId,
        ranking: &mut Vec<(ParticipantId, f32)>,
        now: Instant,
    ) {
        let policy = self.media_policy(room_id);
        let Some(room) = self.rooms.get_mut(&room_id) else {
            return;
        };
        let microphones = room
            .tracks
            .iter()
            .filter(|t| {
                self.tracks
                    .get(t)
                    .is_some_and(|t| t.info.source == TrackSource::Microphone)
            })
            .count();
        let active = policy.audio_top_n > 0 && microphones > policy.audio_top_n_above;
        if active {
            room.speaker.ranking(ranking);
            room.top_n.update(policy.audio_top_n, ranking, now);
        } else {
            room.top_n.clear();
        }
        let mut changed = Vec::new();
        for t in &room.tracks {
            let Some(track) = self.tracks.get_mut(t) else {
                continue;
            };
            if track.info.source != TrackSource::Microphone {
                continue;
            }
            // Someone who sends no levels cannot be ranked: always heard.
            let silenced = active && room.speaker.knows(t.owner) && !room.top_n.admits(t.owner);
            if track.silenced != silenced {
                track.silenced = silenced;
                changed.push((*t, silenced));
            }
        }
        for (track, silenced) in changed {
            let Some(t) = self.tracks.get(&track) else {
                continue;
            };
            for sub in &t.subscribers {
                let Some(dt) = self
                    .participants
                    .get_mut(sub)
                    .and_then(|p| p.downtracks.get_mut(&track))
                else {
                    continue;
                };
                // Paused and resumed through the forwarder, so that the
                // subscriber sees one continuous stream.
                let on = !silenced && dt.request != LayerRequest::Off;
                dt.forwarder.set_target(on.then_some(0));
            }
        }
    }

    /// The level in an audio packet relayed from another worker counts for
    /// the speaker of this worker's part of the room too.
    pub(super) fn observe_relayed_level(&mut self, packet: &RelayedPacket, now: Instant) {
        let Some(level) = packet.ext.audio_level else {
            return;
        };
        let Some(track) = self.tracks.get(&packet.track) else {
            return;
        };
        if track.info.source != TrackSource::Microphone {
            return;
        }
        if let Some(room) = self.rooms.get_mut(&track.room) {
            room.speaker.observe(packet.track.owner, level, now);
        }
    }
}
