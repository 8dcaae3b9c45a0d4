//! One client's conversation: frames in, replies and errors out through its
//! outbox. It checks each frame (size, kind, rate, JSON shape), then hands the
//! message to the part that deals with it: joining ([`join`]), media
//! ([`media`]), or the room's social side and host powers ([`room`]).
//!
//! A session never writes to the socket itself and never blocks its room:
//! everything it says goes through bounded, non-waiting queues.

mod join;

use join::RoomWish;
mod media;
mod room;

use std::sync::Arc;
use std::time::Instant;

use axum::extract::ws::Message;
use relais_sfu::{Command, ParticipantId, Reply, SfuError};

use crate::error::SignalError;
use crate::outbox::Outbox;
use crate::protocol::{
    ClientMessage, ErrorCode, ServerMessage, MAX_MESSAGE_BYTES, MAX_SDP_MESSAGE_BYTES,
};
use crate::rate_limit::{RateLimiter, Verdict};
use crate::registry::Room;
use crate::state::AppState;

/// Whether the connection goes on after a message.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Flow {
    Continue,
    /// End the connection; the reason others are told (`left`, `disconnected`).
    Stop(&'static str),
}

/// Where a joined client is.
struct Joined {
    id: ParticipantId,
    room: Arc<Room>,
}

pub struct Session {
    state: Arc<AppState>,
    outbox: Outbox,
    limiter: RateLimiter,
    /// A `rate_limited` error was sent for the current run of refused
    /// messages: a flood gets one, not one per message (which would fill
    /// the client's queue and lose the explanation).
    rate_warned: bool,
    joined: Option<Joined>,
}

impl Session {
    pub fn new(state: Arc<AppState>, outbox: Outbox) -> Self {
        let limiter = RateLimiter::new(state.config.max_messages_per_sec, Instant::now());
        Session {
            state,
            outbox,
            limiter,
            rate_warned: false,
            joined: None,
        }
    }

    pub fn outbox(&self) -> &Outbox {
        &self.outbox
    }

    /// The participant id, once joined.
    pub fn participant(&self) -> Option<ParticipantId> {
        self.joined.as_ref().map(|j| j.id)
    }

    /// One frame from the socket.
    pub async fn on_message(&mut self, msg: Message) -> Flow {
        let text = match msg {
            Message::Text(t) => t,
            Message::Binary(_) => {
                if let Some(flow) = self.rate_check() {
                    return flow;
                }
                self.send_error(
                    None,
                    SignalError::bad_message(
                        "binary frames are not part of the protocol; send JSON text",
                    ),
                );
                return Flow::Continue;
            }
            Message::Close(_) => return Flow::Stop("disconnected"),
            Message::Ping(_) | Message::Pong(_) => return Flow::Continue,
        };
        if let Some(flow) = self.rate_check() {
            return flow;
        }
        self.on_text(text.as_str()).await
    }

    /// `Some` when the message must not be handled.
    fn rate_check(&mut self) -> Option<Flow> {
        match self.limiter.check(Instant::now()) {
            Verdict::Allow => {
                self.rate_warned = false;
                None
            }
            Verdict::Refuse if self.rate_warned => Some(Flow::Continue),
            Verdict::Refuse => {
                self.rate_warned = true;
                self.send_error(
                    None,
                    SignalError::new(
                        ErrorCode::RateLimited,
                        format!(
                            "more than {} messages per second; this message was dropped",
                            self.state.config.max_messages_per_sec
                        ),
                    ),
                );
                Some(Flow::Continue)
            }
            Verdict::Close => {
                self.send_error(
                    None,
                    SignalError::new(
                        ErrorCode::RateLimited,
                        "message flood: closing the connection",
                    ),
                );
                self.outbox.close("rate limit exceeded");
                Some(Flow::Stop("disconnected"))
            }
        }
    }

    /// One text message.
    pub async fn on_text(&mut self, text: &str) -> Flow {
        if text.len() > MAX_MESSAGE_BYTES
            && !(text.len() <= MAX_SDP_MESSAGE_BYTES && carries_sdp(text))
        {
            self.send_error(
                None,
                SignalError::new(
                    ErrorCode::MessageTooLarge,
                    format!(
                        "message of {} bytes is over the limit of {MAX_MESSAGE_BYTES} bytes \
                         ({MAX_SDP_MESSAGE_BYTES} for publish_offer and subscribe_answer)",
                        text.len()
                    ),
                ),
            );
            return Flow::Continue;
        }
        let value: serde_json::Value = match serde_json::from_str(text) {
            Ok(v) => v,
            Err(e) => {
                self.send_error(
                    None,
                    SignalError::bad_message(format!("not valid JSON: {e}")),
                );
                return Flow::Continue;
            }
        };
        let req = value.get("req").and_then(|r| r.as_str()).map(str::to_owned);
        let msg: ClientMessage = match serde_json::from_value(value) {
            Ok(m) => m,
            Err(e) => {
                self.send_error(
                    req,
                    SignalError::bad_message(format!("not a protocol message: {e}")),
                );
                return Flow::Continue;
            }
        };
        let leaving = matches!(msg, ClientMessage::Leave { .. });
        match self.handle(msg).await {
            Ok(reply) => {
                if let Some(reply) = reply {
                    self.outbox.send(&reply);
                }
                if leaving {
                    return Flow::Stop("left");
                }
            }
            Err(e) => self.send_error(req, e),
        }
        Flow::Continue
    }

    /// A parsed message; the reply to send, if any.
    async fn handle(&mut self, msg: ClientMessage) -> Result<Option<ServerMessage>, SignalError> {
        use ClientMessage as M;
        match msg {
            M::Join {
                req,
                room,
                name,
                token,
                role,
                mode,
                last_n,
            } => {
                if self.joined.is_some() {
                    return Err(SignalError::new(
                        ErrorCode::AlreadyJoined,
                        "this connection has already joined a room; open another to join again",
                    ));
                }
                self.join(req, room, name, token, role, RoomWish { mode, last_n })
                    .await?;
                Ok(None)
            }
            M::Ping { req } => Ok(Some(ServerMessage::Pong { req })),
            M::Leave { req } => {
                // The connection ends after this reply (see `on_text`).
                self.joined()?;
                Ok(ok(req))
            }
            M::PublishOffer { req, sdp, sources } => self.publish_offer(req, sdp, sources).await,
            M::SubscribeAnswer { req, sdp } => self.subscribe_answer(req, sdp).await,
            M::Subscribe {
                req,
                track_id,
                quality,
                max_width,
                max_height,
            } => {
                self.subscribe(req, &track_id, quality, max_width, max_height)
                    .await
            }
            M::Pin {
                req,
                track_id,
                pinned,
            } => self.pin(req, &track_id, pinned).await,
            M::Mute {
                req,
                track_id,
                muted,
            } => self.mute(req, &track_id, muted).await,
            M::Unpublish { req, track_id } => self.unpublish(req, &track_id).await,
            M::Chat { req, text } => self.chat(req, text),
            M::RaiseHand { req, raised } => self.raise_hand(req, raised),
            M::SetRole {
                req,
                participant_id,
                role,
            } => self.set_role(req, &participant_id, role).await,
            M::MuteParticipant {
                req,
                participant_id,
            } => self.mute_participant(req, &participant_id).await,
            M::RemoveParticipant {
                req,
                participant_id,
            } => self.remove_participant(req, &participant_id).await,
        }
    }

    /// The room and id of a joined client, or `not_joined`.
    fn joined(&self) -> Result<(ParticipantId, Arc<Room>), SignalError> {
        self.joined
            .as_ref()
            .map(|j| (j.id, j.room.clone()))
            .ok_or_else(not_joined)
    }

    /// Send a command to the worker of the participant it is about (the
    /// room's worker otherwise) and wait for its reply.
    async fn core<T>(
        &self,
        room: &Room,
        make: impl FnOnce(Reply<Result<T, SfuError>>) -> Command,
    ) -> Result<T, SignalError> {
        let (reply, answer) = tokio::sync::oneshot::channel();
        let command = make(reply);
        let worker = command
            .participant()
            .and_then(|p| self.state.registry.worker_of(p))
            .unwrap_or(room.worker);
        self.state.sfu.worker(worker).send(command).await?;
        Ok(answer.await.map_err(|_| SfuError::WorkerGone)??)
    }

    fn send_error(&self, req: Option<String>, e: SignalError) {
        tracing::debug!(participant = ?self.participant(), code = ?e.code, "{}", e.message);
        self.state.metrics.count_error(e.code);
        self.outbox.send(&e.to_message(req));
    }

    /// Leave the room, if in one, for `reason`.
    pub async fn finish(&mut self, reason: &str) {
        if let Some(j) = self.joined.take() {
            self.state.remove_participant(j.id, reason).await;
        }
    }
}

fn not_joined() -> SignalError {
    SignalError::new(
        ErrorCode::NotJoined,
        "join a room first: the first message must be 'join'",
    )
}

/// `ok` for messages that carry a `req` and have no other reply.
fn ok(req: Option<String>) -> Option<ServerMessage> {
    req.map(|r| ServerMessage::Ok { req: Some(r) })
}

/// Whether a message is a `publish_offer` or `subscribe_answer`, whose SDP
/// may exceed the usual size limit. Reads only the `type`.
fn carries_sdp(text: &str) -> bool {
    #[derive(serde::Deserialize)]
    struct Kind<'a> {
        #[serde(rename = "type", borrow)]
        ty: std::borrow::Cow<'a, str>,
    }
    serde_json::from_str::<Kind>(text)
        .is_ok_and(|k| k.ty == "publish_offer" || k.ty == "subscribe_answer")
}
