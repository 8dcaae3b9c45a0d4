//! The JSON messages of the signaling WebSocket, version [`PROTOCOL_VERSION`].
//!
//! Every message is one JSON object with a `type` field. Client messages may
//! carry a `req` string; the server echoes it in the reply or error that
//! answers that message. `docs/protocol.md` documents each message.

use serde::{Deserialize, Serialize};

/// Bumped on every incompatible change of these messages.
pub const PROTOCOL_VERSION: u32 = 1;

/// Largest text message the server accepts, in bytes.
pub const MAX_MESSAGE_BYTES: usize = 64 * 1024;

/// Largest `publish_offer` or `subscribe_answer`, in bytes. Their SDP grows
/// with every track of the room (a browser's answer takes about 2 KB per
/// media line, two lines per participant), so a 100-person meeting needs
/// far more than [`MAX_MESSAGE_BYTES`].
pub const MAX_SDP_MESSAGE_BYTES: usize = 512 * 1024;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum RoomMode {
    Meeting,
    Webinar,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Role {
    /// Runs a webinar: publishes, promotes, mutes and removes.
    Host,
    /// Publishes in a webinar.
    Presenter,
    /// Watches a webinar, chats, raises a hand.
    Attendee,
    /// Anyone in a meeting: publishes and receives.
    Participant,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Source {
    Camera,
    Microphone,
    Screen,
    ScreenAudio,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Kind {
    Audio,
    Video,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Quality {
    Off,
    Low,
    Medium,
    High,
}

/// A participant as the others see it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ParticipantInfo {
    pub id: String,
    pub name: String,
    pub role: Role,
    #[serde(default)]
    pub hand_raised: bool,
}

/// A published track as the others see it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct TrackInfo {
    pub id: String,
    pub participant_id: String,
    pub source: Source,
    pub kind: Kind,
    pub codec: String,
    /// Simulcast layers offered by the publisher (1 without simulcast).
    pub layers: u8,
    pub muted: bool,
}

/// One media line of a connection and the track it carries.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct MidTrack {
    pub mid: String,
    pub track_id: String,
}

/// What the client says which media line of its publish offer carries.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct MidSource {
    pub mid: String,
    pub source: Source,
}

/// Messages from the client.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum ClientMessage {
    /// First message on a connection.
    Join {
        #[serde(default)]
        req: Option<String>,
        room: String,
        #[serde(default)]
        name: Option<String>,
        /// JWT access token; required when the server has a secret.
        #[serde(default)]
        token: Option<String>,
        /// Development mode only: the role the client claims.
        #[serde(default)]
        role: Option<Role>,
        /// Development mode only: the mode of a room made by this join.
        #[serde(default)]
        mode: Option<RoomMode>,
        /// Development mode only: the last-N of a room made by this join
        /// (0: no limit); the server's `--last-n` when absent.
        #[serde(default)]
        last_n: Option<usize>,
    },
    /// An SDP offer on the client's publishing connection (first or renegotiation).
    PublishOffer {
        #[serde(default)]
        req: Option<String>,
        sdp: String,
        #[serde(default)]
        sources: Vec<MidSource>,
    },
    /// The answer to a `subscribe_offer`.
    SubscribeAnswer {
        #[serde(default)]
        req: Option<String>,
        sdp: String,
    },
    /// Choose the quality (or a maximum size) of one remote video track.
    Subscribe {
        #[serde(default)]
        req: Option<String>,
        track_id: String,
        #[serde(default)]
        quality: Option<Quality>,
        #[serde(default)]
        max_width: Option<u32>,
        #[serde(default)]
        max_height: Option<u32>,
    },
    /// Pin (or unpin) a remote video track: it is received whatever last-N
    /// says, and gets bandwidth before unpinned tiles.
    Pin {
        #[serde(default)]
        req: Option<String>,
        track_id: String,
        #[serde(default = "yes")]
        pinned: bool,
    },
    /// Mute or unmute one of one's own tracks.
    Mute {
        #[serde(default)]
        req: Option<String>,
        track_id: String,
        muted: bool,
    },
    /// Stop publishing one of one's own tracks.
    Unpublish {
        #[serde(default)]
        req: Option<String>,
        track_id: String,
    },
    Chat {
        #[serde(default)]
        req: Option<String>,
        text: String,
    },
    RaiseHand {
        #[serde(default)]
        req: Option<String>,
        raised: bool,
    },
    /// Host only: change another participant's role (presenter or attendee).
    SetRole {
        #[serde(default)]
        req: Option<String>,
        participant_id: String,
        role: Role,
    },
    /// Host only: mute all of another participant's tracks.
    MuteParticipant {
        #[serde(default)]
        req: Option<String>,
        participant_id: String,
    },
    /// Host only: remove another participant from the room.
    RemoveParticipant {
        #[serde(default)]
        req: Option<String>,
        participant_id: String,
    },
    Ping {
        #[serde(default)]
        req: Option<String>,
    },
    Leave {
        #[serde(default)]
        req: Option<String>,
    },
}

fn yes() -> bool {
    true
}

/// One simulcast layer of a published track and whether to send it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct PublisherLayer {
    /// The simulcast rid (`q`, `h`, `f`); `null` without simulcast.
    pub rid: Option<String>,
    pub active: bool,
}

/// Messages from the server.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum ServerMessage {
    /// The join succeeded.
    Joined {
        #[serde(default)]
        req: Option<String>,
        protocol_version: u32,
        room: String,
        mode: RoomMode,
        participant_id: String,
        role: Role,
        /// Everyone else in the room.
        participants: Vec<ParticipantInfo>,
        /// Every track published in the room.
        tracks: Vec<TrackInfo>,
        /// True when the server runs without a secret (development mode).
        development: bool,
    },
    /// The answer to a `publish_offer`, and the track each media line became.
    PublishAnswer {
        #[serde(default)]
        req: Option<String>,
        sdp: String,
        tracks: Vec<MidTrack>,
    },
    /// An offer for the client's receiving connection; reply with `subscribe_answer`.
    SubscribeOffer {
        sdp: String,
        /// Every media line in use and the remote track it carries.
        tracks: Vec<MidTrack>,
    },
    ParticipantJoined {
        participant: ParticipantInfo,
    },
    ParticipantLeft {
        participant_id: String,
        /// `left`, `removed`, `disconnected` or `failed`.
        reason: String,
    },
    TrackPublished {
        track: TrackInfo,
    },
    TrackUnpublished {
        track_id: String,
    },
    TrackMuted {
        track_id: String,
        muted: bool,
    },
    /// The room's dominant speaker changed (`null`: the speaker left).
    ActiveSpeaker {
        participant_id: Option<String>,
    },
    /// Last-N: the remote video tracks this client does not receive now
    /// because their owners are not among the room's most recent speakers
    /// (the full list each time; empty when all flow).
    LastN {
        paused: Vec<String>,
    },
    /// Dynacast: which layers of one of this client's own tracks someone
    /// needs; stop sending the inactive ones, resume the active ones.
    PublisherLayers {
        track_id: String,
        layers: Vec<PublisherLayer>,
    },
    /// The layer this client receives of a track changed (`null`: paused).
    LayerChanged {
        track_id: String,
        layer: Option<u8>,
        /// `"bandwidth"` when the track is paused because the client's
        /// downlink cannot carry it; absent otherwise.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        reason: Option<String>,
    },
    Chat {
        participant_id: String,
        name: String,
        text: String,
        /// Milliseconds since the Unix epoch.
        timestamp_ms: u64,
    },
    HandRaised {
        participant_id: String,
        raised: bool,
    },
    RoleChanged {
        participant_id: String,
        role: Role,
    },
    /// A host asked this client to mute; the server has muted its tracks.
    MutedByHost {},
    /// A generic success reply to a message that has no other reply.
    Ok {
        #[serde(default)]
        req: Option<String>,
    },
    Pong {
        #[serde(default)]
        req: Option<String>,
    },
    Error {
        #[serde(default)]
        req: Option<String>,
        code: ErrorCode,
        message: String,
    },
    /// The server is closing this connection (shutdown, removal, room closed).
    Closing {
        reason: String,
    },
}

/// Machine-readable error codes.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ErrorCode {
    /// Not JSON, or not a message of this protocol.
    BadMessage,
    /// A message above the size limit.
    MessageTooLarge,
    /// Too many messages per second.
    RateLimited,
    /// Missing, forged, expired token, or one for another room.
    Unauthorized,
    /// The role does not allow this (an attendee publishing, a non-host promoting).
    Forbidden,
    /// A message that needs a join, before the join; or a second join.
    NotJoined,
    AlreadyJoined,
    RoomFull,
    RoomClosed,
    UnknownTrack,
    UnknownParticipant,
    /// SDP that cannot be parsed or does not fit the connection's state.
    BadSdp,
    TooManyTracks,
    /// The server failed; the message says how.
    Internal,
}
