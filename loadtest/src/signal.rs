//! The signaling side of a client: one WebSocket carrying JSON
//! [`ClientMessage`]s out and [`ServerMessage`]s in, with request ids.
//!
//! A small reader task owns the receiving half and hands parsed messages
//! over a channel, so that the bot's loop waits on a cheap channel rather
//! than polling the WebSocket (whose frame reader prepares its whole read
//! buffer on every poll).

use std::time::Duration;

use futures_util::stream::{SplitSink, SplitStream};
use futures_util::{SinkExt, StreamExt};
use relais_signaling::protocol::{ClientMessage, ServerMessage};
use tokio::net::TcpStream;
use tokio::sync::mpsc;
use tokio::task::JoinHandle;
use tokio_tungstenite::tungstenite::protocol::WebSocketConfig;
use tokio_tungstenite::tungstenite::Message;
use tokio_tungstenite::{MaybeTlsStream, WebSocketStream};

use crate::error::{BotError, Result};

type Ws = WebSocketStream<MaybeTlsStream<TcpStream>>;

/// Bytes read from the socket at a time (messages may be larger).
const READ_BUFFER: usize = 16 * 1024;
/// Messages the reader task holds for the bot before it stops reading.
const INCOMING_QUEUE: usize = 256;

/// What arrived on the WebSocket.
#[derive(Debug)]
pub enum Incoming {
    Message(ServerMessage),
    /// A text frame that is not a message of the protocol.
    Unparsed(String),
    /// The server closed the connection.
    Closed,
}

/// A connected signaling WebSocket.
pub struct Signal {
    tx: SplitSink<Ws, Message>,
    incoming: mpsc::Receiver<Incoming>,
    reader: JoinHandle<()>,
    next_req: u64,
}

impl Drop for Signal {
    fn drop(&mut self) {
        self.reader.abort();
    }
}

impl Signal {
    /// Open `url` (`ws://host/ws`) within `timeout`.
    pub async fn connect(url: &str, timeout: Duration) -> Result<Signal> {
        let config = WebSocketConfig::default().read_buffer_size(READ_BUFFER);
        let connect = tokio_tungstenite::connect_async_with_config(url, Some(config), true);
        let (ws, _) = tokio::time::timeout(timeout, connect)
            .await
            .map_err(|_| BotError::Timeout(format!("the WebSocket to {url}")))?
            .map_err(|e| BotError::Connect {
                url: url.to_string(),
                reason: e.to_string(),
            })?;
        let (tx, rx) = ws.split();
        let (to_bot, incoming) = mpsc::channel(INCOMING_QUEUE);
        let reader = tokio::spawn(read(rx, to_bot));
        Ok(Signal {
            tx,
            incoming,
            reader,
            next_req: 0,
        })
    }

    /// A fresh request id (`r1`, `r2`, ...).
    pub fn next_req(&mut self) -> String {
        self.next_req += 1;
        format!("r{}", self.next_req)
    }

    pub async fn send(&mut self, msg: &ClientMessage) -> Result<()> {
        let text = serde_json::to_string(msg).map_err(|e| BotError::Protocol(e.to_string()))?;
        self.send_raw(text).await
    }

    /// Send any text, well-formed or not.
    pub async fn send_raw(&mut self, text: String) -> Result<()> {
        self.tx
            .send(Message::text(text))
            .await
            .map_err(|_| BotError::Closed)
    }

    /// The next message. Cancel-safe: nothing is lost if the future is dropped.
    pub async fn recv(&mut self) -> Incoming {
        self.incoming.recv().await.unwrap_or(Incoming::Closed)
    }

    /// Close the WebSocket politely.
    pub async fn close(&mut self) {
        let _ = self.tx.send(Message::Close(None)).await;
        let _ = self.tx.close().await;
    }
}

/// The reader task: parse each text frame and pass it on, until the socket
/// closes or nobody listens.
async fn read(mut rx: SplitStream<Ws>, to_bot: mpsc::Sender<Incoming>) {
    loop {
        let incoming = match rx.next().await {
            Some(Ok(Message::Text(t))) => match serde_json::from_str(t.as_str()) {
                Ok(m) => Incoming::Message(m),
                Err(_) => Incoming::Unparsed(t.to_string()),
            },
            Some(Ok(Message::Close(_))) | Some(Err(_)) | None => {
                let _ = to_bot.send(Incoming::Closed).await;
                return;
            }
            // Pings are answered by tungstenite; binary frames are not ours.
            Some(Ok(_)) => continue,
        };
        if to_bot.send(incoming).await.is_err() {
            return;
        }
    }
}

/// The `req` a server message echoes, if any.
pub fn reply_req(msg: &ServerMessage) -> Option<&str> {
    match msg {
        ServerMessage::Joined { req, .. }
        | ServerMessage::PublishAnswer { req, .. }
        | ServerMessage::Ok { req }
        | ServerMessage::Pong { req }
        | ServerMessage::Error { req, .. } => req.as_deref(),
        _ => None,
    }
}

/// Set the `req` of a client message (every client message has one).
pub fn set_req(msg: &mut ClientMessage, id: String) {
    let slot = match msg {
        ClientMessage::Join { req, .. }
        | ClientMessage::PublishOffer { req, .. }
        | ClientMessage::SubscribeAnswer { req, .. }
        | ClientMessage::Subscribe { req, .. }
        | ClientMessage::Pin { req, .. }
        | ClientMessage::Mute { req, .. }
        | ClientMessage::Unpublish { req, .. }
        | ClientMessage::Chat { req, .. }
        | ClientMessage::RaiseHand { req, .. }
        | ClientMessage::SetRole { req, .. }
        | ClientMessage::MuteParticipant { req, .. }
        | ClientMessage::RemoveParticipant { req, .. }
        | ClientMessage::Ping { req }
        | ClientMessage::Leave { req } => req,
    };
    *slot = Some(id);
}
