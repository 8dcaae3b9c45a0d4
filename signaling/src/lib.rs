//! Relais signaling: the HTTP and WebSocket server that hands out rooms and
//! drives the media core.
//!
//! [`start`] runs a whole server in-process (tests use it); `main.rs` only
//! parses flags, calls it and waits for a signal.

#![forbid(unsafe_code)]

pub mod auth;
pub mod cli;
pub mod config;
pub mod connection;
pub mod convert;
pub mod dispatcher;
pub mod downlinks;
pub mod error;
pub mod host_auth;
pub mod http;
pub mod invites;
pub mod metrics;
pub mod outbox;
pub mod protocol;
pub mod rate_limit;
pub mod registry;
pub mod room;
pub mod session;
pub mod state;

use std::future::IntoFuture;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use anyhow::Context;
use relais_sfu::Sfu;
use tokio::sync::{mpsc, oneshot};
use tokio::task::JoinHandle;

pub use config::ServerConfig;
pub use error::SignalError;
pub use state::AppState;

/// How long shutdown waits for clients to be told and their sockets closed.
const DRAIN_TIMEOUT: Duration = Duration::from_secs(5);

/// A server started by [`start`].
pub struct RunningServer {
    addr: SocketAddr,
    state: Arc<AppState>,
    connections_done: mpsc::Receiver<()>,
    stop_http: oneshot::Sender<()>,
    http: JoinHandle<std::io::Result<()>>,
    dispatcher: JoinHandle<()>,
}

/// Start the media workers and the HTTP server.
pub async fn start(config: ServerConfig) -> anyhow::Result<RunningServer> {
    if config.secret.is_none() {
        warn_development_mode();
    }
    let listener = tokio::net::TcpListener::bind(config.listen)
        .await
        .with_context(|| format!("cannot listen on {}", config.listen))?;
    let addr = listener.local_addr()?;
    let sfu_config = config.sfu_config();
    let (sfu, events) = Sfu::start(sfu_config.clone()).with_context(|| {
        format!(
            "cannot start the media workers on {}:{}",
            sfu_config.bind_ip, sfu_config.media_port
        )
    })?;
    let (state, connections_done) = AppState::new(config, Arc::new(sfu));
    let dispatcher = tokio::spawn(dispatcher::run(state.clone(), events));
    let (stop_http, stopped) = oneshot::channel::<()>();
    let app = http::router(state.clone());
    let http = tokio::spawn(
        axum::serve(listener, app)
            .with_graceful_shutdown(async move {
                let _ = stopped.await;
            })
            .into_future(),
    );
    tracing::info!(
        %addr,
        workers = sfu_config.workers,
        media_port = sfu_config.media_port,
        public_ip = %sfu_config.public_ip,
        "relais is listening"
    );
    Ok(RunningServer {
        addr,
        state,
        connections_done,
        stop_http,
        http,
        dispatcher,
    })
}

fn warn_development_mode() {
    let line = "*".repeat(72);
    tracing::warn!("{line}");
    tracing::warn!("DEVELOPMENT MODE: no --secret (RELAIS_SECRET) is set.");
    tracing::warn!("Anyone can join any room under any name and role, host included.");
    tracing::warn!("Set a secret and mint tokens with `relais token` before exposing this server.");
    tracing::warn!("{line}");
}

impl RunningServer {
    /// The HTTP and WebSocket address actually bound.
    pub fn http_addr(&self) -> SocketAddr {
        self.addr
    }

    /// `ws://addr/ws`.
    pub fn ws_url(&self) -> String {
        format!("ws://{}/ws", self.addr)
    }

    /// The media core, to inspect its workers.
    pub fn sfu(&self) -> &Arc<Sfu> {
        &self.state.sfu
    }

    /// The shared state (registry, config, metrics).
    pub fn state(&self) -> &Arc<AppState> {
        &self.state
    }

    /// Tell every client (`closing`), close their sockets, stop the HTTP
    /// server and the media workers.
    pub async fn shutdown(mut self) {
        tracing::info!("shutting down");
        self.state.begin_shutdown();
        if tokio::time::timeout(DRAIN_TIMEOUT, self.connections_done.recv())
            .await
            .is_err()
        {
            tracing::warn!("some connections did not close in time");
        }
        let _ = self.stop_http.send(());
        match tokio::time::timeout(DRAIN_TIMEOUT, &mut self.http).await {
            Ok(Ok(Err(e))) => tracing::warn!(error = %e, "HTTP server stopped with an error"),
            Ok(_) => {}
            Err(_) => self.http.abort(),
        }
        self.state.sfu.shutdown().await;
        if tokio::time::timeout(Duration::from_secs(1), &mut self.dispatcher)
            .await
            .is_err()
        {
            self.dispatcher.abort();
        }
        tracing::info!("stopped");
    }
}
