//! The sans-IO media worker: every room, participant, track and peer of one
//! worker thread, driven by commands, datagrams and timeouts, each with the
//! time as an argument. It writes datagrams to an outbox the caller sends.
//!
//! It never blocks, locks or sleeps; the thread around it ([`crate::worker_thread`])
//! owns the socket and the clock, and tests drive it on a virtual clock.

mod allocation;
mod commands;
mod downlink_reports;
mod dynacasting;
mod media;
mod membership;
mod negotiation;
mod quality;
mod relaying;
mod room_media;

use std::collections::HashMap;

use rustc_hash::FxHashMap;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::{Duration, Instant};

use str0m::net::{Protocol, Receive, Transmit};
use str0m::{Event, IceConnectionState, Input};
use tokio::sync::mpsc;

use crate::active_speaker::SpeakerDetector;
use crate::api::{CoreEvent, MediaPolicy, PeerRole, PeerState};
use crate::audio_top_n::AudioTopN;
use crate::dynacast::Dynacast;
use crate::ids::{ParticipantId, RoomId, TrackId};
use crate::last_n::LastN;
use crate::metrics::WorkerMetrics;
use crate::participant::Participant;
use crate::peer::{paced_deadline, Peer, PeerKey};
use crate::relay::{RelayMsg, WorkerIndex};
use crate::timer_queue::TimerQueue;
use crate::track::{Origin, Track};

/// How often rooms are swept: speakers, layers that stopped, peers that never connected.
const HOUSEKEEPING_INTERVAL: Duration = Duration::from_millis(100);
/// A peer that has not connected by then is given up.
const CONNECT_TIMEOUT: Duration = Duration::from_secs(30);

/// Settings one worker needs.
#[derive(Debug, Clone)]
pub struct WorkerConfig {
    pub index: usize,
    /// How many workers there are, to tell the others about rooms.
    pub workers: usize,
    /// The address in this worker's ICE candidates: its socket as others reach it.
    pub candidate: SocketAddr,
    pub max_tracks_per_participant: usize,
}

#[derive(Default)]
pub(crate) struct Room {
    pub participants: Vec<ParticipantId>,
    pub tracks: Vec<TrackId>,
    pub speaker: SpeakerDetector,
    pub last_n: LastN,
    pub top_n: AudioTopN,
}

pub struct Worker {
    config: WorkerConfig,
    pub(crate) rooms: HashMap<RoomId, Room>,
    /// Participants and tracks are looked up per forwarded packet; their ids
    /// are ours (not chosen by clients), so a fast hash is safe.
    pub(crate) participants: FxHashMap<ParticipantId, Participant>,
    pub(crate) tracks: FxHashMap<TrackId, Track>,
    peers: Vec<Option<Peer>>,
    free_peers: Vec<PeerKey>,
    routes: HashMap<SocketAddr, PeerKey>,
    timers: TimerQueue,
    next_housekeeping: Instant,
    /// Datagrams to send, in order.
    outbox: Vec<Transmit>,
    /// Peers written media since they were last drained, how many writes,
    /// and the time of the latest (when they are drained, str0m is given
    /// this time to release what was written).
    written: Vec<PeerKey>,
    /// How many of `written` are drained (`Worker::outbox_part`).
    written_drained: usize,
    writes_pending: usize,
    written_at: Instant,
    /// str0m events waiting to be handled.
    rtc_events: Vec<(PeerKey, Event)>,
    /// Timer entries being handled (kept for its capacity).
    due_scratch: Vec<(Instant, PeerKey)>,
    /// Participants whose peer broke, to drop once the current step ends.
    failed: Vec<(ParticipantId, String)>,
    /// Messages for other workers; the caller delivers them.
    relay_outbox: Vec<(WorkerIndex, RelayMsg)>,
    /// For each room with members here, the other workers with members too:
    /// where local tracks of the room are relayed.
    room_workers: HashMap<RoomId, Vec<WorkerIndex>>,
    events: mpsc::UnboundedSender<CoreEvent>,
    metrics: Arc<WorkerMetrics>,
    /// Last-N, audio top-N and dynacast: the default, and rooms' own (kept
    /// for the life of the worker: a room id is never reused, and a room
    /// may come back here after its last local member left).
    media_policy: MediaPolicy,
    room_policies: HashMap<RoomId, MediaPolicy>,
    dynacast: Dynacast,
    /// New receiving connections estimate their downlink.
    subscriber_bwe: bool,
}

impl Worker {
    pub fn new(
        config: WorkerConfig,
        events: mpsc::UnboundedSender<CoreEvent>,
        metrics: Arc<WorkerMetrics>,
        now: Instant,
    ) -> Self {
        Worker {
            config,
            rooms: HashMap::new(),
            participants: FxHashMap::default(),
            tracks: FxHashMap::default(),
            peers: Vec::new(),
            free_peers: Vec::new(),
            routes: HashMap::new(),
            timers: TimerQueue::default(),
            next_housekeeping: now + HOUSEKEEPING_INTERVAL,
            outbox: Vec::with_capacity(1024),
            written: Vec::with_capacity(1024),
            written_drained: 0,
            writes_pending: 0,
            written_at: now,
            rtc_events: Vec::with_capacity(64),
            failed: Vec::new(),
            due_scratch: Vec::new(),
            relay_outbox: Vec::new(),
            room_workers: HashMap::new(),
            events,
            metrics,
            media_policy: MediaPolicy::default(),
            room_policies: HashMap::new(),
            dynacast: Dynacast::default(),
            subscriber_bwe: crate::peer::SUBSCRIBER_BWE,
        }
    }

    /// Whether receiving connections made from now on estimate their
    /// downlink (and layers are allocated within it); see `peer::SUBSCRIBER_BWE`.
    pub fn set_subscriber_bwe(&mut self, on: bool) {
        self.subscriber_bwe = on;
    }

    pub fn config(&self) -> &WorkerConfig {
        &self.config
    }

    /// Datagrams produced so far; the caller sends and clears them. Peers
    /// written media since their last drain are drained first, each once,
    /// so that a peer's datagrams are next to each other.
    pub fn outbox(&mut self) -> &mut Vec<Transmit> {
        self.drain_written(usize::MAX);
        &mut self.outbox
    }

    /// The outbox once at least `enough` datagrams wait in it or every
    /// written peer is drained, and whether written peers are left to drain:
    /// the caller sends and clears, then asks again while that is true. A
    /// burst written to hundreds of subscribers then starts leaving after
    /// the first few are drained instead of after the last.
    pub fn outbox_part(&mut self, enough: usize) -> (&mut Vec<Transmit>, bool) {
        let more = self.drain_written(enough);
        (&mut self.outbox, more)
    }

    /// Datagrams waiting to be sent, counting media written but not yet
    /// drained: the caller sends once this is large enough or input pauses.
    pub fn pending_sends(&self) -> usize {
        self.outbox.len() + self.writes_pending
    }

    /// Drain every peer written since its last drain. Events this raises
    /// wait for the next input's settling; failures too.
    ///
    /// str0m sends written media only once it is released (stamped at a
    /// time, as an `Input::Timeout` does), so each peer's media is released
    /// at the time of the latest write before it is drained: it leaves in
    /// this drain, instead of a drain here that sends nothing and a second
    /// one from the timer queue right after. The release is part of a
    /// timeout only (`Rtc::release_written`, a patch of ours in
    /// vendor/str0m: the send queues, and with estimation on the session's
    /// timeout); ICE, DTLS and statistics keep their own deadlines.
    ///
    /// Stops early, returning true, once `enough` datagrams wait in the
    /// outbox; the next call goes on from there.
    fn drain_written(&mut self, enough: usize) -> bool {
        let now = self.written_at;
        while let Some(&key) = self.written.get(self.written_drained) {
            if self.outbox.len() >= enough {
                return true;
            }
            self.written_drained += 1;
            // A peer drained since (by another input) has nothing left here.
            if self.peer(key).is_some_and(|p| p.undrained) {
                self.mutate_peer(key, |rtc| {
                    rtc.release_written(now).map_err(|e| e.to_string())
                });
            }
        }
        self.written.clear();
        self.written_drained = 0;
        self.writes_pending = 0;
        false
    }

    /// Messages for other workers produced so far; the caller delivers and clears them.
    pub fn relay_outbox(&mut self) -> &mut Vec<(WorkerIndex, RelayMsg)> {
        &mut self.relay_outbox
    }

    /// The earliest time the worker needs [`Worker::handle_timeout`].
    pub fn next_timeout(&self) -> Instant {
        match self.timers.next() {
            Some(t) => t.min(self.next_housekeeping),
            None => self.next_housekeeping,
        }
    }

    /// One datagram from the socket.
    pub fn handle_datagram(&mut self, now: Instant, source: SocketAddr, data: &[u8]) {
        let destination = self.config.candidate;
        let Ok(receive) = Receive::new(Protocol::Udp, source, destination, data) else {
            WorkerMetrics::add(&self.metrics.unroutable_datagrams, 1);
            return;
        };
        let input = Input::Receive(now, receive);
        let Some(key) = self.route(source, &input) else {
            WorkerMetrics::add(&self.metrics.unroutable_datagrams, 1);
            return;
        };
        self.mutate_peer(key, |rtc| {
            rtc.handle_input(input).map_err(|e| e.to_string())
        });
        self.settle(now);
    }

    /// Advance every peer whose deadline passed, and sweep on schedule.
    pub fn handle_timeout(&mut self, now: Instant) {
        // Take what is due first: a peer whose new deadline is again `now` waits
        // for the next call instead of spinning here.
        let mut due = std::mem::take(&mut self.due_scratch);
        while let Some(entry) = self.timers.pop_due(now) {
            due.push(entry);
        }
        for (at, key) in due.drain(..) {
            let Some(peer) = self.peers.get_mut(key).and_then(Option::as_mut) else {
                continue;
            };
            if peer.scheduled != Some(at) {
                continue; // stale: a newer entry exists, or the slot was reused
            }
            peer.scheduled = None;
            if peer.next_timeout > now {
                // The deadline moved later since this entry was made.
                if peer.needs_schedule() {
                    self.timers.push(peer.next_timeout, key);
                }
                continue;
            }
            WorkerMetrics::add(&self.metrics.peer_timeouts, 1);
            self.mutate_peer(key, |rtc| {
                if paced_deadline(rtc) {
                    rtc.release_written(now)
                } else {
                    rtc.handle_input(Input::Timeout(now))
                }
                .map_err(|e| e.to_string())
            });
        }
        self.due_scratch = due;
        if now >= self.next_housekeeping {
            self.next_housekeeping = now + HOUSEKEEPING_INTERVAL;
            self.housekeeping(now);
        }
        self.settle(now);
    }

    /// Find the peer a datagram belongs to: by source address once known, by
    /// ICE credentials (STUN) before.
    fn route(&mut self, source: SocketAddr, input: &Input) -> Option<PeerKey> {
        if let Some(&key) = self.routes.get(&source) {
            if let Some(peer) = self.peers.get(key).and_then(Option::as_ref) {
                if peer.rtc.accepts(input) {
                    return Some(key);
                }
            }
        }
        let key = self
            .peers
            .iter()
            .position(|p| p.as_ref().is_some_and(|p| p.rtc.accepts(input)))?;
        if let Some(old) = self.routes.insert(source, key) {
            if let Some(peer) = self.peers.get_mut(old).and_then(Option::as_mut) {
                peer.routes.retain(|a| *a != source);
            }
        }
        if let Some(peer) = self.peers[key].as_mut() {
            peer.routes.push(source);
        }
        Some(key)
    }

    pub(crate) fn insert_peer(&mut self, peer: Peer) -> PeerKey {
        match self.free_peers.pop() {
            Some(key) => {
                self.peers[key] = Some(peer);
                key
            }
            None => {
                self.peers.push(Some(peer));
                self.peers.len() - 1
            }
        }
    }

    /// Close a peer politely, send what it says on closing, and forget it.
    pub(crate) fn remove_peer(&mut self, key: PeerKey) {
        let Some(mut peer) = self.peers.get_mut(key).and_then(Option::take) else {
            return;
        };
        let mut scratch = Vec::new();
        let _ = peer.mutate(key, &mut self.outbox, &mut scratch, |rtc| rtc.close());
        for addr in peer.routes {
            if self.routes.get(&addr) == Some(&key) {
                self.routes.remove(&addr);
            }
        }
        self.rtc_events.retain(|(k, _)| *k != key);
        self.free_peers.push(key);
    }

    /// Run a mutation on a peer and drain it; a broken peer fails its participant.
    pub(crate) fn mutate_peer<T>(
        &mut self,
        key: PeerKey,
        f: impl FnOnce(&mut str0m::Rtc) -> Result<T, String>,
    ) -> Option<T> {
        let peer = self.peers.get_mut(key)?.as_mut()?;
        let result = peer.mutate(key, &mut self.outbox, &mut self.rtc_events, f);
        let owner = peer.owner;
        if peer.needs_schedule() {
            self.timers.push(peer.next_timeout, key);
        }
        match result {
            Ok(Ok(v)) => Some(v),
            Ok(Err(e)) | Err(e) => {
                if e.contains("internal error") {
                    WorkerMetrics::add(&self.metrics.peer_panics, 1);
                }
                self.failed.push((owner, e));
                None
            }
        }
    }

    /// Handle every str0m event raised so far, then drop failed participants.
    fn settle(&mut self, now: Instant) {
        loop {
            if !self.rtc_events.is_empty() {
                let mut events = std::mem::take(&mut self.rtc_events);
                for (key, event) in events.drain(..) {
                    self.on_rtc_event(key, event, now);
                }
                if self.rtc_events.is_empty() {
                    self.rtc_events = events; // keep the capacity
                }
                continue;
            }
            let Some((participant, reason)) = self.failed.pop() else {
                break;
            };
            if self.participants.contains_key(&participant) {
                tracing::info!(%participant, %reason, "dropping participant whose peer failed");
                self.remove_participant(participant, now);
                self.emit(CoreEvent::ParticipantFailed {
                    participant,
                    reason,
                });
            }
        }
    }

    fn on_rtc_event(&mut self, key: PeerKey, event: Event, now: Instant) {
        let Some(peer) = self.peers.get_mut(key).and_then(Option::as_mut) else {
            return;
        };
        let (owner, role) = (peer.owner, peer.role);
        match event {
            Event::Connected => {
                peer.state = PeerState::Connected;
                self.emit(CoreEvent::PeerState {
                    participant: owner,
                    role,
                    state: PeerState::Connected,
                });
                self.update_gauges();
                self.request_awaited_keyframes(owner, now);
            }
            Event::IceConnectionStateChange(IceConnectionState::Disconnected) => {
                peer.state = PeerState::Disconnected;
                self.emit(CoreEvent::PeerState {
                    participant: owner,
                    role,
                    state: PeerState::Disconnected,
                });
                self.failed
                    .push((owner, format!("{role:?} connection lost (ICE timeout)")));
            }
            Event::Closed => {
                self.failed
                    .push((owner, format!("{role:?} connection closed by the peer")));
            }
            Event::MediaAdded(added) => self.publish_line(key, added.mid, now),
            Event::MediaChanged(changed) => self.on_media_changed(key, changed, now),
            Event::RtpPacket(packet) => self.on_rtp(key, packet, now),
            Event::KeyframeRequest(request) => self.on_keyframe_request(key, request, now),
            Event::EgressBitrateEstimate(kind) if role == PeerRole::Subscribe => {
                self.on_downlink_estimate(owner, kind, now)
            }
            Event::PeerStats(stats) if role == PeerRole::Subscribe => {
                self.on_downlink_stats(owner, &stats, now)
            }
            _ => {}
        }
    }

    fn housekeeping(&mut self, now: Instant) {
        let stale: Vec<ParticipantId> = self
            .peers
            .iter()
            .flatten()
            .filter(|p| p.connecting_for(now).is_some_and(|d| d > CONNECT_TIMEOUT))
            .map(|p| p.owner)
            .collect();
        for owner in stale {
            self.failed
                .push((owner, "connection not established in time".to_string()));
        }
        let mut speakers = Vec::new();
        for (id, room) in &mut self.rooms {
            if let Some(who) = room.speaker.tick(now) {
                speakers.push((*id, who));
            }
        }
        for &(room, who) in &speakers {
            self.emit(CoreEvent::ActiveSpeaker {
                room,
                participant: Some(who),
            });
        }
        self.update_room_media(&speakers, now);
        let everyone: Vec<ParticipantId> = self.participants.keys().copied().collect();
        for p in everyone {
            self.reallocate(p, now);
        }
        self.update_dynacast(now);
        self.update_quality_gauges(now);
        self.update_gauges();
    }

    pub(crate) fn update_gauges(&self) {
        let m = &self.metrics;
        WorkerMetrics::set(&m.rooms, self.rooms.len() as u64);
        WorkerMetrics::set(&m.participants, self.participants.len() as u64);
        let local = self
            .tracks
            .values()
            .filter(|t| matches!(t.origin, Origin::Local { .. }));
        WorkerMetrics::set(&m.published_tracks, local.count() as u64);
        let peers = self.peers.iter().flatten();
        let (mut connecting, mut connected) = (0, 0);
        for p in peers {
            match p.state {
                PeerState::Connecting => connecting += 1,
                PeerState::Connected => connected += 1,
                _ => {}
            }
        }
        WorkerMetrics::set(&m.peers_connecting, connecting);
        WorkerMetrics::set(&m.peers_connected, connected);
    }

    pub(crate) fn emit(&self, event: CoreEvent) {
        let _ = self.events.send(event);
    }

    pub(crate) fn peer(&self, key: PeerKey) -> Option<&Peer> {
        self.peers.get(key).and_then(Option::as_ref)
    }

    pub(crate) fn peer_count(&self) -> usize {
        self.peers.iter().flatten().count()
    }

    pub(crate) fn route_count(&self) -> usize {
        self.routes.len()
    }
}
