//! The social side of a room (chat, raised hands) and the host's powers
//! (roles, muting and removing others).

use std::time::{SystemTime, UNIX_EPOCH};

use relais_sfu::{Command, ParticipantId};

use super::join::{can_publish, permissions};
use super::{ok, Session};
use crate::error::SignalError;
use crate::protocol::{ErrorCode, Role, ServerMessage};
use crate::registry::Room;

type Reply = Result<Option<ServerMessage>, SignalError>;

/// Longest chat message, in bytes.
pub const MAX_CHAT_BYTES: usize = 4096;

fn now_ms() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_millis() as u64)
        .unwrap_or(0)
}

/// A member of this room other than `me`, from its text id.
fn other_member(room: &Room, me: ParticipantId, text: &str) -> Result<ParticipantId, SignalError> {
    let id: ParticipantId = text
        .parse()
        .map_err(|_| SignalError::unknown_participant(text))?;
    if room.member(id).is_none() {
        return Err(SignalError::unknown_participant(text));
    }
    if id == me {
        return Err(SignalError::bad_message(
            "this action is for other participants, not yourself",
        ));
    }
    Ok(id)
}

impl Session {
    pub(super) fn chat(&self, req: Option<String>, text: String) -> Reply {
        let (me, room) = self.joined()?;
        if text.trim().is_empty() {
            return Err(SignalError::bad_message("the chat message is empty"));
        }
        if text.len() > MAX_CHAT_BYTES {
            return Err(SignalError::new(
                ErrorCode::MessageTooLarge,
                format!(
                    "chat message of {} bytes is over the limit of {MAX_CHAT_BYTES} bytes",
                    text.len()
                ),
            ));
        }
        let name = room.member(me).map(|m| m.name).unwrap_or_default();
        room.broadcast(
            &ServerMessage::Chat {
                participant_id: me.to_string(),
                name,
                text,
                timestamp_ms: now_ms(),
            },
            None,
        );
        Ok(ok(req))
    }

    pub(super) fn raise_hand(&self, req: Option<String>, raised: bool) -> Reply {
        let (me, room) = self.joined()?;
        room.set_hand(me, raised);
        room.broadcast(
            &ServerMessage::HandRaised {
                participant_id: me.to_string(),
                raised,
            },
            None,
        );
        Ok(ok(req))
    }

    fn require_host(&self, room: &Room, me: ParticipantId, what: &str) -> Result<(), SignalError> {
        match room.member(me).map(|m| m.role) {
            Some(Role::Host) => Ok(()),
            _ => Err(SignalError::forbidden(format!("only the host may {what}"))),
        }
    }

    pub(super) async fn set_role(&self, req: Option<String>, target: &str, role: Role) -> Reply {
        let (me, room) = self.joined()?;
        self.require_host(&room, me, "change roles")?;
        let target = other_member(&room, me, target)?;
        if role == Role::Host {
            return Err(SignalError::bad_message(
                "set_role makes presenters, attendees or participants; a room has one host",
            ));
        }
        let old = room
            .set_role(target, role)
            .ok_or_else(|| SignalError::unknown_participant(&target.to_string()))?;
        if can_publish(old) != can_publish(role) {
            let changed = self
                .core(&room, |reply| Command::SetPermissions {
                    participant: target,
                    permissions: permissions(role),
                    reply,
                })
                .await;
            if let Err(e) = changed {
                room.set_role(target, old);
                return Err(e);
            }
        }
        room.broadcast(
            &ServerMessage::RoleChanged {
                participant_id: target.to_string(),
                role,
            },
            None,
        );
        Ok(ok(req))
    }

    pub(super) async fn mute_participant(&self, req: Option<String>, target: &str) -> Reply {
        let (me, room) = self.joined()?;
        self.require_host(&room, me, "mute others")?;
        let target = other_member(&room, me, target)?;
        room.send_to(target, &ServerMessage::MutedByHost {});
        for track in room.tracks_of(target) {
            // A track that ended meanwhile needs no muting.
            let _ = self
                .core(&room, |reply| Command::SetMuted {
                    participant: target,
                    track,
                    muted: true,
                    reply,
                })
                .await;
        }
        Ok(ok(req))
    }

    pub(super) async fn remove_participant(&self, req: Option<String>, target: &str) -> Reply {
        let (me, room) = self.joined()?;
        self.require_host(&room, me, "remove others")?;
        let target = other_member(&room, me, target)?;
        room.close_member(target, "removed");
        self.state.remove_participant(target, "removed").await;
        Ok(ok(req))
    }
}
