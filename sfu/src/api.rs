//! What signaling says to the media core, and what the core says back.
//!
//! Commands travel to a worker over a bounded channel and carry a one-shot
//! reply. Events travel back over an unbounded channel, because a media worker
//! must never block on signaling.

use std::net::IpAddr;

use tokio::sync::oneshot;

use crate::ids::{ParticipantId, RoomId, TrackId};

/// Where a reply to a command goes.
pub type Reply<T> = oneshot::Sender<T>;

/// Audio or video.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum MediaKind {
    Audio,
    Video,
}

/// What a published track shows.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum TrackSource {
    Camera,
    Microphone,
    Screen,
    /// Screen-share audio.
    ScreenAudio,
}

impl TrackSource {
    pub fn kind(self) -> MediaKind {
        match self {
            TrackSource::Camera | TrackSource::Screen => MediaKind::Video,
            TrackSource::Microphone | TrackSource::ScreenAudio => MediaKind::Audio,
        }
    }
}

/// A subscriber's wish for one video track.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LayerRequest {
    /// Pause the track.
    Off,
    /// `Low` is the lowest simulcast layer, `High` the highest.
    Quality(Quality),
    /// The highest layer no larger than this size.
    MaxSize { width: u32, height: u32 },
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum Quality {
    Low,
    Medium,
    High,
}

impl Default for LayerRequest {
    fn default() -> Self {
        LayerRequest::Quality(Quality::High)
    }
}

/// One track as the rest of the room sees it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TrackInfo {
    pub id: TrackId,
    pub source: TrackSource,
    pub kind: MediaKind,
    /// Codec name as in SDP, for example `VP8`, `H264`, `opus`.
    pub codec: String,
    /// Number of simulcast layers the publisher offered (1 without simulcast).
    pub layers: u8,
    pub muted: bool,
}

/// The answer to a publisher's offer and the tracks it created.
#[derive(Debug, Clone)]
pub struct PublishAnswer {
    pub sdp: String,
    /// Every track of this publisher's connection after the offer, by mid.
    pub tracks: Vec<(String, TrackInfo)>,
}

/// A track offered to a subscriber on one m-line of its receiving connection.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OfferedTrack {
    pub mid: String,
    pub track: TrackId,
}

/// Which of a participant's two peer connections.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum PeerRole {
    Publish,
    Subscribe,
}

/// What a participant may do with media.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Permissions {
    pub can_publish: bool,
    pub can_subscribe: bool,
}

/// A failure the core reports for a command. The message names the problem.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum SfuError {
    #[error("no such participant")]
    UnknownParticipant,
    #[error("no such track: {0}")]
    UnknownTrack(TrackId),
    #[error("this participant may not publish")]
    PublishNotAllowed,
    #[error("invalid SDP: {0}")]
    BadSdp(String),
    #[error("too many tracks: at most {0} per participant")]
    TooManyTracks(usize),
    #[error("no offer is waiting for an answer")]
    NoPendingOffer,
    #[error("the media worker is gone")]
    WorkerGone,
    #[error("{0}")]
    Rejected(String),
}

/// A command to a media worker.
#[derive(Debug)]
pub enum Command {
    /// Put a participant in a room (made on first use) on this worker.
    AddParticipant {
        room: RoomId,
        participant: ParticipantId,
        permissions: Permissions,
        reply: Reply<Result<(), SfuError>>,
    },
    /// Take a participant out with all its tracks and peers.
    RemoveParticipant {
        participant: ParticipantId,
        reply: Reply<()>,
    },
    /// Change what a participant may do; losing `can_publish` ends its tracks.
    SetPermissions {
        participant: ParticipantId,
        permissions: Permissions,
        reply: Reply<Result<(), SfuError>>,
    },
    /// An offer on the participant's publishing connection.
    PublishOffer {
        participant: ParticipantId,
        sdp: String,
        /// The source of each media line, by mid. Lines not named are
        /// camera (video) or microphone (audio).
        sources: Vec<(String, TrackSource)>,
        reply: Reply<Result<PublishAnswer, SfuError>>,
    },
    /// The answer to the last `CoreEvent::SubscriberOffer`.
    SubscriberAnswer {
        participant: ParticipantId,
        sdp: String,
        reply: Reply<Result<(), SfuError>>,
    },
    /// Ask for a layer of one track (or pause it).
    Subscribe {
        participant: ParticipantId,
        track: TrackId,
        request: LayerRequest,
        reply: Reply<Result<(), SfuError>>,
    },
    /// Mute or unmute one of the participant's own tracks.
    SetMuted {
        participant: ParticipantId,
        track: TrackId,
        muted: bool,
        reply: Reply<Result<(), SfuError>>,
    },
    /// Pin (or unpin) one remote video track: it is received whatever
    /// last-N says, at the priority of pinned tiles.
    Pin {
        participant: ParticipantId,
        track: TrackId,
        pinned: bool,
        reply: Reply<Result<(), SfuError>>,
    },
    /// Set the media policy (last-N, audio top-N, dynacast) of one room, or
    /// the default of every room without one (`room: None`). Sent to every
    /// worker, since a room may span several.
    SetMediaPolicy {
        room: Option<RoomId>,
        policy: MediaPolicy,
        reply: Reply<()>,
    },
    /// Stop publishing one track.
    Unpublish {
        participant: ParticipantId,
        track: TrackId,
        reply: Reply<Result<(), SfuError>>,
    },
    /// A snapshot of the worker's state, for tests and the admin API.
    Inspect { reply: Reply<WorkerSnapshot> },
    /// What each subscriber of a room on this worker receives, and what its
    /// downlink allows (the room API's downlink report).
    Downlinks {
        room: RoomId,
        reply: Reply<Vec<DownlinkReport>>,
    },
    /// Close every peer and stop the worker.
    Shutdown { reply: Reply<()> },
}

impl Command {
    /// The participant a command is about, if any: it goes to that
    /// participant's worker.
    pub fn participant(&self) -> Option<ParticipantId> {
        match self {
            Command::AddParticipant { participant, .. }
            | Command::RemoveParticipant { participant, .. }
            | Command::SetPermissions { participant, .. }
            | Command::PublishOffer { participant, .. }
            | Command::SubscriberAnswer { participant, .. }
            | Command::Subscribe { participant, .. }
            | Command::SetMuted { participant, .. }
            | Command::Pin { participant, .. }
            | Command::Unpublish { participant, .. } => Some(*participant),
            Command::Inspect { .. }
            | Command::Downlinks { .. }
            | Command::Shutdown { .. }
            | Command::SetMediaPolicy { .. } => None,
        }
    }
}

/// What a worker tells signaling without being asked.
#[derive(Debug, Clone, PartialEq)]
pub enum CoreEvent {
    TrackPublished {
        room: RoomId,
        track: TrackInfo,
    },
    TrackUnpublished {
        room: RoomId,
        track: TrackId,
    },
    TrackMuted {
        room: RoomId,
        track: TrackId,
        muted: bool,
    },
    /// A new offer for the participant's receiving connection; answer it with
    /// `Command::SubscriberAnswer`. `tracks` lists every m-line in use.
    SubscriberOffer {
        participant: ParticipantId,
        sdp: String,
        tracks: Vec<OfferedTrack>,
    },
    /// A peer connection reached a new state.
    PeerState {
        participant: ParticipantId,
        role: PeerRole,
        state: PeerState,
    },
    /// The core dropped a participant whose peer failed (ICE timeout, DTLS
    /// failure, internal error). Nothing of it remains on the worker.
    ParticipantFailed {
        participant: ParticipantId,
        reason: String,
    },
    /// The dominant speaker of a room changed (`None`: the speaker left).
    ActiveSpeaker {
        room: RoomId,
        participant: Option<ParticipantId>,
    },
    /// The video tracks that last-N keeps from a subscriber changed: these
    /// are paused for it (the others flow as the allocator decides).
    LastN {
        participant: ParticipantId,
        paused: Vec<TrackId>,
    },
    /// Dynacast: which simulcast layers of a published track someone needs.
    /// The publisher should stop sending the inactive ones and resume (with a
    /// keyframe) the active ones.
    PublisherLayers {
        participant: ParticipantId,
        track: TrackId,
        layers: Vec<PublisherLayer>,
    },
    /// The layer a subscriber actually receives changed.
    LayerSwitched {
        participant: ParticipantId,
        track: TrackId,
        /// `None`: paused.
        layer: Option<u8>,
    },
    /// A video track the subscriber asked for is paused because its
    /// downlink cannot carry even the lowest layer beside the tracks of
    /// higher priority. A `LayerSwitched` with a layer follows when it resumes.
    PausedForBandwidth {
        participant: ParticipantId,
        track: TrackId,
    },
}

/// One layer of a published track and whether the publisher should send it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PublisherLayer {
    /// The simulcast rid; `None` for a track without simulcast.
    pub rid: Option<String>,
    pub active: bool,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum PeerState {
    Connecting,
    Connected,
    Disconnected,
    Closed,
}

/// What a worker holds, as counts and lists, for tests and inspection.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct WorkerSnapshot {
    pub worker: usize,
    pub rooms: Vec<RoomId>,
    pub participants: Vec<ParticipantId>,
    pub tracks: Vec<TrackId>,
    pub peers: usize,
    /// Subscriptions (subscriber, track) the worker forwards.
    pub subscriptions: Vec<(ParticipantId, TrackId)>,
    /// Entries in the address-to-peer routing table.
    pub routes: usize,
}

/// One subscriber's downlink as the SFU sees it: the estimate its layers
/// are allocated from, what its receiver reports, and each video track it
/// receives.
#[derive(Debug, Clone, PartialEq)]
pub struct DownlinkReport {
    pub participant: ParticipantId,
    /// Bit/s; `None` before any estimate (or with estimation off and no REMB).
    pub estimate_bps: Option<u64>,
    /// `"twcc"` or `"remb"`.
    pub estimate_source: Option<&'static str>,
    pub rtt: Option<std::time::Duration>,
    /// Share of packets lost toward the subscriber, before repair.
    pub loss: Option<f32>,
    /// Loss of 2% or more, or a round trip 150 ms above the lowest seen.
    pub congested: bool,
    pub video: Vec<VideoDowntrackReport>,
}

/// One video track a subscriber receives.
#[derive(Debug, Clone, PartialEq)]
pub struct VideoDowntrackReport {
    pub track: TrackId,
    /// The spatial layer the allocation chose (`None`: paused).
    pub target: Option<u8>,
    /// The spatial layer being forwarded now (`None`: nothing yet).
    pub current: Option<u8>,
}

/// How the core is set up; signaling fills it from flags.
#[derive(Debug, Clone)]
pub struct SfuConfig {
    /// Number of media worker threads.
    pub workers: usize,
    /// Address the workers' UDP sockets bind to.
    pub bind_ip: IpAddr,
    /// First UDP port; worker `i` uses `media_port + i`.
    pub media_port: u16,
    /// Address advertised in ICE candidates.
    pub public_ip: IpAddr,
    /// Tracks one participant may publish.
    pub max_tracks_per_participant: usize,
    /// Capacity of each worker's command channel.
    pub command_queue: usize,
    /// Send datagrams in batches (`sendmmsg`) rather than one system call each.
    pub batch_sends: bool,
    /// Estimate each subscriber's downlink (TWCC, REMB) and fit its layers
    /// in it. On by default: see docs/media-quality.md.
    pub subscriber_bwe: bool,
    /// The media policy of rooms that have none of their own.
    pub media: MediaPolicy,
}

/// What a room forwards when it grows: last-N video, audio of the loudest
/// few, and dynacast. Decided on timers, never per packet.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct MediaPolicy {
    /// Each subscriber receives camera video of only the `last_n` most recent
    /// speakers (plus pinned tracks and screen shares); 0: everyone's.
    pub last_n: usize,
    /// In a room with more than `audio_top_n_above` audio publishers, forward
    /// audio of only the `audio_top_n` loudest; 0: all audio.
    pub audio_top_n: usize,
    pub audio_top_n_above: usize,
    /// Pause simulcast layers that no subscriber needs at the publisher.
    pub dynacast: bool,
}

impl Default for MediaPolicy {
    fn default() -> Self {
        MediaPolicy {
            last_n: 0,
            audio_top_n: 3,
            audio_top_n_above: 20,
            dynacast: true,
        }
    }
}

impl Default for SfuConfig {
    fn default() -> Self {
        SfuConfig {
            workers: 1,
            bind_ip: IpAddr::from([127, 0, 0, 1]),
            media_port: 50000,
            public_ip: IpAddr::from([127, 0, 0, 1]),
            max_tracks_per_participant: 8,
            command_queue: 1024,
            batch_sends: true,
            subscriber_bwe: crate::peer::SUBSCRIBER_BWE,
            media: MediaPolicy::default(),
        }
    }
}
