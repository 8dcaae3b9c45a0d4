//! A participant on a worker: its two peer connections, the tracks it
//! publishes, and one downtrack per remote track it receives.

use rustc_hash::FxHashMap;

use str0m::change::SdpPendingOffer;
use str0m::media::{Mid, Pt};
use str0m::rtp::Ssrc;

use crate::api::{LayerRequest, MediaKind, Permissions, TrackSource};
use crate::downlink::Downlink;
use crate::forwarder::Forwarder;
use crate::ids::{ParticipantId, RoomId, TrackId};
use crate::peer::PeerKey;

/// Requests for not-yet-arrived tracks one participant may leave waiting.
pub const MAX_EARLY_REQUESTS: usize = 64;

pub struct Participant {
    pub id: ParticipantId,
    pub room: RoomId,
    pub permissions: Permissions,
    pub publish: Option<PeerKey>,
    pub subscribe: Option<PeerKey>,
    /// Own tracks, by the mid of the publishing connection.
    pub published: Vec<(Mid, TrackId)>,
    /// Sources the client named for mids of its next publish offer.
    pub pending_sources: Vec<(String, TrackSource)>,
    pub next_track_index: u32,
    /// Looked up once per subscriber per forwarded packet: a fast hash
    /// (track ids are ours, not chosen by clients).
    pub downtracks: FxHashMap<TrackId, Downtrack>,
    pub negotiation: Negotiation,
    /// Layer requests for tracks this worker does not know yet (a track
    /// published on another worker, announced by signaling before the relay
    /// reached here); applied when the track arrives.
    pub early_requests: Vec<(TrackId, LayerRequest)>,
    /// The receiving connection's estimate, loss and round trip.
    pub downlink: Downlink,
}

impl Participant {
    pub fn new(id: ParticipantId, room: RoomId, permissions: Permissions) -> Self {
        Participant {
            id,
            room,
            permissions,
            publish: None,
            subscribe: None,
            published: Vec::new(),
            pending_sources: Vec::new(),
            next_track_index: 1,
            downtracks: FxHashMap::default(),
            negotiation: Negotiation::default(),
            early_requests: Vec::new(),
            downlink: Downlink::default(),
        }
    }

    pub fn track_by_mid(&self, mid: Mid) -> Option<TrackId> {
        self.published
            .iter()
            .find(|(m, _)| *m == mid)
            .map(|(_, t)| *t)
    }

    /// Keep a request for a track not known here yet, the latest per track,
    /// at most [`MAX_EARLY_REQUESTS`] (the oldest goes first).
    pub fn keep_early_request(&mut self, track: TrackId, request: LayerRequest) {
        self.early_requests.retain(|(t, _)| *t != track);
        if self.early_requests.len() == MAX_EARLY_REQUESTS {
            self.early_requests.remove(0);
        }
        self.early_requests.push((track, request));
    }

    /// The request kept for `track` before it arrived, if any.
    pub fn take_early_request(&mut self, track: TrackId) -> Option<LayerRequest> {
        let i = self.early_requests.iter().position(|(t, _)| *t == track)?;
        Some(self.early_requests.remove(i).1)
    }

    pub fn downtrack_by_mid(&self, mid: Mid) -> Option<TrackId> {
        self.downtracks
            .iter()
            .find(|(_, d)| d.mid == Some(mid))
            .map(|(t, _)| *t)
    }
}

/// One remote track sent to this participant on its receiving connection.
pub struct Downtrack {
    pub kind: MediaKind,
    /// The m-line carrying it, once offered.
    pub mid: Option<Mid>,
    /// The subscriber accepted the m-line: media may flow.
    pub negotiated: bool,
    /// The publisher's payload type last seen and the subscriber's payload
    /// type for the same codec.
    pub pt: Option<(Pt, Pt)>,
    pub request: LayerRequest,
    /// Pinned by the subscriber: received whatever last-N says.
    pub pinned: bool,
    pub forwarder: Forwarder,
    /// The SSRC str0m sends this line with, once looked up by mid.
    pub tx_ssrc: Option<Ssrc>,
}

/// The state of the receiving connection's offer/answer exchange. The server
/// offers; only one offer is outstanding at a time.
#[derive(Default)]
pub struct Negotiation {
    pub pending: Option<(SdpPendingOffer, Vec<TrackId>)>,
    /// Tracks waiting for an m-line in the next offer.
    pub to_add: Vec<TrackId>,
    /// M-lines to turn inactive in the next offer.
    pub to_stop: Vec<Mid>,
    /// Every m-line in use and its track.
    pub lines: Vec<(Mid, TrackId)>,
}

impl Negotiation {
    pub fn has_changes(&self) -> bool {
        !self.to_add.is_empty() || !self.to_stop.is_empty()
    }
}
