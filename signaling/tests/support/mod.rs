//! A small WebSocket client for driving an in-process server in tests.
#![allow(dead_code)]

use std::time::Duration;

use futures_util::{SinkExt, StreamExt};
use relais_signaling::{start, RunningServer, ServerConfig};
use serde_json::{json, Value};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;
use tokio_tungstenite::tungstenite::Message;
use tokio_tungstenite::{MaybeTlsStream, WebSocketStream};

pub const WAIT: Duration = Duration::from_secs(5);

pub async fn server(config: ServerConfig) -> RunningServer {
    start(config).await.expect("server starts")
}

pub struct Client {
    ws: WebSocketStream<MaybeTlsStream<TcpStream>>,
}

impl Client {
    pub async fn connect(server: &RunningServer) -> Client {
        let (ws, _) = tokio::time::timeout(WAIT, tokio_tungstenite::connect_async(server.ws_url()))
            .await
            .expect("connect in time")
            .expect("websocket connects");
        Client { ws }
    }

    pub async fn send(&mut self, v: Value) {
        self.send_text(v.to_string()).await;
    }

    pub async fn send_text(&mut self, text: String) {
        self.ws.send(Message::text(text)).await.expect("send text");
    }

    pub async fn send_binary(&mut self, data: Vec<u8>) {
        self.ws
            .send(Message::binary(data))
            .await
            .expect("send binary");
    }

    /// The next JSON message; `None` when the server closed the socket.
    pub async fn next(&mut self) -> Option<Value> {
        loop {
            let frame = tokio::time::timeout(WAIT, self.ws.next())
                .await
                .expect("a message in time");
            match frame {
                Some(Ok(Message::Text(t))) => {
                    return Some(serde_json::from_str(t.as_str()).expect("server sends JSON"))
                }
                Some(Ok(Message::Close(_))) | None | Some(Err(_)) => return None,
                Some(Ok(_)) => continue,
            }
        }
    }

    /// The next message, which must exist.
    pub async fn recv(&mut self) -> Value {
        self.next().await.expect("the socket is open")
    }

    /// Skip messages until one of type `ty`.
    pub async fn recv_type(&mut self, ty: &str) -> Value {
        loop {
            let m = self.recv().await;
            if m["type"] == ty {
                return m;
            }
        }
    }

    /// The error a request got.
    pub async fn expect_error(&mut self, code: &str) -> Value {
        let m = self.recv_type("error").await;
        assert_eq!(m["code"], code, "{m}");
        assert!(
            m["message"].as_str().is_some_and(|s| !s.is_empty()),
            "errors name the problem: {m}"
        );
        m
    }

    /// The connection still answers.
    pub async fn assert_alive(&mut self) {
        self.send(json!({"type": "ping", "req": "alive?"})).await;
        let m = self.recv_type("pong").await;
        assert_eq!(m["req"], "alive?");
    }

    pub async fn join(&mut self, room: &str, name: &str) -> Value {
        self.join_with(json!({"type": "join", "room": room, "name": name}))
            .await
    }

    pub async fn join_with(&mut self, msg: Value) -> Value {
        self.send(msg).await;
        let m = self.recv().await;
        assert_eq!(m["type"], "joined", "{m}");
        m
    }

    /// Wait until the server closes the socket, skipping messages.
    pub async fn expect_closed(&mut self) -> Vec<Value> {
        let mut seen = Vec::new();
        while let Some(m) = self.next().await {
            seen.push(m);
        }
        seen
    }
}

/// `GET path` over plain HTTP/1.0; the status code and body.
pub async fn http_get(server: &RunningServer, path: &str) -> (u16, String) {
    let request = format!("GET {path} HTTP/1.0\r\nHost: x\r\n\r\n");
    http_request(server.http_addr(), &request).await
}

/// Send a raw HTTP/1.0 request and read the whole response: its status code
/// and body.
pub async fn http_request(addr: std::net::SocketAddr, request: &str) -> (u16, String) {
    let mut s = TcpStream::connect(addr).await.unwrap();
    s.write_all(request.as_bytes()).await.unwrap();
    let mut buf = Vec::new();
    tokio::time::timeout(WAIT, s.read_to_end(&mut buf))
        .await
        .expect("response in time")
        .unwrap();
    let text = String::from_utf8_lossy(&buf).to_string();
    let status = text
        .split_whitespace()
        .nth(1)
        .and_then(|s| s.parse().ok())
        .unwrap_or(0);
    let body = text
        .split_once("\r\n\r\n")
        .map(|(_, b)| b.to_string())
        .unwrap_or_default();
    (status, body)
}
