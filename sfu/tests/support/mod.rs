//! A virtual network and str0m client peers around one sans-IO worker, on a
//! virtual clock: whole calls run in milliseconds, deterministically.

#![allow(dead_code, clippy::needless_range_loop)]

pub mod av1;
mod capture;
mod net;
pub mod vp9;
pub use net::{Link, LinkConfig, Rng};

use std::collections::{HashMap, VecDeque};
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::{Duration, Instant};

use relais_sfu::api::*;
use relais_sfu::dd_extension::{self, DdBytes, DD_EXTENSION_ID};
use relais_sfu::ids::{ParticipantId, RoomId, TrackId};
use relais_sfu::metrics::WorkerMetrics;
use relais_sfu::worker::{Worker, WorkerConfig};
use str0m::change::{SdpAnswer, SdpOffer, SdpPendingOffer};
use str0m::format::Codec as Str0mCodec;
use str0m::media::{Direction, MediaKind as Str0mKind, Mid, Rid, Simulcast, SimulcastLayer};
use str0m::net::{Protocol, Receive};
use str0m::rtp::{ExtensionValues, RtpWrite, SeqNo};
use str0m::{Candidate, Event, Input, Output, Rtc};
use tokio::sync::{mpsc, oneshot};

use net::InFlight;

/// The finest step the world takes between two timer firings of a worker.
const MIN_TIMER: Duration = Duration::from_micros(100);

/// Publishers send a frame of each layer every this many milliseconds.
const FRAME_MS: u64 = 35;

/// A browser's pacer sends at this multiple of its target bitrate
/// (libwebrtc's `kDefaultPaceMultiplier`), so a frame takes about 40% of
/// the frame interval to leave.
const PACING_FACTOR: f64 = 2.5;

/// Worker `i` listens at 10.0.0.1:5000+i.
pub fn worker_addr(i: usize) -> SocketAddr {
    SocketAddr::from(([10, 0, 0, 1], 5000 + i as u16))
}
pub const RIDS: [&str; 3] = ["q", "h", "f"];
pub const SIZES: [(u16, u16); 3] = [(320, 180), (640, 360), (1280, 720)];

/// One received RTP packet, as a test inspects it.
#[derive(Debug, Clone)]
pub struct Received {
    pub at: Instant,
    pub mid: Mid,
    pub ssrc: u32,
    pub seq: u64,
    pub timestamp: u32,
    pub layer: u8,
    pub keyframe: bool,
    pub picture_id: Option<u16>,
    pub tl0_pic_idx: Option<u8>,
    /// Temporal layer (VP8: TID and Y; VP9: TID and U), when the
    /// descriptor has one.
    pub temporal: Option<relais_sfu::codec::Temporal>,
    /// The first packet of a frame (VP8 S=1, partition 0; VP9 B=1).
    pub starts_frame: bool,
    pub marker: bool,
    /// VP9: the spatial layer (SID) and whether the packet ends its layer
    /// frame (E).
    pub spatial: Option<relais_sfu::codec::Spatial>,
    /// The dependency descriptor's bytes, when the packet had one.
    pub dd: Option<Vec<u8>>,
}

pub struct Client {
    pub id: ParticipantId,
    /// The worker this client is placed on.
    pub worker: usize,
    pub addr: SocketAddr,
    pub publish: Option<Rtc>,
    pub subscribe: Option<Rtc>,
    pub sub_addr: SocketAddr,
    /// Keyframe requests the publisher received, by rid.
    pub keyframe_requests: Vec<(Instant, Option<Rid>)>,
    pub received: Vec<Received>,
    /// mid of the subscribe connection → track.
    pub lines: HashMap<Mid, TrackId>,
    pub video_mid: Option<Mid>,
    pub audio_mid: Option<Mid>,
    /// Audio level sent in every audio packet, in dBov (-127 is silence).
    pub voice_level: i8,
    /// The video codec this client publishes.
    pub codec: Str0mCodec,
    /// VP8 packets per frame and payload bytes per packet, for each layer.
    pub layer_packets: [(usize, usize); 3],
    /// Publish VP8 with three temporal layers per simulcast layer, as
    /// Chromium sends L1T3 ([`L1T3_TIDS`]).
    pub l1t3: bool,
    /// Publish VP9 SVC without simulcast, as Chromium sends `L3T3_KEY`
    /// ([`vp9::vp9_picture`]); `layer_packets` then gives each spatial
    /// layer's frame.
    pub svc: bool,
    /// Publish AV1 SVC with dependency descriptors, as Chromium sends
    /// `L3T3_KEY` ([`av1::av1_picture`]); `layer_packets` gives each
    /// spatial layer's frame.
    pub av1: bool,
    /// The next AV1 frame number.
    frame_number: u16,
    /// Frames since the last keyframe and TL0PICIDX, per simulcast layer.
    tl_frame: [u64; 3],
    tl0: [u8; 3],
    /// What the published video line is (a camera unless set).
    pub video_source: Option<TrackSource>,
    /// Pace the published video as a browser does (see [`World::pace`]);
    /// on unless a test turns it off.
    pub paced: bool,
    /// When the publisher's pacer may send its next video packet.
    pace_free: Option<Instant>,
    /// The published audio's payload type (audio is not paced).
    audio_pt: Option<u8>,
    /// A receiver that sends no transport-wide feedback (its answer lacks
    /// the TWCC extension) but reports this REMB every half second.
    pub remb_only: Option<u64>,
    remb_due: Option<Instant>,
    pending: Option<SdpPendingOffer>,
    force_key: [bool; 3],
    step: u64,
    seq: [u64; 4],
}

pub struct World {
    pub now: Instant,
    /// Worker 0; the others of a multi-worker world are in `extra`.
    pub worker: Worker,
    pub extra: Vec<Worker>,
    pub events: mpsc::UnboundedReceiver<CoreEvent>,
    pub seen: Vec<CoreEvent>,
    pub clients: Vec<Client>,
    to_worker: VecDeque<(SocketAddr, SocketAddr, Vec<u8>)>,
    pub metrics: Arc<WorkerMetrics>,
    /// Drop every n-th SRTP datagram sent to (or from) this address.
    pub loss: Vec<(SocketAddr, u64)>,
    /// Addresses whose datagrams vanish both ways.
    pub gone: Vec<SocketAddr>,
    srtp_count: u64,
    /// Datagrams the simulated network dropped for `loss`.
    pub lost: u64,
    /// Datagrams delivered to each client address.
    pub delivered: HashMap<SocketAddr, u64>,
    /// Simulated links toward a client address (downlinks) and from it
    /// (uplinks); an address without one has a perfect link.
    pub downlinks: HashMap<SocketAddr, Link>,
    pub uplinks: HashMap<SocketAddr, Link>,
    /// Draws the links' random loss, jitter and reordering.
    pub rng: Rng,
    in_flight: InFlight,
    /// Publishers' video packets held by their pacers, by send time.
    paced: InFlight,
}

impl World {
    pub fn new() -> World {
        World::with_workers(1)
    }

    /// A world whose media core has `n` workers, all in one room's reach.
    pub fn with_workers(n: usize) -> World {
        let now = Instant::now();
        let (tx, rx) = mpsc::unbounded_channel();
        let metrics = Arc::new(WorkerMetrics::default());
        let mut workers: Vec<Worker> = (0..n)
            .map(|index| {
                let config = WorkerConfig {
                    index,
                    workers: n,
                    candidate: worker_addr(index),
                    max_tracks_per_participant: 8,
                };
                let mut worker = Worker::new(config, tx.clone(), metrics.clone(), now);
                // Downlink estimation is off by default (see the note on
                // `SUBSCRIBER_BWE`); the virtual world runs with it.
                worker.set_subscriber_bwe(true);
                worker
            })
            .collect();
        let first = workers.remove(0);
        World {
            now,
            worker: first,
            extra: workers,
            events: rx,
            seen: Vec::new(),
            clients: Vec::new(),
            to_worker: VecDeque::new(),
            metrics,
            loss: Vec::new(),
            gone: Vec::new(),
            srtp_count: 0,
            lost: 0,
            delivered: HashMap::new(),
            downlinks: HashMap::new(),
            uplinks: HashMap::new(),
            rng: Rng::new(0x5eed),
            in_flight: InFlight::default(),
            paced: InFlight::default(),
        }
    }

    /// Shape both directions of the link of a client address.
    pub fn set_link(&mut self, addr: SocketAddr, down: LinkConfig, up: LinkConfig) {
        self.downlinks.entry(addr).or_default().config = down;
        self.uplinks.entry(addr).or_default().config = up;
    }

    /// Change the bandwidth cap toward a client address (`None`: no cap).
    pub fn set_downlink_rate(&mut self, addr: SocketAddr, rate_bps: Option<u64>) {
        self.downlinks.entry(addr).or_default().config.rate_bps = rate_bps;
    }

    pub fn worker_mut(&mut self, i: usize) -> &mut Worker {
        if i == 0 {
            &mut self.worker
        } else {
            &mut self.extra[i - 1]
        }
    }

    pub fn worker_count(&self) -> usize {
        1 + self.extra.len()
    }

    /// A command to worker 0.
    pub fn call<T>(&mut self, make: impl FnOnce(oneshot::Sender<T>) -> Command) -> T {
        self.call_on(0, make)
    }

    pub fn call_on<T>(
        &mut self,
        worker: usize,
        make: impl FnOnce(oneshot::Sender<T>) -> Command,
    ) -> T {
        let (tx, mut rx) = oneshot::channel();
        let now = self.now;
        self.worker_mut(worker).handle_command(now, make(tx));
        let v = rx.try_recv().expect("worker replies at once");
        self.pump();
        v
    }

    /// Client `c` asks for a layer of a track, on the worker it is placed on.
    pub fn subscribe(
        &mut self,
        c: usize,
        track: TrackId,
        request: LayerRequest,
    ) -> Result<(), SfuError> {
        let (participant, worker) = (self.clients[c].id, self.clients[c].worker);
        self.call_on(worker, |reply| Command::Subscribe {
            participant,
            track,
            request,
            reply,
        })
    }

    /// Join a client to room 1 on worker 0; returns its index.
    pub fn join(&mut self, can_publish: bool) -> usize {
        self.join_on(0, can_publish)
    }

    /// Join a client to room 1 on a given worker; returns its index.
    pub fn join_on(&mut self, worker: usize, can_publish: bool) -> usize {
        let n = self.clients.len() as u64 + 1;
        let id = ParticipantId(n);
        let permissions = Permissions {
            can_publish,
            can_subscribe: true,
        };
        self.call_on(worker, |reply| Command::AddParticipant {
            room: RoomId(1),
            participant: id,
            permissions,
            reply,
        })
        .unwrap();
        self.clients.push(Client {
            id,
            worker,
            addr: SocketAddr::from(([10, 1, (n >> 8) as u8, n as u8], 6000)),
            sub_addr: SocketAddr::from(([10, 2, (n >> 8) as u8, n as u8], 6000)),
            publish: None,
            subscribe: None,
            keyframe_requests: Vec::new(),
            received: Vec::new(),
            lines: HashMap::new(),
            video_mid: None,
            audio_mid: None,
            voice_level: -127,
            codec: Str0mCodec::Vp8,
            pending: None,
            layer_packets: DEFAULT_LAYER_PACKETS,
            l1t3: false,
            svc: false,
            av1: false,
            frame_number: 65000,
            tl_frame: [0; 3],
            tl0: [0; 3],
            video_source: None,
            paced: true,
            pace_free: None,
            audio_pt: None,
            remb_only: None,
            remb_due: None,
            force_key: [true; 3],
            step: 0,
            seq: [1, 1, 1, 1],
        });
        self.pump();
        self.clients.len() - 1
    }

    /// Offer simulcast VP8 (3 layers) and audio from client `c`.
    pub fn publish(&mut self, c: usize) -> Result<PublishAnswer, SfuError> {
        let svc = self.clients[c].svc;
        let builder = match self.clients[c].codec {
            Str0mCodec::H264 => Rtc::builder()
                .clear_codecs()
                .enable_h264(true)
                .enable_opus(true, false),
            _ if svc => Rtc::builder()
                .clear_codecs()
                .enable_vp9(true)
                .enable_opus(true, false),
            _ if self.clients[c].av1 => Rtc::builder()
                .clear_codecs()
                .enable_av1(true)
                .enable_opus(true, false)
                .set_extension(DD_EXTENSION_ID, dd_extension::extension()),
            _ => Rtc::builder(),
        };
        let mut rtc = builder.set_rtp_mode(true).build(self.now);
        rtc.add_local_candidate(Candidate::host(self.clients[c].addr, "udp").unwrap());
        let mut api = rtc.sdp_api();
        let svc = svc || self.clients[c].av1;
        let simulcast = (!svc).then(|| Simulcast {
            send: RIDS.iter().map(|r| SimulcastLayer::new(r)).collect(),
            recv: vec![],
        });
        let video = api.add_media(Str0mKind::Video, Direction::SendOnly, None, None, simulcast);
        let audio = api.add_media(Str0mKind::Audio, Direction::SendOnly, None, None, None);
        let (offer, pending) = api.apply().unwrap();
        let id = self.clients[c].id;
        let sdp = offer.to_sdp_string();
        let worker = self.clients[c].worker;
        let sources = match self.clients[c].video_source {
            Some(source) => vec![(video.to_string(), source)],
            None => vec![],
        };
        let answer = self.call_on(worker, |reply| Command::PublishOffer {
            participant: id,
            sdp,
            sources,
            reply,
        })?;
        rtc.sdp_api()
            .accept_answer(pending, SdpAnswer::from_sdp_string(&answer.sdp).unwrap())
            .unwrap();
        let client = &mut self.clients[c];
        client.audio_pt = rtc
            .codec_config()
            .find(|p| p.spec().codec == Str0mCodec::Opus)
            .map(|p| *p.pt());
        client.publish = Some(rtc);
        client.video_mid = Some(video);
        client.audio_mid = Some(audio);
        self.pump();
        Ok(answer)
    }

    /// Deliver datagrams and events until the network is quiet.
    pub fn pump(&mut self) {
        for _ in 0..1000 {
            let mut busy = false;
            while let Ok(e) = self.events.try_recv() {
                busy = true;
                self.on_event(e);
            }
            for w in 0..self.worker_count() {
                let out: Vec<_> = self.worker_mut(w).outbox().drain(..).collect();
                for t in out {
                    busy = true;
                    self.toward_client(t.destination, t.source, &t.contents);
                    // As the worker thread does once a datagram is sent.
                    str0m::recycle_datagram(t.contents);
                }
                let relayed: Vec<_> = self.worker_mut(w).relay_outbox().drain(..).collect();
                for (to, msg) in relayed {
                    busy = true;
                    let now = self.now;
                    self.worker_mut(to).handle_relay(now, w, msg);
                }
            }
            for c in 0..self.clients.len() {
                busy |= self.drain_client(c);
            }
            while let Some((from, to, data)) = self.to_worker.pop_front() {
                busy = true;
                match self.pace(from, &data) {
                    Some(at) => self.paced.push(at, from, to, data),
                    None => self.toward_worker(from, to, data),
                }
            }
            while let Some(f) = self.paced.pop_due(self.now) {
                busy = true;
                self.toward_worker(f.from, f.to, f.data);
            }
            while let Some(f) = self.in_flight.pop_due(self.now) {
                busy = true;
                if (0..self.worker_count()).any(|w| worker_addr(w) == f.to) {
                    self.arrive_at_worker(f.from, f.to, &f.data);
                } else {
                    self.arrive_at_client(f.to, f.from, &f.data);
                }
            }
            if !busy {
                return;
            }
        }
        panic!("network never went quiet");
    }

    /// A datagram leaves a client for a worker: lost, shaped by the
    /// client's uplink, or delivered at once.
    fn toward_worker(&mut self, from: SocketAddr, to: SocketAddr, data: Vec<u8>) {
        if self.dropped(from, &data) {
            return;
        }
        match self.uplinks.get_mut(&from) {
            Some(link) if !link.config.is_perfect() => {
                if let Some(at) = link.admit(self.now, &data, &mut self.rng) {
                    self.in_flight.push(at, from, to, data);
                }
            }
            _ => self.arrive_at_worker(from, to, &data),
        }
    }

    /// A publisher's pacer, as browsers have one: the packets of a frame
    /// leave spread over time at [`PACING_FACTOR`] times the video's
    /// bitrate, not all at once (libwebrtc's `PacingController`). Audio and
    /// RTCP are not held. Returns when a held video packet leaves, or
    /// `None` when it leaves now.
    fn pace(&mut self, from: SocketAddr, data: &[u8]) -> Option<Instant> {
        let now = self.now;
        let client = self.clients.iter_mut().find(|c| c.addr == from)?;
        let rtp =
            data.len() > 12 && (0x80..0xc0).contains(&data[0]) && !(200..=206).contains(&data[1]);
        if !client.paced || !rtp || Some(data[1] & 0x7f) == client.audio_pt {
            return None;
        }
        // Video bits per frame (payload, RTP/SRTP and IP/UDP headers).
        let frame_bits: u64 = client
            .layer_packets
            .iter()
            .map(|&(n, size)| (n * (size + 60) * 8) as u64)
            .sum();
        let rate = PACING_FACTOR * frame_bits as f64 * 1000.0 / FRAME_MS as f64;
        let send = client.pace_free.map_or(now, |t| t.max(now));
        let bits = ((data.len() + 28) * 8) as f64;
        client.pace_free = Some(send + Duration::from_secs_f64(bits / rate));
        (send > now).then_some(send)
    }

    fn on_event(&mut self, e: CoreEvent) {
        if let CoreEvent::SubscriberOffer {
            participant,
            sdp,
            tracks,
        } = &e
        {
            let c = self
                .clients
                .iter()
                .position(|c| c.id == *participant)
                .unwrap();
            let now = self.now;
            let client = &mut self.clients[c];
            let remb_only = client.remb_only.is_some();
            let rtc = client.subscribe.get_or_insert_with(|| {
                let mut builder = Rtc::builder().set_rtp_mode(true);
                if remb_only {
                    builder = builder.set_extension_map(without_twcc());
                }
                let builder = builder.set_extension(DD_EXTENSION_ID, dd_extension::extension());
                let mut rtc = builder.build(now);
                rtc.add_local_candidate(Candidate::host(client.sub_addr, "udp").unwrap());
                rtc
            });
            let answer = rtc
                .sdp_api()
                .accept_offer(SdpOffer::from_sdp_string(sdp).unwrap())
                .unwrap();
            client.drain(Side::Subscribe, now, &mut self.to_worker);
            for t in tracks {
                client.lines.insert(Mid::from(t.mid.as_str()), t.track);
            }
            let id = *participant;
            let sdp = answer.to_sdp_string();
            self.seen.push(e);
            let (tx, mut rx) = oneshot::channel();
            let worker = self.clients[c].worker;
            let now = self.now;
            self.worker_mut(worker).handle_command(
                now,
                Command::SubscriberAnswer {
                    participant: id,
                    sdp,
                    reply: tx,
                },
            );
            rx.try_recv().unwrap().expect("answer accepted");
            return;
        }
        self.seen.push(e);
    }

    /// Whether the simulated network loses this datagram.
    fn dropped(&mut self, addr: SocketAddr, data: &[u8]) -> bool {
        if self.gone.contains(&addr) {
            return true;
        }
        let is_rtp =
            data.len() > 12 && (0x80..0xc0).contains(&data[0]) && !(200..=206).contains(&data[1]);
        let Some(&(_, n)) = self.loss.iter().find(|(a, _)| *a == addr) else {
            return false;
        };
        if !is_rtp {
            return false;
        }
        self.srtp_count += 1;
        let drop = self.srtp_count.is_multiple_of(n);
        self.lost += drop as u64;
        drop
    }

    fn arrive_at_worker(&mut self, from: SocketAddr, to: SocketAddr, data: &[u8]) {
        let now = self.now;
        let w = (0..self.worker_count())
            .find(|w| worker_addr(*w) == to)
            .expect("a worker address");
        self.worker_mut(w).handle_datagram(now, from, data);
    }

    /// A datagram leaves a worker for a client: lost, shaped by the client's
    /// downlink, or delivered at once.
    fn toward_client(&mut self, to: SocketAddr, from: SocketAddr, data: &[u8]) {
        if self.dropped(to, data) {
            return;
        }
        match self.downlinks.get_mut(&to) {
            Some(link) if !link.config.is_perfect() => {
                if let Some(at) = link.admit(self.now, data, &mut self.rng) {
                    self.in_flight.push(at, from, to, data.to_vec());
                }
            }
            _ => self.arrive_at_client(to, from, data),
        }
    }

    fn arrive_at_client(&mut self, to: SocketAddr, from: SocketAddr, data: &[u8]) {
        *self.delivered.entry(to).or_default() += 1;
        let now = self.now;
        for client in &mut self.clients {
            let (rtc, side) = if client.addr == to {
                (client.publish.as_mut(), Side::Publish)
            } else if client.sub_addr == to {
                (client.subscribe.as_mut(), Side::Subscribe)
            } else {
                continue;
            };
            if let Some(rtc) = rtc {
                let r = Receive::new(Protocol::Udp, from, to, data).unwrap();
                rtc.handle_input(Input::Receive(now, r)).unwrap();
                client.drain(side, now, &mut self.to_worker);
            }
            return;
        }
    }

    fn drain_client(&mut self, c: usize) -> bool {
        let now = self.now;
        let client = &mut self.clients[c];
        let before = self.to_worker.len();
        client.drain(Side::Publish, now, &mut self.to_worker);
        client.drain(Side::Subscribe, now, &mut self.to_worker);
        self.to_worker.len() > before
    }

    /// Advance the clock by `d` in steps of 5 ms; publishers send a frame per
    /// layer every 35 ms and audio every 20 ms. Between steps, datagrams on
    /// shaped links arrive and worker timers fire at their own times.
    pub fn run(&mut self, d: Duration) {
        self.run_with(d, &mut (), |_, _| {}, |w, c, _| w.send_media(c));
    }

    /// [`World::run`] with the test's own steps: `begin` at every 5 ms
    /// step, `publish` for each client in place of `send_media`; `state` is
    /// what both share.
    pub fn run_with<S>(
        &mut self,
        d: Duration,
        state: &mut S,
        begin: fn(&mut World, &mut S),
        publish: fn(&mut World, usize, &mut S),
    ) {
        let end = self.now + d;
        while self.now < end {
            let tick = self.now + Duration::from_millis(5);
            // Datagrams in flight arrive at their own times between steps,
            // and the workers' timers fire at theirs: str0m's pacer and
            // bandwidth probes need real send times (at 5 ms steps the
            // subscriber estimate decayed).
            loop {
                let mut next = match (self.in_flight.next_at(), self.paced.next_at()) {
                    (Some(a), Some(b)) => Some(a.min(b)),
                    (a, b) => a.or(b),
                };
                for w in 0..self.worker_count() {
                    // A deadline already passed waits for the step (no spinning).
                    let t = self.worker_mut(w).next_timeout().max(self.now + MIN_TIMER);
                    next = Some(next.map_or(t, |n| n.min(t)));
                }
                let Some(at) = next.filter(|at| *at < tick) else {
                    break;
                };
                self.now = self.now.max(at);
                for w in 0..self.worker_count() {
                    if self.worker_mut(w).next_timeout() <= self.now {
                        let now = self.now;
                        self.worker_mut(w).handle_timeout(now);
                    }
                }
                self.pump();
            }
            self.now = tick;
            let now = self.now;
            begin(self, state);
            for c in 0..self.clients.len() {
                let client = &mut self.clients[c];
                for side in [Side::Publish, Side::Subscribe] {
                    let rtc = match side {
                        Side::Publish => client.publish.as_mut(),
                        Side::Subscribe => client.subscribe.as_mut(),
                    };
                    if let Some(rtc) = rtc {
                        rtc.handle_input(Input::Timeout(now)).unwrap();
                        client.drain(side, now, &mut self.to_worker);
                    }
                }
                publish(self, c, state);
                self.send_remb(c);
            }
            for w in 0..self.worker_count() {
                self.worker_mut(w).handle_timeout(now);
            }
            self.pump();
        }
    }

    /// A REMB-only receiver reports its bitrate on every video stream.
    fn send_remb(&mut self, c: usize) {
        let now = self.now;
        let client = &mut self.clients[c];
        let (Some(bps), Some(rtc)) = (client.remb_only, client.subscribe.as_mut()) else {
            return;
        };
        if client.remb_due.is_some_and(|t| t > now) {
            return;
        }
        client.remb_due = Some(now + Duration::from_millis(500));
        let mids: Vec<Mid> = client.lines.keys().copied().collect();
        for mid in mids {
            if let Some(rx) = rtc.direct_api().stream_rx_by_mid(mid, None) {
                rx.request_remb(str0m::bwe::Bitrate::bps(bps));
            }
        }
        client.drain(Side::Subscribe, now, &mut self.to_worker);
    }

    fn send_media(&mut self, c: usize) {
        self.send_media_layers(c, 0b111);
    }

    /// As `send_media`, only the simulcast layers in the mask `sending`
    /// (a publisher obeying dynacast); video packets sent per layer.
    fn send_media_layers(&mut self, c: usize, sending: u8) -> [u64; 3] {
        let mut sent = [0; 3];
        let now = self.now;
        let client = &mut self.clients[c];
        let (Some(rtc), Some(video), Some(audio)) =
            (client.publish.as_mut(), client.video_mid, client.audio_mid)
        else {
            return sent;
        };
        if !rtc.is_connected() {
            return sent;
        }
        client.step += 1;
        let step = client.step; // counts 5 ms steps
        let codec = if client.svc {
            Str0mCodec::Vp9
        } else if client.av1 {
            Str0mCodec::Av1
        } else {
            client.codec
        };
        let video_pt = rtc
            .codec_config()
            .find(|p| p.spec().codec == codec)
            .unwrap()
            .pt();
        let opus = rtc
            .codec_config()
            .find(|p| p.spec().codec == Str0mCodec::Opus)
            .unwrap()
            .pt();
        let mut writes: Vec<(Mid, Option<Rid>, RtpWrite)> = Vec::new();
        if step.is_multiple_of(4) {
            let seq = client.seq[3];
            client.seq[3] += 1;
            let payload = vec![0xf8, 0xff, 0xfe, 255, 0, 0, 0, 0];
            let ext = ExtensionValues {
                audio_level: Some(client.voice_level),
                voice_activity: Some(client.voice_level > -60),
                ..Default::default()
            };
            let write = RtpWrite::new(opus, SeqNo::from(seq), (step * 240) as u32, now, payload)
                .ext_vals(ext);
            writes.push((audio, None, write));
        }
        if step.is_multiple_of(7) && client.svc {
            let frame = step / 7;
            if sending & 1 != 0 {
                let key = std::mem::take(&mut client.force_key[0]) || frame % 90 == 1;
                if key {
                    client.tl_frame[0] = 0;
                }
                let tid = vp9::L3T3_TIDS[(client.tl_frame[0] % 4) as usize];
                client.tl_frame[0] += 1;
                if tid == 0 {
                    client.tl0[0] = client.tl0[0].wrapping_add(1);
                }
                let picture = vp9::Picture {
                    picture_id: frame as u16,
                    tl0_pic_idx: client.tl0[0],
                    tid,
                    key,
                };
                for (payload, marker) in vp9::vp9_picture(picture, client.layer_packets) {
                    let seq = client.seq[0];
                    client.seq[0] += 1;
                    let ts = (frame as u32) * 3000;
                    let write = RtpWrite::new(video_pt, SeqNo::from(seq), ts, now, payload)
                        .marker(marker)
                        .nackable(true);
                    writes.push((video, None, write));
                    sent[0] += 1;
                }
            }
        } else if step.is_multiple_of(7) && client.av1 {
            let frame = step / 7;
            if sending & 1 != 0 {
                let key = std::mem::take(&mut client.force_key[0]) || frame % 90 == 1;
                if key {
                    client.tl_frame[0] = 0;
                }
                let picture = av1::Picture {
                    since_key: client.tl_frame[0],
                    frame_number: client.frame_number,
                };
                client.tl_frame[0] += 1;
                client.frame_number = client.frame_number.wrapping_add(3);
                for (payload, marker, dd) in av1::av1_picture(picture, client.layer_packets) {
                    let seq = client.seq[0];
                    client.seq[0] += 1;
                    let ts = (frame as u32) * 3000;
                    let mut ext = ExtensionValues::default();
                    ext.user_values.set(DdBytes::new(&dd).expect("short"));
                    let write = RtpWrite::new(video_pt, SeqNo::from(seq), ts, now, payload)
                        .marker(marker)
                        .nackable(true)
                        .ext_vals(ext);
                    writes.push((video, None, write));
                    sent[0] += 1;
                }
            }
        } else if step.is_multiple_of(7) {
            let frame = step / 7;
            for layer in 0..3 {
                if sending & (1 << layer) == 0 {
                    continue;
                }
                let key = std::mem::take(&mut client.force_key[layer]) || frame % 90 == 1;
                let (count, size) = client.layer_packets[layer];
                let temporal = client.l1t3.then(|| {
                    if key {
                        client.tl_frame[layer] = 0;
                    }
                    let i = (client.tl_frame[layer] % 8) as usize;
                    client.tl_frame[layer] += 1;
                    if L1T3_TIDS[i] == 0 {
                        client.tl0[layer] = client.tl0[layer].wrapping_add(1);
                    }
                    (client.tl0[layer], L1T3_TIDS[i], L1T3_SYNC[i])
                });
                let packets = match codec {
                    Str0mCodec::H264 => h264_frame(layer as u8, key, 2 + layer),
                    _ => vp8_payloads(layer as u8, frame as u16, key, count, size, temporal),
                };
                let n = packets.len();
                for (i, payload) in packets.into_iter().enumerate() {
                    let seq = client.seq[layer];
                    client.seq[layer] += 1;
                    let ts = 5000 * (layer as u32 + 1) + (frame as u32) * 3000;
                    let write = RtpWrite::new(video_pt, SeqNo::from(seq), ts, now, payload)
                        .marker(i + 1 == n)
                        .nackable(true);
                    writes.push((video, Some(Rid::from(RIDS[layer])), write));
                    sent[layer] += 1;
                }
            }
        }
        for (mid, rid, write) in writes {
            let rtc = client.publish.as_mut().unwrap();
            rtc.direct_api()
                .stream_tx_by_mid(mid, rid)
                .unwrap()
                .write_rtp(write);
            client.drain(Side::Publish, now, &mut self.to_worker);
        }
        sent
    }

    pub fn client(&self, c: usize) -> &Client {
        &self.clients[c]
    }

    /// Packets `c` received on the m-line of `track`.
    pub fn received_on(&self, c: usize, track: TrackId) -> Vec<Received> {
        let client = &self.clients[c];
        let mid = client
            .lines
            .iter()
            .find(|(_, t)| **t == track)
            .map(|(m, _)| *m);
        client
            .received
            .iter()
            .filter(|r| Some(r.mid) == mid)
            .cloned()
            .collect()
    }
}

#[derive(Clone, Copy)]
pub enum Side {
    Publish,
    Subscribe,
}

impl Client {
    /// Drain one connection: transmits toward the worker, events recorded.
    fn drain(
        &mut self,
        side: Side,
        now: Instant,
        to_worker: &mut VecDeque<(SocketAddr, SocketAddr, Vec<u8>)>,
    ) {
        let (rtc, addr) = match side {
            Side::Publish => (self.publish.as_mut(), self.addr),
            Side::Subscribe => (self.subscribe.as_mut(), self.sub_addr),
        };
        let Some(rtc) = rtc else { return };
        loop {
            match rtc.poll_output().unwrap() {
                Output::Timeout(_) => break,
                Output::Transmit(t) => {
                    to_worker.push_back((addr, t.destination, t.contents.to_vec()))
                }
                Output::Event(Event::RtpPacket(p)) => {
                    let mid = rtc.direct_api().stream_rx(&p.header.ssrc).map(|s| s.mid());
                    let tag = read_tag(&p.payload);
                    let vp8 = str0m::rtp::Vp8Descriptor::parse(&p.payload).ok();
                    let is_vp9 = rtc
                        .codec_config()
                        .find(|c| c.pt() == p.header.payload_type)
                        .is_some_and(|c| c.spec().codec == Str0mCodec::Vp9);
                    let vp9 = is_vp9
                        .then(|| relais_sfu::vp9_descriptor::Vp9Descriptor::parse(&p.payload))
                        .flatten();
                    let vp8 = vp8.filter(|_| !is_vp9);
                    self.received.push(Received {
                        at: now,
                        mid: mid.unwrap_or(Mid::from("?")),
                        ssrc: *p.header.ssrc,
                        seq: *p.seq_no,
                        timestamp: p.header.timestamp,
                        layer: tag.map(|t| t.0).unwrap_or(254),
                        keyframe: tag.map(|t| t.1).unwrap_or(false),
                        picture_id: vp8.and_then(|d| d.picture_id()),
                        tl0_pic_idx: vp8.and_then(|d| d.tl0_pic_idx()),
                        temporal: relais_sfu::codec::vp8_temporal(&p.payload),
                        starts_frame: relais_sfu::codec::vp8_starts_frame(&p.payload),
                        marker: p.header.marker,
                        spatial: None,
                        dd: DdBytes::of(&p.header.ext_vals).map(<[u8]>::to_vec),
                    });
                    if let Some((d, l)) = vp9.and_then(|d| Some((d, d.layer?))) {
                        let r = self.received.last_mut().expect("pushed above");
                        r.picture_id = d.picture_id;
                        r.tl0_pic_idx = d.tl0_pic_idx;
                        r.temporal = Some(relais_sfu::codec::Temporal {
                            tid: l.tid,
                            layer_sync: l.switching_up,
                        });
                        r.starts_frame = d.begins_frame;
                        r.spatial = Some(relais_sfu::codec::Spatial {
                            sid: l.sid,
                            ends_layer_frame: d.ends_frame,
                        });
                    }
                }
                Output::Event(Event::KeyframeRequest(k)) => {
                    self.keyframe_requests.push((now, k.rid));
                    if (self.svc || self.av1) && k.rid.is_none() {
                        self.force_key[0] = true;
                    }
                    if let Some(l) = k.rid.and_then(|r| RIDS.iter().position(|x| **x == *r)) {
                        self.force_key[l] = true;
                    }
                }
                Output::Event(_) => {}
            }
        }
    }
}

/// A VP8 frame as `packets` RTP payloads: descriptor with a 15-bit picture id,
/// a keyframe header with the layer's size, and a tag naming the layer.
pub fn vp8_frame(layer: u8, picture_id: u16, key: bool, packets: usize) -> Vec<Vec<u8>> {
    vp8_frame_sized(layer, picture_id, key, packets, 200)
}

/// Packets per frame and padding bytes per packet of each layer by default:
/// about 115, 170 and 230 kbit/s.
pub const DEFAULT_LAYER_PACKETS: [(usize, usize); 3] = [(2, 200), (3, 200), (4, 200)];

/// A camera as browsers send it (and `lk load-test` models it): about
/// 150 kbit/s, 500 kbit/s and 1.5 Mbit/s at 28.6 frames a second.
pub const CAMERA_LAYER_PACKETS: [(usize, usize); 3] = [(1, 620), (2, 1060), (6, 1060)];

/// [`vp8_frame`] with `padding` bytes of filler in each packet.
pub fn vp8_frame_sized(
    layer: u8,
    picture_id: u16,
    key: bool,
    packets: usize,
    padding: usize,
) -> Vec<Vec<u8>> {
    vp8_payloads(layer, picture_id, key, packets, padding, None)
}

/// Chromium's VP8 L1T3 (libwebrtc's default pattern for three temporal
/// layers): eight frames from a keyframe on, with layer sync (Y) on the
/// first TL2 and the first TL1 of each eight.
pub const L1T3_TIDS: [u8; 8] = [0, 2, 1, 2, 0, 2, 1, 2];
pub const L1T3_SYNC: [bool; 8] = [false, true, true, false, false, false, false, false];

/// A VP8 frame's payloads; with `temporal` = (TL0PICIDX, TID, Y), the
/// descriptor carries L and T too.
pub fn vp8_payloads(
    layer: u8,
    picture_id: u16,
    key: bool,
    packets: usize,
    padding: usize,
    temporal: Option<(u8, u8, bool)>,
) -> Vec<Vec<u8>> {
    (0..packets)
        .map(|i| {
            let start = i == 0;
            let pid = picture_id & 0x7fff;
            let mut p = vec![
                0x80 | if start { 0x10 } else { 0 },
                if temporal.is_some() { 0xe0 } else { 0x80 },
                0x80 | (pid >> 8) as u8,
                pid as u8,
            ];
            if let Some((tl0, tid, sync)) = temporal {
                p.push(tl0);
                p.push(tid << 6 | if sync { 0x20 } else { 0 });
            }
            if start {
                let (w, h) = SIZES[usize::from(layer)];
                p.extend_from_slice(&[if key { 0x00 } else { 0x01 }, 0, 0, 0x9d, 0x01, 0x2a]);
                p.extend_from_slice(&w.to_le_bytes());
                p.extend_from_slice(&h.to_le_bytes());
            }
            p.extend_from_slice(b"RLAY");
            p.push(layer);
            p.push(key as u8);
            p.resize(p.len() + padding, 0);
            p
        })
        .collect()
}

/// str0m's standard header extensions without transport-wide sequence
/// numbers: a receiver that cannot give TWCC feedback.
fn without_twcc() -> str0m::rtp::ExtensionMap {
    let mut exts = str0m::rtp::ExtensionMap::empty();
    for (id, ext) in str0m::rtp::ExtensionMap::standard().iter() {
        if *ext != str0m::rtp::Extension::TransportSequenceNumber {
            exts.set(id, ext.clone());
        }
    }
    exts
}

/// The track of `kind` that a publish answer lists.
pub fn track_of(answer: &PublishAnswer, kind: MediaKind) -> TrackInfo {
    let found = answer.tracks.iter().find(|(_, t)| t.kind == kind);
    found
        .map(|(_, t)| t.clone())
        .unwrap_or_else(|| panic!("no {kind:?} track in {:?}", answer.tracks))
}

/// An H.264 frame as `packets` RTP payloads: an IDR (keyframe) or non-IDR
/// slice, fragmented as FU-A, carrying the layer tag.
pub fn h264_frame(layer: u8, key: bool, packets: usize) -> Vec<Vec<u8>> {
    let nal_type = if key { 5 } else { 1 };
    (0..packets)
        .map(|i| {
            let start = if i == 0 { 0x80 } else { 0 };
            let end = if i + 1 == packets { 0x40 } else { 0 };
            let mut p = vec![0x60 | 28, start | end | nal_type];
            p.extend_from_slice(b"RLAY");
            p.push(layer);
            p.push(key as u8);
            p.resize(p.len() + 200, 0);
            p
        })
        .collect()
}

/// The (layer, keyframe) tag in a payload made by [`vp8_frame`]; audio gives layer 255.
pub fn read_tag(payload: &[u8]) -> Option<(u8, bool)> {
    if payload.first() == Some(&0xf8) {
        return Some((255, false));
    }
    let at = payload.windows(4).position(|w| w == b"RLAY")?;
    Some((*payload.get(at + 4)?, *payload.get(at + 5)? == 1))
}

pub mod room_media;

/// Packets received in order must number on without a gap: sequence numbers
/// step by one, timestamps never go back, VP8 picture ids (where present)
/// repeat or step by one.
pub fn assert_gapless(rx: &[Received]) {
    for pair in rx.windows(2) {
        assert_eq!(
            pair[1].seq,
            pair[0].seq + 1,
            "continuous sequence at {pair:?}"
        );
        let step = pair[1].timestamp.wrapping_sub(pair[0].timestamp);
        assert!(step < 1 << 31, "timestamp went back at {pair:?}");
        if let (Some(a), Some(b)) = (pair[0].picture_id, pair[1].picture_id) {
            assert!(
                b == a || b == (a + 1) & 0x7fff,
                "picture id continues at {pair:?}"
            );
        }
    }
}
