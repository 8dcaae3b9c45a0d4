//! Commands from signaling, each answered on its reply channel.

use std::time::Instant;

use crate::api::{Command, CoreEvent, SfuError, WorkerSnapshot};
use crate::ids::{ParticipantId, TrackId};

use super::Worker;

impl Worker {
    /// Handle one command. Returns false when the worker should stop.
    pub fn handle_command(&mut self, now: Instant, command: Command) -> bool {
        match command {
            Command::AddParticipant {
                room,
                participant,
                permissions,
                reply,
            } => {
                let _ = reply.send(self.add_participant(room, participant, permissions, now));
            }
            Command::RemoveParticipant { participant, reply } => {
                self.remove_participant(participant, now);
                let _ = reply.send(());
            }
            Command::SetPermissions {
                participant,
                permissions,
                reply,
            } => {
                let _ = reply.send(self.set_permissions(participant, permissions, now));
            }
            Command::PublishOffer {
                participant,
                sdp,
                sources,
                reply,
            } => {
                let _ = reply.send(self.publish_offer(participant, &sdp, sources, now));
            }
            Command::SubscriberAnswer {
                participant,
                sdp,
                reply,
            } => {
                let _ = reply.send(self.subscriber_answer(participant, &sdp, now));
            }
            Command::Subscribe {
                participant,
                track,
                request,
                reply,
            } => {
                let _ = reply.send(self.subscribe(participant, track, request, now));
                self.dynacast_track(track, now);
            }
            Command::SetMuted {
                participant,
                track,
                muted,
                reply,
            } => {
                let _ = reply.send(self.set_muted(participant, track, muted));
            }
            Command::Pin {
                participant,
                track,
                pinned,
                reply,
            } => {
                let _ = reply.send(self.pin(participant, track, pinned, now));
                self.dynacast_track(track, now);
            }
            Command::SetMediaPolicy {
                room,
                policy,
                reply,
            } => {
                self.set_media_policy(room, policy, now);
                let _ = reply.send(());
            }
            Command::Unpublish {
                participant,
                track,
                reply,
            } => {
                let result = self
                    .own_track(participant, track)
                    .map(|()| self.remove_track(track, now));
                let _ = reply.send(result);
            }
            Command::Inspect { reply } => {
                let _ = reply.send(self.snapshot());
            }
            Command::Downlinks { room, reply } => {
                let _ = reply.send(self.downlink_reports(room, now));
            }
            Command::Shutdown { reply } => {
                let everyone: Vec<ParticipantId> = self.participants.keys().copied().collect();
                for p in everyone {
                    self.remove_participant(p, now);
                }
                let _ = reply.send(());
                return false;
            }
        }
        self.settle(now);
        true
    }

    fn own_track(&self, participant: ParticipantId, track: TrackId) -> Result<(), SfuError> {
        if !self.participants.contains_key(&participant) {
            return Err(SfuError::UnknownParticipant);
        }
        if track.owner != participant || !self.tracks.contains_key(&track) {
            return Err(SfuError::UnknownTrack(track));
        }
        Ok(())
    }

    fn set_muted(
        &mut self,
        participant: ParticipantId,
        track: TrackId,
        muted: bool,
    ) -> Result<(), SfuError> {
        self.own_track(participant, track)?;
        let t = self.tracks.get_mut(&track).expect("checked by own_track");
        if t.info.muted != muted {
            t.info.muted = muted;
            let room = t.room;
            self.emit(CoreEvent::TrackMuted { room, track, muted });
            self.relay_to_room(room, || crate::relay::RelayMsg::TrackMuted { track, muted });
        }
        Ok(())
    }

    fn set_permissions(
        &mut self,
        id: ParticipantId,
        permissions: crate::api::Permissions,
        now: Instant,
    ) -> Result<(), SfuError> {
        let p = self
            .participants
            .get_mut(&id)
            .ok_or(SfuError::UnknownParticipant)?;
        let before = p.permissions;
        p.permissions = permissions;
        if before.can_publish && !permissions.can_publish {
            // Losing the right to publish ends the tracks and the connection.
            let own: Vec<TrackId> = p.published.iter().map(|(_, t)| *t).collect();
            let publish = p.publish.take();
            for t in own {
                self.remove_track(t, now);
            }
            if let Some(key) = publish {
                self.remove_peer(key);
            }
        }
        if !before.can_subscribe && permissions.can_subscribe {
            let room = self.participants[&id].room;
            let tracks = self
                .rooms
                .get(&room)
                .map(|r| r.tracks.clone())
                .unwrap_or_default();
            for t in tracks {
                self.add_downtrack(id, t, now);
            }
            self.negotiate(id, now);
        }
        self.update_gauges();
        Ok(())
    }

    /// What this worker holds now.
    pub fn snapshot(&self) -> WorkerSnapshot {
        let mut s = WorkerSnapshot {
            worker: self.config.index,
            rooms: self.rooms.keys().copied().collect(),
            participants: self.participants.keys().copied().collect(),
            tracks: self.tracks.keys().copied().collect(),
            peers: self.peer_count(),
            subscriptions: self
                .participants
                .values()
                .flat_map(|p| p.downtracks.keys().map(move |t| (p.id, *t)))
                .collect(),
            routes: self.route_count(),
        };
        s.rooms.sort();
        s.participants.sort();
        s.tracks.sort();
        s.subscriptions.sort();
        s
    }
}
