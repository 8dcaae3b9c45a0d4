//! What every connection and the event dispatcher share: the configuration,
//! the media core, the room registry, the metrics, and the shutdown switch.
//! Also the one way a participant leaves, whatever the reason.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};

use relais_sfu::{Command, ParticipantId, Sfu};
use tokio::sync::{mpsc, watch};

use crate::config::ServerConfig;
use crate::metrics::Metrics;
use crate::protocol::ServerMessage;
use crate::registry::{Registry, Room};

pub struct AppState {
    pub config: ServerConfig,
    pub sfu: Arc<Sfu>,
    pub registry: Registry,
    pub metrics: Metrics,
    shutting_down: AtomicBool,
    shutdown: watch::Sender<bool>,
    /// Each connection holds a clone; shutdown drops this one and waits
    /// until the channel reports that every clone is gone.
    connections: Mutex<Option<mpsc::Sender<()>>>,
}

/// Held by a running connection; dropping it tells shutdown it has ended.
pub struct ConnectionGuard {
    _alive: Option<mpsc::Sender<()>>,
    state: Arc<AppState>,
}

impl Drop for ConnectionGuard {
    fn drop(&mut self) {
        self.state.metrics.websocket_connections.dec();
    }
}

impl AppState {
    /// The state, and the receiver that ends when every connection has.
    pub fn new(config: ServerConfig, sfu: Arc<Sfu>) -> (Arc<Self>, mpsc::Receiver<()>) {
        let (alive_tx, alive_rx) = mpsc::channel(1);
        let workers = sfu.workers().len();
        let state = Arc::new(AppState {
            metrics: Metrics::new(sfu.clone()),
            registry: Registry::new(workers),
            config,
            sfu,
            shutting_down: AtomicBool::new(false),
            shutdown: watch::channel(false).0,
            connections: Mutex::new(Some(alive_tx)),
        });
        (state, alive_rx)
    }

    pub fn connection_started(self: &Arc<Self>) -> ConnectionGuard {
        self.metrics.websocket_connections.inc();
        let alive = self
            .connections
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .clone();
        ConnectionGuard {
            _alive: alive,
            state: self.clone(),
        }
    }

    pub fn is_shutting_down(&self) -> bool {
        self.shutting_down.load(Ordering::Acquire)
    }

    /// Refuse new joins and tell every connection to close.
    pub fn begin_shutdown(&self) {
        self.shutting_down.store(true, Ordering::Release);
        self.shutdown.send_replace(true);
        self.connections
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .take();
    }

    /// Resolves once shutdown has begun.
    pub fn shutdown_signal(&self) -> watch::Receiver<bool> {
        self.shutdown.subscribe()
    }

    /// Take a participant out of its room and the core, end its tracks for
    /// the others and tell them why (`left`, `removed`, `disconnected`,
    /// `failed`). Does nothing if it already left.
    pub async fn remove_participant(self: &Arc<Self>, id: ParticipantId, reason: &str) -> bool {
        let Some(removed) = self.registry.remove_member(id) else {
            return false;
        };
        let room = removed.room;
        let _ = self
            .sfu
            .worker(removed.worker)
            .call(|reply| Command::RemoveParticipant {
                participant: id,
                reply,
            })
            .await;
        // The core announces the end of each track too; whichever comes
        // first tells the room, once.
        for track in removed.tracks {
            if room.remove_track(track) {
                room.broadcast(
                    &ServerMessage::TrackUnpublished {
                        track_id: track.to_string(),
                    },
                    None,
                );
            }
        }
        room.broadcast(
            &ServerMessage::ParticipantLeft {
                participant_id: id.to_string(),
                reason: reason.to_string(),
            },
            None,
        );
        tracing::info!(participant = %id, room = %room.name, reason, "participant left");
        if let Some(epoch) = removed.empty_at_epoch {
            self.close_room_later(room, epoch);
        }
        true
    }

    /// Take back a place in a room that nobody was told of (a join that failed).
    pub fn forget_participant(self: &Arc<Self>, id: ParticipantId) {
        if let Some(removed) = self.registry.remove_member(id) {
            if let Some(epoch) = removed.empty_at_epoch {
                self.close_room_later(removed.room, epoch);
            }
        }
    }

    /// Close an empty room after the grace period, unless someone joins.
    fn close_room_later(self: &Arc<Self>, room: Arc<Room>, epoch: u64) {
        let state = self.clone();
        let grace = self.config.room_grace;
        tokio::spawn(async move {
            tokio::time::sleep(grace).await;
            if state.registry.close_if_empty(&room, epoch) {
                tracing::info!(room = %room.name, "empty room closed");
            }
        });
    }
}
