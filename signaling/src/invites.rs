//! `POST /api/invites`: a webinar host gets a presenter link and an attendee
//! link for its room. With a secret, the request must carry the host's own
//! token (`Authorization: Bearer <token>`) and the links carry freshly minted
//! tokens; in development mode the links state the role and mode in the URL.
//! The links are paths (`/room/<name>?...`): the caller knows its origin.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::Duration;

use axum::extract::State;
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::Json;
use serde::{Deserialize, Serialize};

use crate::auth::{mint_token, Claims};
use crate::host_auth::{refuse, require_host};
use crate::protocol::{Role, RoomMode};
use crate::state::AppState;

/// Lifetime of a minted invitation token unless the request asks for less.
const DEFAULT_TTL: Duration = Duration::from_secs(24 * 3600);

#[derive(Debug, Deserialize)]
pub struct InviteRequest {
    pub room: String,
    /// Seconds the links stay valid (at most a day).
    #[serde(default)]
    pub ttl_secs: Option<u64>,
}

#[derive(Debug, Serialize)]
pub struct Invites {
    pub presenter: String,
    pub attendee: String,
    /// Expiry of the tokens, seconds since the Unix epoch (`null` in development mode).
    pub expires_at: Option<u64>,
}

fn valid_room(room: &str) -> bool {
    !room.is_empty()
        && room.len() <= 64
        && room
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b"-_.".contains(&b))
}

pub async fn create(
    State(state): State<Arc<AppState>>,
    headers: HeaderMap,
    Json(req): Json<InviteRequest>,
) -> Response {
    if !valid_room(&req.room) {
        return refuse(
            StatusCode::BAD_REQUEST,
            "room names for links are 1 to 64 letters, digits, '-', '_' or '.'",
        );
    }
    let room = &req.room;
    let claims = match require_host(
        state.config.secret.as_deref(),
        &headers,
        room,
        "make invitation links",
    ) {
        Ok(Some(claims)) => claims,
        Ok(None) => {
            return Json(Invites {
                presenter: format!("/room/{room}?mode=webinar&role=presenter"),
                attendee: format!("/room/{room}?mode=webinar&role=attendee"),
                expires_at: None,
            })
            .into_response()
        }
        Err((status, message)) => return refuse(status, &message),
    };
    let secret = state
        .config
        .secret
        .as_deref()
        .expect("a host's claims come with a secret");
    let ttl = req
        .ttl_secs
        .map(Duration::from_secs)
        .unwrap_or(DEFAULT_TTL)
        .min(DEFAULT_TTL);
    let link = |role: Role, label: &str| {
        static NEXT: AtomicU64 = AtomicU64::new(1);
        let n = NEXT.fetch_add(1, Ordering::Relaxed);
        let mut c = Claims::new(room.clone(), format!("{label}-{}-{n}", claims.sub), ttl);
        c.role = Some(role);
        c.mode = Some(RoomMode::Webinar);
        c.name = Some(match role {
            Role::Presenter => "Presenter".to_string(),
            _ => "Attendee".to_string(),
        });
        (
            format!("/room/{room}?token={}", mint_token(secret, &c)),
            c.exp,
        )
    };
    let (presenter, exp) = link(Role::Presenter, "presenter");
    let (attendee, _) = link(Role::Attendee, "attendee");
    Json(Invites {
        presenter,
        attendee,
        expires_at: Some(exp),
    })
    .into_response()
}
