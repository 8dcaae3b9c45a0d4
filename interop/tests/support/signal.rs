//! A client of the signaling WebSocket.

use std::collections::VecDeque;

use anyhow::{anyhow, bail, ensure, Context};
use futures_util::{SinkExt, StreamExt};
use serde_json::{json, Value};
use tokio::net::TcpStream;
use tokio_tungstenite::tungstenite::Message;
use tokio_tungstenite::{MaybeTlsStream, WebSocketStream};

use super::within;

/// A client of the signaling WebSocket.
pub struct Signal {
    ws: WebSocketStream<MaybeTlsStream<TcpStream>>,
    /// Messages passed over by [`Signal::recv_type`], oldest first.
    skipped: VecDeque<Value>,
}

impl Signal {
    pub async fn connect(url: &str) -> anyhow::Result<Signal> {
        let (ws, _) = within("WebSocket connect", tokio_tungstenite::connect_async(url))
            .await?
            .context("WebSocket connect")?;
        Ok(Signal {
            ws,
            skipped: VecDeque::new(),
        })
    }

    pub async fn send(&mut self, message: Value) -> anyhow::Result<()> {
        self.ws.send(Message::text(message.to_string())).await?;
        Ok(())
    }

    /// The next JSON message off the socket; `None` when it closed.
    async fn read(&mut self) -> Option<anyhow::Result<Value>> {
        loop {
            match self.ws.next().await? {
                Ok(Message::Text(text)) => {
                    return Some(serde_json::from_str(&text).context("server sent bad JSON"))
                }
                Ok(Message::Close(_)) => return None,
                Ok(_) => continue,
                Err(e) => return Some(Err(e.into())),
            }
        }
    }

    /// The next message of type `ty`. Messages passed over are kept for
    /// later calls; an `error` fails.
    pub async fn recv_type(&mut self, ty: &str) -> anyhow::Result<Value> {
        self.recv_where(ty, |m| m["type"] == ty).await
    }

    /// The reply to the request tagged `req`.
    pub async fn reply(&mut self, req: &str) -> anyhow::Result<Value> {
        let what = format!("the reply to request {req}");
        let message = self.recv_where(&what, |m| m["req"] == req).await?;
        ensure!(message["type"] != "error", "{what} is an error: {message}");
        Ok(message)
    }

    /// The next message for which `wanted` holds, first among those passed
    /// over before. Others are kept; an `error` not for this fails.
    pub async fn recv_where(
        &mut self,
        what: &str,
        wanted: impl Fn(&Value) -> bool,
    ) -> anyhow::Result<Value> {
        if let Some(at) = self.skipped.iter().position(&wanted) {
            return Ok(self.skipped.remove(at).expect("position is in range"));
        }
        within(&format!("waiting for {what}"), async {
            loop {
                let message = self
                    .read()
                    .await
                    .ok_or_else(|| anyhow!("socket closed while waiting for {what}"))??;
                if wanted(&message) {
                    return Ok(message);
                }
                if message["type"] == "error" {
                    bail!("server error while waiting for {what}: {message}");
                }
                self.skipped.push_back(message);
            }
        })
        .await?
    }

    /// Send a `join` message (see [`join`]) and wait for `joined`.
    pub async fn join(&mut self, join: Value) -> anyhow::Result<Value> {
        self.send(join).await?;
        self.recv_type("joined").await
    }
}

/// A `join` to a meeting room; add `role` and `mode` for other rooms.
pub fn join(room: &str, name: &str) -> Value {
    json!({"type": "join", "room": room, "name": name})
}
