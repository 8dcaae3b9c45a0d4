//! The way into one connection's socket: a bounded queue that a sender task
//! drains. Pushing never waits: when a client reads too slowly for its queue
//! to have room, the connection is dropped instead of slowing its room.

use std::sync::Arc;

use axum::extract::ws::Utf8Bytes;
use tokio::sync::{mpsc, Notify};

use crate::protocol::ServerMessage;

/// Messages a connection may have waiting to be written.
pub const OUTBOX_CAPACITY: usize = 512;

/// One item for the sender task.
#[derive(Debug, Clone, PartialEq)]
pub enum Outbound {
    /// A serialized server message.
    Text(Utf8Bytes),
    /// Send a close frame and stop.
    Close,
}

/// Serialize a server message once, to send to one or many.
pub fn encode(msg: &ServerMessage) -> Utf8Bytes {
    Utf8Bytes::from(serde_json::to_string(msg).expect("server messages always serialize"))
}

/// The sending half of a connection's queue, shared with the room registry.
#[derive(Debug, Clone)]
pub struct Outbox {
    tx: mpsc::Sender<Outbound>,
    /// Tells the connection to end now (its queue overflowed).
    kill: Arc<Notify>,
}

impl Outbox {
    /// A queue, its receiving end for the sender task, and the kill switch the
    /// connection waits on.
    pub fn new(capacity: usize) -> (Outbox, mpsc::Receiver<Outbound>, Arc<Notify>) {
        let (tx, rx) = mpsc::channel(capacity);
        let kill = Arc::new(Notify::new());
        (
            Outbox {
                tx,
                kill: kill.clone(),
            },
            rx,
            kill,
        )
    }

    /// Queue without waiting. False if the connection is gone or was just
    /// dropped for being too slow.
    pub fn push(&self, out: Outbound) -> bool {
        match self.tx.try_send(out) {
            Ok(()) => true,
            Err(mpsc::error::TrySendError::Full(_)) => {
                tracing::warn!("dropping a client whose outgoing queue is full");
                self.kill();
                false
            }
            Err(mpsc::error::TrySendError::Closed(_)) => false,
        }
    }

    /// End the connection now, without a goodbye.
    pub fn kill(&self) {
        self.kill.notify_one();
    }

    pub fn send(&self, msg: &ServerMessage) -> bool {
        self.push(Outbound::Text(encode(msg)))
    }

    /// Tell the client why, then close its socket.
    pub fn close(&self, reason: &str) {
        if self.send(&ServerMessage::Closing {
            reason: reason.to_string(),
        }) {
            self.push(Outbound::Close);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    #[tokio::test]
    async fn a_full_queue_kills_instead_of_waiting() {
        let (outbox, mut rx, kill) = Outbox::new(2);
        assert!(outbox.send(&ServerMessage::Pong { req: None }));
        assert!(outbox.send(&ServerMessage::Pong { req: None }));
        assert!(!outbox.send(&ServerMessage::Pong { req: None }));
        tokio::time::timeout(Duration::from_secs(1), kill.notified())
            .await
            .expect("the overflow fires the kill switch");
        assert_eq!(
            rx.recv().await,
            Some(Outbound::Text(Utf8Bytes::from_static(
                r#"{"type":"pong","req":null}"#
            )))
        );
    }

    #[tokio::test]
    async fn close_sends_closing_then_close() {
        let (outbox, mut rx, _kill) = Outbox::new(8);
        outbox.close("removed");
        let Some(Outbound::Text(t)) = rx.recv().await else {
            panic!("expected text")
        };
        assert_eq!(t.as_str(), r#"{"type":"closing","reason":"removed"}"#);
        assert_eq!(rx.recv().await, Some(Outbound::Close));
    }
}
