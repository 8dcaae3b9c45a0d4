//! The one error type of the client library.

use relais_signaling::protocol::ErrorCode;

#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum BotError {
    /// The WebSocket could not be opened.
    #[error("cannot connect to {url}: {reason}")]
    Connect { url: String, reason: String },
    /// The server answered a request with an `error` message.
    #[error("the server refused: {code:?}: {message}")]
    Refused { code: ErrorCode, message: String },
    /// No answer in time.
    #[error("timed out waiting for {0}")]
    Timeout(String),
    /// The signaling connection closed (or the bot's task ended).
    #[error("the connection is closed")]
    Closed,
    /// The server sent something this client does not understand.
    #[error("protocol: {0}")]
    Protocol(String),
    /// str0m refused an SDP or a change.
    #[error("WebRTC: {0}")]
    Rtc(String),
    #[error("I/O: {0}")]
    Io(#[from] std::io::Error),
    /// A request this bot cannot make in its current state.
    #[error("{0}")]
    Usage(String),
}

impl BotError {
    /// The server's error code, when the server refused.
    pub fn code(&self) -> Option<ErrorCode> {
        match self {
            BotError::Refused { code, .. } => Some(*code),
            _ => None,
        }
    }
}

pub type Result<T, E = BotError> = std::result::Result<T, E>;
