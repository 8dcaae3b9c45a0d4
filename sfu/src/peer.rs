//! One str0m peer connection and the strict way to drive it: every mutation
//! is followed by a full drain of `poll_output`, and a panic or error inside
//! str0m is caught and reported instead of taking down the worker.

use std::net::SocketAddr;
use std::panic::{catch_unwind, AssertUnwindSafe};
use std::time::{Duration, Instant};

use str0m::bwe::Bitrate;
use str0m::net::Transmit;
use str0m::rtp::StreamTx;
use str0m::{Candidate, Event, Output, PacerReason, Reason, Rtc};

use crate::api::{MediaKind, PeerRole, PeerState, SfuError};
use crate::dd_extension::{self, DD_EXTENSION_ID};
use crate::ids::ParticipantId;

/// Index of a peer in the worker's peer table.
pub type PeerKey = usize;

/// Whether subscribers' downlinks are estimated (and their layers allocated
/// within the estimate) unless the worker is told otherwise
/// ([`crate::worker::Worker::set_subscriber_bwe`]).
///
/// On by default. It was off while str0m's estimate collapsed in the first
/// half second on real loopback and its pacer then held media back; video
/// is now forwarded unpaced, loss-free estimate dips no longer lower what
/// flows, and a subscriber that lacks a layer makes str0m probe for it
/// (`Downlink::probe_toward`). Estimation costs about 1.3x the CPU per
/// forwarded packet at 1 -> 350 (benches/RESULTS.md); docs/media-quality.md
/// has the figures.
pub const SUBSCRIBER_BWE: bool = true;

/// How often a subscriber's connection reports its stats (raw estimate,
/// loss, round trip) to the allocator and metrics.
pub const SUBSCRIBER_STATS_INTERVAL: Duration = Duration::from_millis(250);

/// The downlink estimate a subscriber starts with, before any feedback:
/// enough for a 720p camera's top layer (1.5 to 2 Mbit/s) and audio, so that
/// a new subscriber starts at the layer it asked for and str0m probes from
/// there.
pub const INITIAL_ESTIMATE_KBPS: u64 = 2_500;

/// Video packets each subscriber stream keeps to answer NACKs from.
const SEND_HISTORY_VIDEO: usize = 1000;

/// How long a forwarded video packet can still be resent (str0m's default).
const SEND_HISTORY_AGE: Duration = Duration::from_secs(3);

/// Above this share of a subscriber stream's bytes in the last second being
/// retransmissions, str0m drops the NACKs it has queued. Its default, 15%,
/// is reached by an honest receiver at 10 to 15% loss, just where repair
/// matters most, and by a receiver that NACKs a packet again after its
/// repair (webrtc-rs does, every 100 ms) within a second or two: repair then
/// stopped for good. Higher is not better either: after a cap drops, the
/// resends of what its queue lost keep the link congested (at 50%, behind a
/// 3 -> 1 Mbit/s drop, two cameras of three stayed paused where one did at
/// 15 or 30%). 30% repairs 20% random loss each way to under 1%
/// (docs/media-quality.md).
const RTX_RATIO_CAP: f32 = 0.3;

/// Set up a subscriber's send stream the first time media is forwarded
/// on it: written unpaced, as other SFUs forward (with BWE on, str0m's pacer
/// would hold video to 1.1x its estimate, and a start-up dip then queues
/// seconds of media; the allocator keeps what flows within the estimate),
/// and for video, the resend history and its cap.
pub fn configure_forwarded_stream(stream: &mut StreamTx, kind: MediaKind) {
    stream.set_unpaced(true);
    if kind == MediaKind::Video {
        stream.set_rtx_cache(SEND_HISTORY_VIDEO, SEND_HISTORY_AGE, Some(RTX_RATIO_CAP));
    }
}

pub struct Peer {
    pub rtc: Rtc,
    pub owner: ParticipantId,
    pub role: PeerRole,
    pub state: PeerState,
    pub created: Instant,
    /// When str0m next wants `Input::Timeout`.
    pub next_timeout: Instant,
    /// The earliest entry of this peer waiting in the worker's timer queue.
    pub scheduled: Option<Instant>,
    /// Source addresses routed to this peer.
    pub routes: Vec<SocketAddr>,
    /// Media was written since the last drain (see [`Peer::write`]).
    pub undrained: bool,
}

impl Peer {
    /// An ICE-lite peer in RTP mode whose only candidate is the worker's socket.
    /// With `bwe`, a receiving connection estimates its downlink.
    pub fn new(
        owner: ParticipantId,
        role: PeerRole,
        candidate: SocketAddr,
        bwe: bool,
        now: Instant,
    ) -> Result<Peer, SfuError> {
        let mut builder = Rtc::builder()
            .set_ice_lite(true)
            .set_rtp_mode(true)
            .set_send_buffer_video(SEND_HISTORY_VIDEO)
            // AV1 SVC: which layer each packet is, and what the receiver's
            // decoder needs to assemble what it gets.
            .set_extension(DD_EXTENSION_ID, dd_extension::extension());
        if role == PeerRole::Subscribe {
            // Loss and round trip for the metrics (and the raw estimate).
            builder = builder.set_stats_interval(Some(SUBSCRIBER_STATS_INTERVAL));
        }
        if role == PeerRole::Subscribe && bwe {
            // Estimate each subscriber's downlink from its TWCC feedback.
            builder = builder.enable_bwe(Some(Bitrate::kbps(INITIAL_ESTIMATE_KBPS)));
        }
        let mut rtc = builder.build(now);
        let candidate = Candidate::host(candidate, "udp")
            .map_err(|e| SfuError::Rejected(format!("bad local candidate: {e}")))?;
        rtc.add_local_candidate(candidate);
        Ok(Peer {
            rtc,
            owner,
            role,
            state: PeerState::Connecting,
            created: now,
            next_timeout: now,
            scheduled: None,
            routes: Vec::new(),
            undrained: false,
        })
    }

    /// Run one mutation of the peer, then drain it. Transmits go to `outbox`,
    /// events to `events` tagged with `key`. An `Err` means the peer is broken
    /// and must be dropped.
    pub fn mutate<T>(
        &mut self,
        key: PeerKey,
        outbox: &mut Vec<Transmit>,
        events: &mut Vec<(PeerKey, Event)>,
        f: impl FnOnce(&mut Rtc) -> T,
    ) -> Result<T, String> {
        let rtc = &mut self.rtc;
        let next_timeout = &mut self.next_timeout;
        let result = catch_unwind(AssertUnwindSafe(|| {
            let value = f(rtc);
            drain(rtc, key, next_timeout, outbox, events).map(|()| value)
        }));
        self.undrained = false;
        match result {
            Ok(r) => r,
            Err(panic) => Err(format!("internal error in peer: {}", panic_message(&panic))),
        }
    }

    /// Queue media on the peer (a `write_rtp`) without draining it. The
    /// worker drains every written peer once per batch of input, so a
    /// subscriber written several packets is polled once and its datagrams
    /// leave together (one GSO send). Until then nothing else may be given
    /// to the peer except through [`Peer::mutate`], which drains first.
    pub fn write<T>(&mut self, f: impl FnOnce(&mut Rtc) -> T) -> Result<T, String> {
        let rtc = &mut self.rtc;
        self.undrained = true;
        catch_unwind(AssertUnwindSafe(|| f(rtc)))
            .map_err(|panic| format!("internal error in peer: {}", panic_message(&panic)))
    }

    /// Whether the timer queue needs a new entry for this peer; if so it is
    /// recorded as scheduled. Later deadlines need none: the earlier entry
    /// fires first and is then moved.
    pub fn needs_schedule(&mut self) -> bool {
        if self.scheduled.is_some_and(|s| s <= self.next_timeout) {
            return false;
        }
        self.scheduled = Some(self.next_timeout);
        true
    }

    pub fn is_connected(&self) -> bool {
        self.state == PeerState::Connected
    }

    /// How long the peer has been trying to connect.
    pub fn connecting_for(&self, now: Instant) -> Option<Duration> {
        (self.state == PeerState::Connecting).then(|| now.saturating_duration_since(self.created))
    }
}

fn drain(
    rtc: &mut Rtc,
    key: PeerKey,
    next_timeout: &mut Instant,
    outbox: &mut Vec<Transmit>,
    events: &mut Vec<(PeerKey, Event)>,
) -> Result<(), String> {
    let mut paced = 0;
    loop {
        // A streak of media datagrams first, without a whole `Output` each.
        while let Some(t) = rtc.poll_streak_transmit() {
            outbox.push(t);
        }
        match rtc.poll_output().map_err(|e| e.to_string())? {
            Output::Timeout(t) if paced < PACER_STEPS && pacer_step(rtc) => {
                paced += 1;
                rtc.release_written(t).map_err(|e| e.to_string())?;
            }
            Output::Timeout(t) => {
                *next_timeout = t;
                return Ok(());
            }
            Output::Transmit(t) => outbox.push(t),
            Output::Event(e) => events.push((key, e)),
        }
    }
}

/// With BWE on, str0m's pacer releases one packet per `Input::Timeout` and
/// asks for the next one a microsecond later (`PacerReason::Immediate`).
/// Through the worker's timer (1 ms granularity) a subscriber's keyframe
/// would leave a packet a millisecond, each in its own send. Those steps
/// are taken here instead, up to this many per drain, so a subscriber's
/// packets leave together as they do without BWE. A step is the session's
/// part of a timeout (`Rtc::release_written`), not ICE, DTLS or statistics;
/// unpaced media needs no step per packet (vendor/str0m/PATCHES.md, 8).
const PACER_STEPS: usize = 256;

fn pacer_step(rtc: &Rtc) -> bool {
    rtc.last_timeout_reason() == Reason::Pacer(PacerReason::Immediate)
}

/// Whether the peer's deadline is its estimator's or its pacer's. With
/// estimation on, the delay controller alone asks for one every 25 ms per
/// subscriber (14,000 a second for 350). The session's paced part of a
/// timeout (`Rtc::release_written`) meets it; a whole `Input::Timeout` would
/// also walk ICE, DTLS, SCTP, reports and statistics, whose deadlines come
/// later (the reason is the soonest deadline's) and are met in their turn.
pub fn paced_deadline(rtc: &Rtc) -> bool {
    matches!(
        rtc.last_timeout_reason(),
        Reason::Pacer(_)
            | Reason::BweDelayControl
            | Reason::BweProbeControl
            | Reason::BweProbeEstimator
    )
}

fn panic_message(panic: &Box<dyn std::any::Any + Send>) -> String {
    if let Some(s) = panic.downcast_ref::<&str>() {
        s.to_string()
    } else if let Some(s) = panic.downcast_ref::<String>() {
        s.clone()
    } else {
        "panic".to_string()
    }
}
