//! The signaling side of a client: one WebSocket carrying JSON
//! [`ClientMessage`]s out and [`ServerMessage`]s in, with request ids.

use std::time::Duration;

use futures_util::stream::{SplitSink, SplitStream};
use futures_util::{SinkExt, StreamExt};
use relais_signaling::protocol::{ClientMessage, ServerMessage};
use tokio::net::TcpStream;
use tokio_tungstenite::tungstenite::Message;
use tokio_tungstenite::{MaybeTlsStream, WebSocketStream};

use crate::error::{BotError, Result};

type Ws = WebSocketStream<MaybeTlsStream<TcpStream>>;

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
    rx: SplitStream<Ws>,
    next_req: u64,
}

impl Signal {
    /// Open `url` (`ws://host/ws`) within `timeout`.
    pub async fn connect(url: &str, timeout: Duration) -> Result<Signal> {
        let connect = tokio_tungstenite::connect_async(url);
        let (ws, _) = tokio::time::timeout(timeout, connect)
            .await
            .map_err(|_| BotError::Timeout(format!("the WebSocket to {url}")))?
            .map_err(|e| BotError::Connect {
                url: url.to_string(),
                reason: e.to_string(),
            })?;
        let (tx, rx) = ws.split();
        Ok(Signal {
            tx,
            rx,
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
        loop {
            match self.rx.next().await {
                Some(Ok(Message::Text(t))) => {
                    return match serde_json::from_str(t.as_str()) {
                        Ok(m) => Incoming::Message(m),
                        Err(_) => Incoming::Unparsed(t.to_string()),
                    }
                }
                Some(Ok(Message::Close(_))) | Some(Err(_)) | None => return Incoming::Closed,
                // Pings are answered by tungstenite; binary frames are not ours.
                Some(Ok(_)) => continue,
            }
        }
    }

    /// Close the WebSocket politely.
    pub async fn close(&mut self) {
        let _ = self.tx.send(Message::Close(None)).await;
        let _ = self.tx.close().await;
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
