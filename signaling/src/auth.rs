//! Access tokens: HS256 JWTs that say who may join which room, under which
//! name, in which role. `relais token` mints them with [`mint_token`]; the
//! server checks them with [`verify`].

use std::time::{Duration, SystemTime, UNIX_EPOCH};

use jsonwebtoken::errors::ErrorKind;
use jsonwebtoken::{Algorithm, DecodingKey, EncodingKey, Header, Validation};
use serde::{Deserialize, Serialize};

use crate::error::SignalError;
use crate::protocol::{Role, RoomMode};

/// Seconds of clock skew tolerated on `exp`.
const LEEWAY_SECS: u64 = 5;

/// What a token grants.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Claims {
    /// The room the holder may join.
    pub room: String,
    /// The holder's identity (a user id of the application).
    pub sub: String,
    /// Display name; the identity when absent.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
    /// Role in the room; `participant` when absent in a meeting.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub role: Option<Role>,
    /// Mode of the room, if this join creates it; `meeting` when absent.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub mode: Option<RoomMode>,
    /// Last-N of the room, if this join creates it (0: no limit); the
    /// server's `--last-n` when absent.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub last_n: Option<usize>,
    /// Expiry, seconds since the Unix epoch.
    pub exp: u64,
}

impl Claims {
    /// Claims for `room` and `identity` that expire `ttl` from now.
    pub fn new(room: impl Into<String>, identity: impl Into<String>, ttl: Duration) -> Self {
        Claims {
            room: room.into(),
            sub: identity.into(),
            name: None,
            role: None,
            mode: None,
            last_n: None,
            exp: unix_now().saturating_add(ttl.as_secs()),
        }
    }
}

/// Seconds since the Unix epoch.
pub fn unix_now() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_secs())
        .unwrap_or(0)
}

/// Sign `claims` with `secret` (HS256).
pub fn mint_token(secret: &str, claims: &Claims) -> String {
    jsonwebtoken::encode(
        &Header::new(Algorithm::HS256),
        claims,
        &EncodingKey::from_secret(secret.as_bytes()),
    )
    .expect("HS256 signing of plain claims cannot fail")
}

/// Check a token's signature and expiry and that it is for `room`.
pub fn verify(secret: &str, token: &str, room: &str) -> Result<Claims, SignalError> {
    let mut validation = Validation::new(Algorithm::HS256);
    validation.leeway = LEEWAY_SECS;
    validation.set_required_spec_claims(&["exp", "sub"]);
    let data = jsonwebtoken::decode::<Claims>(
        token,
        &DecodingKey::from_secret(secret.as_bytes()),
        &validation,
    )
    .map_err(|e| {
        SignalError::unauthorized(match e.kind() {
            ErrorKind::ExpiredSignature => "the token has expired".to_string(),
            ErrorKind::InvalidSignature => {
                "the token's signature is not valid for this server".to_string()
            }
            ErrorKind::InvalidAlgorithm => "the token must be signed with HS256".to_string(),
            ErrorKind::MissingRequiredClaim(c) => format!("the token has no '{c}' claim"),
            _ => format!("the token is not valid: {e}"),
        })
    })?;
    let claims = data.claims;
    if claims.room != room {
        return Err(SignalError::unauthorized(format!(
            "the token is for room '{}', not '{room}'",
            claims.room
        )));
    }
    Ok(claims)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::protocol::ErrorCode;

    const SECRET: &str = "test-secret";

    fn claims() -> Claims {
        let mut c = Claims::new("standup", "alice", Duration::from_secs(60));
        c.name = Some("Alice".into());
        c.role = Some(Role::Presenter);
        c.mode = Some(RoomMode::Webinar);
        c
    }

    #[test]
    fn a_valid_token_gives_its_claims() {
        let token = mint_token(SECRET, &claims());
        assert_eq!(verify(SECRET, &token, "standup"), Ok(claims()));
    }

    #[test]
    fn an_expired_token_is_refused() {
        let mut c = claims();
        c.exp = unix_now() - 60;
        let e = verify(SECRET, &mint_token(SECRET, &c), "standup").unwrap_err();
        assert_eq!(e.code, ErrorCode::Unauthorized);
        assert!(e.message.contains("expired"), "{}", e.message);
    }

    #[test]
    fn a_forged_token_is_refused() {
        let token = mint_token("another-secret", &claims());
        let e = verify(SECRET, &token, "standup").unwrap_err();
        assert_eq!(e.code, ErrorCode::Unauthorized);
        assert!(e.message.contains("signature"), "{}", e.message);
        let e = verify(SECRET, "not.a.jwt", "standup").unwrap_err();
        assert_eq!(e.code, ErrorCode::Unauthorized);
    }

    #[test]
    fn a_token_for_another_room_is_refused() {
        let token = mint_token(SECRET, &claims());
        let e = verify(SECRET, &token, "other").unwrap_err();
        assert_eq!(e.code, ErrorCode::Unauthorized);
        assert!(e.message.contains("'standup'"), "{}", e.message);
    }

    #[test]
    fn tampered_claims_break_the_signature() {
        let token = mint_token(SECRET, &claims());
        let mut parts: Vec<String> = token.split('.').map(str::to_owned).collect();
        let mut other = claims();
        other.role = Some(Role::Host);
        let forged = mint_token(SECRET, &other);
        parts[1] = forged.split('.').nth(1).unwrap().to_owned();
        let e = verify(SECRET, &parts.join("."), "standup").unwrap_err();
        assert_eq!(e.code, ErrorCode::Unauthorized);
    }
}
