//! Who may use a room's HTTP API: with a secret, the host of that room
//! (`Authorization: Bearer <token>` carrying its own token); in development
//! mode, anyone.

use axum::http::{header, HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::Json;

use crate::auth::{verify, Claims};
use crate::protocol::Role;

/// An error reply of the room API: `{"error": message}`.
pub fn refuse(status: StatusCode, message: &str) -> Response {
    (status, Json(serde_json::json!({ "error": message }))).into_response()
}

/// Why a request was refused: its status and message (see [`refuse`]).
pub type Refusal = (StatusCode, String);

/// The host's claims for `room` (`None` in development mode), or why the
/// request is refused. `what` ends "only the host of the room can ...".
pub fn require_host(
    secret: Option<&str>,
    headers: &HeaderMap,
    room: &str,
    what: &str,
) -> Result<Option<Claims>, Refusal> {
    let Some(secret) = secret else {
        return Ok(None);
    };
    let bearer = headers
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.strip_prefix("Bearer "));
    let Some(token) = bearer else {
        return Err((
            StatusCode::UNAUTHORIZED,
            "send the host's token as 'Authorization: Bearer <token>'".into(),
        ));
    };
    let claims = verify(secret, token, room).map_err(|e| (StatusCode::UNAUTHORIZED, e.message))?;
    if claims.role != Some(Role::Host) {
        return Err((
            StatusCode::FORBIDDEN,
            format!("only the host of the room can {what}"),
        ));
    }
    Ok(Some(claims))
}
