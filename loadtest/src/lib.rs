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
//!
//! Bots are cheap: each bot's task handles only its signaling; one event
//! loop ([`engine`]) drives the str0m connections of every bot in the
//! process. Bots bound to loopback share one UDP socket, each connection
//! with its own address 127.1.x.y, so the server still tells them apart by
//! source address. [`impair`] adds loss, delay and rate caps between a bot
//! and the server.
//!
//! ```no_run
//! use std::time::Duration;
//! use relais_loadtest::protocol::Quality;
//! use relais_loadtest::{Bot, JoinOptions, PublishOptions};
//!
//! # async fn run(url: &str) -> Result<(), relais_loadtest::BotError> {
//! let alice = Bot::join(url, JoinOptions::new("room", "alice")).await?;
//! let tracks = alice.publish(PublishOptions::camera_and_mic()).await?;
//! let video = tracks.video.unwrap();
//!
//! let bob = Bot::join(url, JoinOptions::new("room", "bob")).await?;
//! bob.subscribe(&video, Quality::High).await?;
//! let got = bob
//!     .wait_received(&video, |r| r.per_layer[2] > 100, Duration::from_secs(10))
//!     .await?;
//! got.check_continuity().expect("no gap, no repeat, no timestamp going back");
//! println!("p99 latency {:?}", got.latency_percentile(99.0));
//! bob.leave().await?;
//! # Ok(())
//! # }
//! ```

#![forbid(unsafe_code)]

pub mod bot;
pub mod engine;
pub mod error;
pub mod events;
pub mod impair;
pub mod load;
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
