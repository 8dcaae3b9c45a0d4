//! Media messages: publish offers, subscribe answers, layer requests, mute
//! and unpublish. Each checks what signaling knows (role, track ownership)
//! and then asks the room's media worker.

use relais_sfu::{Command, TrackId};

use super::{ok, Session};
use crate::convert::{layer_request, source_to_core};
use crate::error::SignalError;
use crate::protocol::{Kind, MidSource, MidTrack, Quality, Role, ServerMessage};
use crate::registry::Room;

type Reply = Result<Option<ServerMessage>, SignalError>;

/// A track id of this room, from its text.
fn room_track(room: &Room, text: &str) -> Result<TrackId, SignalError> {
    let id: TrackId = text.parse().map_err(|_| SignalError::unknown_track(text))?;
    if room.has_track(id) {
        Ok(id)
    } else {
        Err(SignalError::unknown_track(text))
    }
}

impl Session {
    /// A track of the client's own, or why not.
    fn own_track(&self, room: &Room, text: &str, verb: &str) -> Result<TrackId, SignalError> {
        let (me, _) = self.joined()?;
        let id = room_track(room, text)?;
        if id.owner != me {
            return Err(SignalError::forbidden(format!(
                "track '{text}' belongs to {}; you can {verb} only your own tracks",
                id.owner
            )));
        }
        Ok(id)
    }

    pub(super) async fn publish_offer(
        &self,
        req: Option<String>,
        sdp: String,
        sources: Vec<MidSource>,
    ) -> Reply {
        let (me, room) = self.joined()?;
        let role = room.member(me).map(|m| m.role);
        if role == Some(Role::Attendee) {
            return Err(SignalError::forbidden(
                "attendees cannot publish in a webinar; the host can make you a presenter",
            ));
        }
        let sources = sources
            .into_iter()
            .map(|s| (s.mid, source_to_core(s.source)))
            .collect();
        let answer = self
            .core(&room, |reply| Command::PublishOffer {
                participant: me,
                sdp,
                sources,
                reply,
            })
            .await?;
        Ok(Some(ServerMessage::PublishAnswer {
            req,
            sdp: answer.sdp,
            tracks: answer
                .tracks
                .into_iter()
                .map(|(mid, t)| MidTrack {
                    mid,
                    track_id: t.id.to_string(),
                })
                .collect(),
        }))
    }

    pub(super) async fn subscribe_answer(&self, req: Option<String>, sdp: String) -> Reply {
        let (me, room) = self.joined()?;
        self.core(&room, |reply| Command::SubscriberAnswer {
            participant: me,
            sdp,
            reply,
        })
        .await?;
        Ok(ok(req))
    }

    pub(super) async fn subscribe(
        &self,
        req: Option<String>,
        track_id: &str,
        quality: Option<Quality>,
        max_width: Option<u32>,
        max_height: Option<u32>,
    ) -> Reply {
        let (me, room) = self.joined()?;
        let track = room_track(&room, track_id)?;
        if track.owner == me {
            return Err(SignalError::bad_message(format!(
                "track '{track_id}' is your own; you receive only the others' tracks"
            )));
        }
        let request = layer_request(quality, max_width, max_height)?;
        self.core(&room, |reply| Command::Subscribe {
            participant: me,
            track,
            request,
            reply,
        })
        .await?;
        Ok(ok(req))
    }

    pub(super) async fn pin(&self, req: Option<String>, track_id: &str, pinned: bool) -> Reply {
        let (me, room) = self.joined()?;
        let track = room_track(&room, track_id)?;
        if track.owner == me {
            return Err(SignalError::bad_message(format!(
                "track '{track_id}' is your own; you can pin only the others' tracks"
            )));
        }
        if room.track(track).is_some_and(|t| t.kind != Kind::Video) {
            return Err(SignalError::bad_message(format!(
                "track '{track_id}' is audio; only video tracks can be pinned"
            )));
        }
        self.core(&room, |reply| Command::Pin {
            participant: me,
            track,
            pinned,
            reply,
        })
        .await?;
        Ok(ok(req))
    }

    pub(super) async fn mute(&self, req: Option<String>, track_id: &str, muted: bool) -> Reply {
        let (me, room) = self.joined()?;
        let track = self.own_track(&room, track_id, "mute")?;
        self.core(&room, |reply| Command::SetMuted {
            participant: me,
            track,
            muted,
            reply,
        })
        .await?;
        Ok(ok(req))
    }

    pub(super) async fn unpublish(&self, req: Option<String>, track_id: &str) -> Reply {
        let (me, room) = self.joined()?;
        let track = self.own_track(&room, track_id, "unpublish")?;
        self.core(&room, |reply| Command::Unpublish {
            participant: me,
            track,
            reply,
        })
        .await?;
        Ok(ok(req))
    }
}
