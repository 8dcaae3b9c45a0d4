//! The HTTP routes: the WebSocket endpoint, health, metrics and the
//! embedded web client.

use std::sync::Arc;

use axum::extract::{State, WebSocketUpgrade};
use axum::http::{header, StatusCode, Uri};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::Router;
use rust_embed::Embed;

use crate::protocol::MAX_SDP_MESSAGE_BYTES;
use crate::state::AppState;

/// The socket accepts somewhat more than the protocol limit, so a message
/// just over it gets a `message_too_large` reply instead of a dropped socket.
pub const SOCKET_MESSAGE_LIMIT: usize = MAX_SDP_MESSAGE_BYTES + 64 * 1024;

#[derive(Embed)]
#[folder = "../web-client/"]
struct WebClient;

pub fn router(state: Arc<AppState>) -> Router {
    Router::new()
        .route("/ws", get(websocket))
        .route("/healthz", get(|| async { "ok" }))
        .route("/metrics", get(metrics))
        .route("/api/invites", post(crate::invites::create))
        .route(
            "/api/rooms/{room}/downlinks",
            get(crate::downlinks::downlinks),
        )
        .fallback(get(web_client))
        .with_state(state)
}

async fn websocket(ws: WebSocketUpgrade, State(state): State<Arc<AppState>>) -> Response {
    ws.max_message_size(SOCKET_MESSAGE_LIMIT)
        .max_frame_size(SOCKET_MESSAGE_LIMIT)
        .on_upgrade(move |socket| crate::connection::serve(socket, state))
}

async fn metrics(State(state): State<Arc<AppState>>) -> Response {
    (
        [(header::CONTENT_TYPE, "text/plain; version=0.0.4")],
        state.metrics.render(),
    )
        .into_response()
}

fn content_type(path: &str) -> &'static str {
    match path.rsplit('.').next() {
        Some("html") => "text/html; charset=utf-8",
        Some("js") => "text/javascript",
        Some("css") => "text/css",
        Some("json") => "application/json",
        Some("svg") => "image/svg+xml",
        Some("png") => "image/png",
        Some("ico") => "image/x-icon",
        _ => "application/octet-stream",
    }
}

async fn web_client(uri: Uri) -> Response {
    let path = uri.path().trim_start_matches('/');
    let path = if path.is_empty() { "index.html" } else { path };
    // Room links (`/room/<name>`) are pages of the client.
    let path = if path.starts_with("room/") {
        "index.html"
    } else {
        path
    };
    match WebClient::get(path) {
        Some(file) => (
            [(header::CONTENT_TYPE, content_type(path))],
            file.data.into_owned(),
        )
            .into_response(),
        None => (StatusCode::NOT_FOUND, format!("no such page: /{path}\n")).into_response(),
    }
}
