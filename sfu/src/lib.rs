//! Relais media core: rooms, participants, tracks and the forwarding of
//! simulcast RTP between str0m peers.
//!
//! Each media worker is one thread that owns its rooms, their peers and one
//! UDP socket ([`worker_thread`]). Everything it decides lives in a sans-IO
//! [`worker::Worker`] that takes `now` as input, so tests drive it on a virtual
//! clock. Signaling talks to workers through [`handle::Sfu`] with the
//! commands and events of [`api`]. Nothing here speaks HTTP.

#![deny(unsafe_code)]

pub mod active_speaker;
pub mod allocator;
pub mod api;
pub mod audio_top_n;
pub mod bitrate;
pub mod codec;
pub mod codec_preference;
pub mod dd_extension;
#[cfg(test)]
mod dd_forwarding_tests;
pub mod dd_stream;
pub mod dd_writer;
pub mod dependency_descriptor;
pub mod downlink;
pub mod dynacast;
pub mod forwarder;
pub mod handle;
pub mod ids;
pub mod keyframe_throttle;
pub mod last_n;
pub mod layer_selector;
pub mod layers;
pub mod metrics;
mod participant;
mod peer;
pub mod relay;
pub mod socket;
#[cfg(test)]
mod svc_forwarding_tests;
#[cfg(test)]
mod svc_test_support;
pub mod temporal_filter;
mod timer_queue;
mod track;
pub mod vp9_descriptor;
pub mod worker;
mod worker_thread;

pub use api::*;
pub use handle::{Sfu, WorkerHandle};
pub use ids::{ParticipantId, RoomId, TrackId};
pub use metrics::{MetricsSnapshot, WorkerMetrics};
