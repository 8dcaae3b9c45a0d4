//! The server messages a bot received: a bounded log of all of them, and a
//! queue from which tests take the next message that matches what they wait
//! for (messages they skip stay queued for later waits).

use std::collections::VecDeque;
use std::sync::Mutex;
use std::time::Duration;

use relais_signaling::protocol::ServerMessage;
use tokio::sync::Notify;

use crate::error::{BotError, Result};

/// Messages kept in each of the log and the queue by default.
pub const EVENT_CAPACITY: usize = 10_000;

#[derive(Default)]
struct Inner {
    all: VecDeque<ServerMessage>,
    unread: VecDeque<ServerMessage>,
    closed: bool,
}

/// Shared between a bot's task (which pushes) and its handles (which wait).
pub struct EventLog {
    inner: Mutex<Inner>,
    notify: Notify,
    capacity: usize,
}

impl Default for EventLog {
    fn default() -> Self {
        EventLog::with_capacity(EVENT_CAPACITY)
    }
}

impl EventLog {
    /// A log keeping the latest `capacity` messages (at least one).
    pub fn with_capacity(capacity: usize) -> EventLog {
        EventLog {
            inner: Mutex::default(),
            notify: Notify::new(),
            capacity: capacity.max(1),
        }
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Inner> {
        // A panic while holding this lock leaves plain data behind; keep going.
        self.inner.lock().unwrap_or_else(|e| e.into_inner())
    }

    pub fn push(&self, msg: ServerMessage) {
        {
            let mut i = self.lock();
            if i.all.len() >= self.capacity {
                i.all.pop_front();
            }
            if i.unread.len() >= self.capacity {
                i.unread.pop_front();
            }
            i.all.push_back(msg.clone());
            i.unread.push_back(msg);
        }
        self.notify.notify_waiters();
    }

    /// No more messages will come.
    pub fn close(&self) {
        self.lock().closed = true;
        self.notify.notify_waiters();
    }

    /// Every message received (the latest `capacity`).
    pub fn all(&self) -> Vec<ServerMessage> {
        self.lock().all.iter().cloned().collect()
    }

    /// Take the first queued message matching `pred`.
    pub fn take(&self, pred: &(dyn Fn(&ServerMessage) -> bool + Sync)) -> Option<ServerMessage> {
        let mut i = self.lock();
        let at = i.unread.iter().position(pred)?;
        i.unread.remove(at)
    }

    /// Wait up to `timeout` for a message matching `pred` and take it.
    pub async fn next(
        &self,
        pred: &(dyn Fn(&ServerMessage) -> bool + Sync),
        timeout: Duration,
    ) -> Result<ServerMessage> {
        let deadline = tokio::time::Instant::now() + timeout;
        loop {
            let notified = self.notify.notified();
            tokio::pin!(notified);
            notified.as_mut().enable();
            if let Some(m) = self.take(pred) {
                return Ok(m);
            }
            if self.lock().closed {
                return Err(BotError::Closed);
            }
            if tokio::time::timeout_at(deadline, notified).await.is_err() {
                return Err(BotError::Timeout(format!(
                    "an event within {} ms",
                    timeout.as_millis()
                )));
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::Arc;

    fn chat(text: &str) -> ServerMessage {
        ServerMessage::Chat {
            participant_id: "p1".into(),
            name: "a".into(),
            text: text.into(),
            timestamp_ms: 0,
        }
    }

    #[tokio::test]
    async fn waits_skip_and_keep_other_messages() {
        let log = Arc::new(EventLog::default());
        log.push(chat("one"));
        log.push(ServerMessage::Pong { req: None });
        let is_pong = |m: &ServerMessage| matches!(m, ServerMessage::Pong { .. });
        let is_chat = |m: &ServerMessage| matches!(m, ServerMessage::Chat { .. });
        assert!(log.next(&is_pong, Duration::from_millis(10)).await.is_ok());
        assert_eq!(
            log.next(&is_chat, Duration::from_millis(10)).await.unwrap(),
            chat("one")
        );
        assert!(matches!(
            log.next(&is_chat, Duration::from_millis(20)).await,
            Err(BotError::Timeout(_))
        ));
        let l = log.clone();
        let waiter = tokio::spawn(async move { l.next(&is_chat, Duration::from_secs(5)).await });
        tokio::time::sleep(Duration::from_millis(20)).await;
        log.push(chat("two"));
        assert_eq!(waiter.await.unwrap().unwrap(), chat("two"));
        assert_eq!(log.all().len(), 3);
        log.close();
        assert!(matches!(
            log.next(&is_chat, Duration::from_secs(5)).await,
            Err(BotError::Closed)
        ));
    }
}
