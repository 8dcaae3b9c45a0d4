//! The plumbing of one WebSocket: split it, run a sender task that drains
//! the connection's outbox into the socket, and read frames into a
//! [`Session`] until the client leaves, the socket breaks, the client is
//! dropped for reading too slowly, or the server shuts down.
//!
//! Both loops are written against `Stream`/`Sink`, not the socket type.

use std::sync::Arc;
use std::time::Duration;

use axum::extract::ws::{Message, WebSocket};
use futures_util::{Sink, SinkExt, Stream, StreamExt};
use tokio::sync::{mpsc, watch, Notify};

use crate::outbox::{Outbound, Outbox, OUTBOX_CAPACITY};
use crate::session::{Flow, Session};
use crate::state::AppState;

/// How long the sender may take to flush the last messages after the end.
const FLUSH_TIMEOUT: Duration = Duration::from_secs(2);
/// How long the socket stays open after the server's close, reading and
/// dropping what the client still sends: closing a TCP socket with unread
/// input resets it, and the reset makes the client lose what it had not read
/// yet, the reason for the close included.
const LINGER: Duration = Duration::from_secs(1);

pub async fn serve(socket: WebSocket, state: Arc<AppState>) {
    let _guard = state.connection_started();
    let (sink, mut stream) = socket.split();
    let (outbox, rx, kill) = Outbox::new(OUTBOX_CAPACITY);
    let mut sender = tokio::spawn(send_loop(sink, rx, kill.clone()));
    let mut session = Session::new(state.clone(), outbox);
    let reason = receive_loop(&mut session, &mut stream, &kill, state.shutdown_signal()).await;
    session.finish(reason).await;
    // The registry no longer holds this connection's outbox; once the session's
    // copy is gone the sender drains what is queued and closes the socket.
    drop(session);
    if tokio::time::timeout(FLUSH_TIMEOUT, &mut sender)
        .await
        .is_err()
    {
        sender.abort();
    }
    let _ = tokio::time::timeout(LINGER, async {
        while let Some(Ok(_)) = stream.next().await {}
    })
    .await;
}

/// Read frames until the connection should end; the reason others are told.
pub async fn receive_loop<S>(
    session: &mut Session,
    stream: &mut S,
    kill: &Notify,
    mut shutdown: watch::Receiver<bool>,
) -> &'static str
where
    S: Stream<Item = Result<Message, axum::Error>> + Unpin,
{
    loop {
        tokio::select! {
            _ = kill.notified() => return "disconnected",
            _ = async { shutdown.wait_for(|down| *down).await.map(|_| ()) } => {
                session.outbox().close("server shutting down");
                return "disconnected";
            }
            frame = stream.next() => match frame {
                Some(Ok(msg)) => {
                    if let Flow::Stop(reason) = session.on_message(msg).await {
                        return reason;
                    }
                }
                Some(Err(e)) => {
                    tracing::debug!(error = %e, "websocket read failed");
                    return "disconnected";
                }
                None => return "disconnected",
            },
        }
    }
}

/// Write queued messages until the queue ends or a close is asked for; then
/// tell the receiving side to stop.
pub async fn send_loop<S>(mut sink: S, mut rx: mpsc::Receiver<Outbound>, kill: Arc<Notify>)
where
    S: Sink<Message> + Unpin,
{
    while let Some(out) = rx.recv().await {
        let sent = match out {
            Outbound::Text(text) => sink.send(Message::Text(text)).await,
            Outbound::Close => {
                let _ = sink.send(Message::Close(None)).await;
                break;
            }
        };
        if sent.is_err() {
            break;
        }
    }
    kill.notify_one();
    let _ = sink.close().await;
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::outbox::encode;
    use crate::protocol::ServerMessage;
    use std::sync::Mutex;

    /// A sink that records what it is given, or fails every write.
    fn recording(fail: bool) -> (impl Sink<Message> + Unpin, Arc<Mutex<Vec<Message>>>) {
        let written = Arc::new(Mutex::new(Vec::new()));
        let sink = futures_util::sink::unfold(written.clone(), move |w, msg: Message| async move {
            if fail {
                return Err(());
            }
            w.lock().unwrap().push(msg);
            Ok(w)
        });
        (Box::pin(sink), written)
    }

    #[tokio::test]
    async fn the_sender_writes_in_order_and_stops_at_close() {
        let (sink, written) = recording(false);
        let (outbox, rx, kill) = Outbox::new(8);
        outbox.send(&ServerMessage::Pong { req: None });
        outbox.close("removed");
        outbox.send(&ServerMessage::Pong {
            req: Some("late".into()),
        });
        tokio::time::timeout(Duration::from_secs(1), send_loop(sink, rx, kill.clone()))
            .await
            .expect("the sender stops at the close");
        tokio::time::timeout(Duration::from_secs(1), kill.notified())
            .await
            .expect("and tells the receiving side");
        assert_eq!(
            *written.lock().unwrap(),
            vec![
                Message::Text(encode(&ServerMessage::Pong { req: None })),
                Message::Text(encode(&ServerMessage::Closing {
                    reason: "removed".into()
                })),
                Message::Close(None),
            ]
        );
    }

    #[tokio::test]
    async fn a_broken_socket_stops_the_sender() {
        let (sink, written) = recording(true);
        let (outbox, rx, kill) = Outbox::new(8);
        outbox.send(&ServerMessage::Pong { req: None });
        tokio::time::timeout(Duration::from_secs(1), send_loop(sink, rx, kill.clone()))
            .await
            .expect("the sender gives up on a broken socket");
        tokio::time::timeout(Duration::from_secs(1), kill.notified())
            .await
            .expect("and tells the receiving side");
        assert!(written.lock().unwrap().is_empty());
    }
}
