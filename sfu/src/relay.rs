//! What media workers say to each other so that one room can span several
//! workers (as mediasoup's `pipeToRouter` does): a large webinar's audience
//! is spread over all cores, and each published packet crosses to each other
//! worker once, not once per subscriber.
//!
//! A worker that gets its first member of a room announces it; workers that
//! publish in that room answer with their tracks and from then on relay their
//! packets there. Keyframe requests travel back to the worker that owns the
//! publisher. Messages are plain values; the payload is shared, not copied.

use std::sync::Arc;
use std::time::Instant;

use str0m::media::{Pt, Rid};
use str0m::rtp::ExtensionValues;

use crate::api::TrackInfo;
use crate::codec::Codec;
use crate::ids::{RoomId, TrackId};

/// Index of a media worker.
pub type WorkerIndex = usize;

/// A track as another worker needs to know it to forward its packets.
#[derive(Debug, Clone)]
pub struct RelayedTrack {
    pub room: RoomId,
    pub info: TrackInfo,
    pub codec: Codec,
    pub pt: Pt,
    pub clock_rate: u32,
    pub rids: Vec<Rid>,
}

/// One RTP packet of a relayed track, as the origin worker received it.
#[derive(Debug, Clone)]
pub struct RelayedPacket {
    pub track: TrackId,
    pub layer: u8,
    pub pt: Pt,
    pub codec: Codec,
    pub clock_rate: u32,
    pub seq: u64,
    pub timestamp: u32,
    pub marker: bool,
    pub arrival: Instant,
    pub ext: ExtensionValues,
    pub payload: Arc<[u8]>,
}

/// Packets are by far the most frequent message: they stay unboxed so that
/// relaying allocates nothing per packet.
#[allow(clippy::large_enum_variant)]
#[derive(Debug, Clone)]
pub enum RelayMsg {
    /// The sender now has members in this room.
    RoomJoined {
        room: RoomId,
    },
    /// The sender has no member left in this room.
    RoomLeft {
        room: RoomId,
    },
    /// Tracks of a room published on the sender; all at once when answering
    /// `RoomJoined`, so that a subscriber gets them in one offer.
    TracksAdded(Vec<RelayedTrack>),
    TrackRemoved {
        track: TrackId,
    },
    TrackMuted {
        track: TrackId,
        muted: bool,
    },
    Packet(RelayedPacket),
    /// Dynacast: the highest layer of a track the sender's subscribers need
    /// (`None`: none), sent to the origin worker when it changes.
    LayersNeeded {
        track: TrackId,
        need: Option<u8>,
    },
    /// Ask the origin worker for a keyframe of one layer.
    KeyframeRequest {
        track: TrackId,
        layer: u8,
    },
}
