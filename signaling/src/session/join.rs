//! `join`: check who the client is (token, or its word in development mode),
//! take a place in the room, put it on the room's media worker, reply.

use relais_sfu::{Command, MediaPolicy, Permissions};

use super::{Joined, Session};
use crate::auth;
use crate::error::SignalError;
use crate::protocol::{ErrorCode, Role, RoomMode, ServerMessage, PROTOCOL_VERSION};
use crate::registry::{NewMember, NewRoom};

/// Longest room name, in bytes.
pub const MAX_ROOM_NAME: usize = 128;
/// Longest display name, in characters.
pub const MAX_DISPLAY_NAME: usize = 64;

/// Who joins, as established by a token or by the client's word.
struct Grant {
    identity: String,
    name: Option<String>,
    role: Option<Role>,
    mode: RoomMode,
    last_n: Option<usize>,
}

/// What a join asks of a room it creates (development mode; tokens say it
/// with claims).
pub(super) struct RoomWish {
    pub mode: Option<RoomMode>,
    pub last_n: Option<usize>,
}

pub fn can_publish(role: Role) -> bool {
    role != Role::Attendee
}

pub fn permissions(role: Role) -> Permissions {
    Permissions {
        can_publish: can_publish(role),
        can_subscribe: true,
    }
}

fn check_room_name(room: &str) -> Result<(), SignalError> {
    if room.is_empty() {
        return Err(SignalError::bad_message("the room name is empty"));
    }
    if room.len() > MAX_ROOM_NAME {
        return Err(SignalError::bad_message(format!(
            "the room name is {} bytes; at most {MAX_ROOM_NAME}",
            room.len()
        )));
    }
    if room.chars().any(char::is_control) {
        return Err(SignalError::bad_message(
            "the room name contains control characters",
        ));
    }
    Ok(())
}

fn clean_name(name: Option<String>) -> Result<Option<String>, SignalError> {
    let Some(name) = name else { return Ok(None) };
    let name = name.trim();
    if name.chars().count() > MAX_DISPLAY_NAME {
        return Err(SignalError::bad_message(format!(
            "the display name is longer than {MAX_DISPLAY_NAME} characters"
        )));
    }
    if name.chars().any(char::is_control) {
        return Err(SignalError::bad_message(
            "the display name contains control characters",
        ));
    }
    Ok((!name.is_empty()).then(|| name.to_string()))
}

impl Session {
    pub(super) async fn join(
        &mut self,
        req: Option<String>,
        room_name: String,
        name: Option<String>,
        token: Option<String>,
        role: Option<Role>,
        wish: RoomWish,
    ) -> Result<(), SignalError> {
        if self.state.is_shutting_down() {
            return Err(SignalError::new(
                ErrorCode::RoomClosed,
                "the server is shutting down",
            ));
        }
        check_room_name(&room_name)?;
        let grant = match &self.state.config.secret {
            Some(secret) => {
                let token = token.ok_or_else(|| {
                    SignalError::unauthorized("this server requires a token: join with 'token'")
                })?;
                let claims = auth::verify(secret, &token, &room_name)?;
                Grant {
                    name: claims.name.or_else(|| Some(claims.sub.clone())),
                    identity: claims.sub,
                    role: claims.role,
                    mode: claims.mode.unwrap_or(RoomMode::Meeting),
                    last_n: claims.last_n,
                }
            }
            None => Grant {
                identity: String::new(),
                name: clean_name(name)?,
                role,
                mode: wish.mode.unwrap_or(RoomMode::Meeting),
                last_n: wish.last_n,
            },
        };
        let registry = &self.state.registry;
        let id = registry.next_participant_id();
        let display_name = clean_name(grant.name)?.unwrap_or_else(|| format!("guest {id}"));
        let reservation = registry.reserve(
            &room_name,
            NewRoom {
                mode: grant.mode,
                last_n: grant.last_n,
            },
            id,
            NewMember {
                name: display_name.clone(),
                role: grant.role,
                outbox: self.outbox.clone(),
            },
            self.state.config.max_participants,
        )?;
        let room = reservation.room;
        let role = reservation.role;
        self.send_room_policy(&room).await?;
        let added = self
            .core(&room, |reply| Command::AddParticipant {
                room: room.id,
                participant: id,
                permissions: permissions(role),
                reply,
            })
            .await;
        if let Err(e) = added {
            // Nobody was told of it yet; take the place back quietly.
            self.state.forget_participant(id);
            return Err(e);
        }
        let development = self.state.config.secret.is_none();
        let joined = ServerMessage::Joined {
            req,
            protocol_version: PROTOCOL_VERSION,
            room: room_name,
            mode: room.mode,
            participant_id: id.to_string(),
            role,
            participants: reservation.others,
            tracks: reservation.tracks,
            development,
        };
        self.joined = Some(Joined {
            id,
            room: room.clone(),
        });
        if !registry.complete_join(id, &joined) {
            return Err(SignalError::new(
                ErrorCode::RoomClosed,
                "the room closed while joining",
            ));
        }
        tracing::info!(
            participant = %id,
            room = %room.name,
            worker = self.state.registry.worker_of(id).unwrap_or(room.worker),
            identity = %grant.identity,
            name = %display_name,
            ?role,
            "participant joined"
        );
        Ok(())
    }
}

impl Session {
    /// The first join of a room with its own last-N gives every worker the
    /// room's media policy (a room may span them all), before any member.
    async fn send_room_policy(&self, room: &crate::registry::Room) -> Result<(), SignalError> {
        let Some(last_n) = room.last_n else {
            return Ok(());
        };
        if room
            .policy_sent
            .swap(true, std::sync::atomic::Ordering::AcqRel)
        {
            return Ok(());
        }
        let policy = MediaPolicy {
            last_n,
            ..self.state.config.media
        };
        for worker in self.state.sfu.workers() {
            worker
                .call(|reply| Command::SetMediaPolicy {
                    room: Some(room.id),
                    policy,
                    reply,
                })
                .await?;
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_are_checked() {
        assert!(check_room_name("").is_err());
        assert!(check_room_name(&"x".repeat(129)).is_err());
        assert!(check_room_name("a\nb").is_err());
        assert!(check_room_name("daily standup").is_ok());
        assert_eq!(clean_name(Some("  Ann ".into())), Ok(Some("Ann".into())));
        assert_eq!(clean_name(Some("   ".into())), Ok(None));
        assert!(clean_name(Some("n".repeat(65))).is_err());
    }

    #[test]
    fn only_attendees_cannot_publish() {
        assert!(permissions(Role::Host).can_publish);
        assert!(permissions(Role::Presenter).can_publish);
        assert!(permissions(Role::Participant).can_publish);
        assert!(!permissions(Role::Attendee).can_publish);
        assert!(permissions(Role::Attendee).can_subscribe);
    }
}
