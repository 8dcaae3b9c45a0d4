//! The one error type of signaling: a protocol [`ErrorCode`] and a message
//! that names the problem. Every failure a client can cause becomes one of
//! these and goes back to that client only.

use relais_sfu::SfuError;

use crate::protocol::{ErrorCode, ServerMessage};

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{code:?}: {message}")]
pub struct SignalError {
    pub code: ErrorCode,
    pub message: String,
}

impl SignalError {
    pub fn new(code: ErrorCode, message: impl Into<String>) -> Self {
        SignalError {
            code,
            message: message.into(),
        }
    }

    pub fn bad_message(message: impl Into<String>) -> Self {
        Self::new(ErrorCode::BadMessage, message)
    }

    pub fn forbidden(message: impl Into<String>) -> Self {
        Self::new(ErrorCode::Forbidden, message)
    }

    pub fn unauthorized(message: impl Into<String>) -> Self {
        Self::new(ErrorCode::Unauthorized, message)
    }

    pub fn unknown_track(id: &str) -> Self {
        Self::new(
            ErrorCode::UnknownTrack,
            format!("no track '{id}' in this room"),
        )
    }

    pub fn unknown_participant(id: &str) -> Self {
        Self::new(
            ErrorCode::UnknownParticipant,
            format!("no participant '{id}' in this room"),
        )
    }

    /// The `error` message that reports this to the client.
    pub fn to_message(&self, req: Option<String>) -> ServerMessage {
        ServerMessage::Error {
            req,
            code: self.code,
            message: self.message.clone(),
        }
    }
}

impl From<SfuError> for SignalError {
    fn from(e: SfuError) -> Self {
        let code = match &e {
            SfuError::UnknownParticipant => ErrorCode::UnknownParticipant,
            SfuError::UnknownTrack(_) => ErrorCode::UnknownTrack,
            SfuError::PublishNotAllowed => ErrorCode::Forbidden,
            SfuError::BadSdp(_) | SfuError::NoPendingOffer => ErrorCode::BadSdp,
            SfuError::TooManyTracks(_) => ErrorCode::TooManyTracks,
            SfuError::WorkerGone | SfuError::Rejected(_) => ErrorCode::Internal,
        };
        SignalError::new(code, e.to_string())
    }
}

/// The snake_case name of a code, as on the wire and in metric labels.
pub fn code_name(code: ErrorCode) -> String {
    serde_json::to_value(code)
        .ok()
        .and_then(|v| v.as_str().map(str::to_owned))
        .unwrap_or_else(|| format!("{code:?}"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn core_errors_map_to_protocol_codes() {
        let e = SignalError::from(SfuError::BadSdp("no m-lines".into()));
        assert_eq!(e.code, ErrorCode::BadSdp);
        assert!(e.message.contains("no m-lines"));
        assert_eq!(
            SignalError::from(SfuError::TooManyTracks(8)).code,
            ErrorCode::TooManyTracks
        );
        assert_eq!(
            SignalError::from(SfuError::PublishNotAllowed).code,
            ErrorCode::Forbidden
        );
        assert_eq!(
            SignalError::from(SfuError::WorkerGone).code,
            ErrorCode::Internal
        );
    }

    #[test]
    fn code_names_are_snake_case() {
        assert_eq!(code_name(ErrorCode::MessageTooLarge), "message_too_large");
        assert_eq!(code_name(ErrorCode::BadSdp), "bad_sdp");
    }
}
