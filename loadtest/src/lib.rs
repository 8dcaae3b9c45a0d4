//! Relais client library: bots that join a Relais server exactly as a real
//! client does (WebSocket JSON signaling, WebRTC through str0m in RTP mode)
//! and publish synthetic media that looks real to an SFU, or receive and
//! account for every packet. Used by the server's integration tests and by
//! the `relais-load` tool.
//!
//! - [`Bot::join`] → [`BotHandle`]: publish, subscribe, send messages, wait
//!   for events, inspect what was received ([`TrackReceipt`]) and sent
//!   ([`PublisherStats`]).
//! - [`media`]: VP8 simulcast and Opus-sized audio sources; [`vp8`] and
//!   [`tag`]: the payload layout a receiver reads back.

#![forbid(unsafe_code)]

pub mod bot;
pub mod error;
pub mod events;
pub mod media;
pub mod pacer;
mod peer;
mod publisher;
pub mod receipt;
pub mod signal;
mod subscriber;
pub mod tag;
pub mod vp8;

pub use bot::{Bot, BotHandle, JoinOptions, Joined, REQUEST_TIMEOUT};
pub use error::BotError;
pub use media::{AudioOptions, LayerOptions, PublishOptions, VideoOptions};
pub use publisher::{Published, PublisherStats};
pub use receipt::{ContinuityError, PacketRecord, TrackReceipt};
pub use relais_signaling::protocol;
