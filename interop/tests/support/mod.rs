//! Helpers for the webrtc-rs interop tests: a signaling client
//! ([`signal`]), a webrtc-rs peer with its events as channels ([`peer`]),
//! synthetic VP8 and Opus payloads that carry a marker the receiver can check
//! ([`media`]), and the publishing and subscribing participants built from
//! them ([`participants`]).
//!
//! Every wait here has a timeout, so a stalled step fails with its name
//! instead of hanging the test.

#![allow(dead_code)]

pub mod media;
pub mod participants;
pub mod peer;
pub mod signal;

use std::future::Future;
use std::time::Duration;

use anyhow::anyhow;

/// How long any single step (a signaling reply, ICE gathering, connecting) may take.
pub const STEP: Duration = Duration::from_secs(10);

/// Log to stderr when `RUST_LOG` is set (server and webrtc-rs alike).
pub fn init_logging() {
    let _ = tracing_subscriber::fmt()
        .with_env_filter(tracing_subscriber::EnvFilter::from_default_env())
        .with_test_writer()
        .try_init();
}

pub async fn within<T>(what: &str, f: impl Future<Output = T>) -> anyhow::Result<T> {
    tokio::time::timeout(STEP, f)
        .await
        .map_err(|_| anyhow!("timed out after {STEP:?}: {what}"))
}
