//! A bot: one participant that joins a Relais room exactly as a client does
//! (WebSocket signaling, a publish and a subscribe connection through str0m).
//! Its tokio task handles signaling and commands; the bots' event loop
//! ([`crate::engine`]) drives its two connections. Tests and the load tool
//! drive it through a cloneable [`BotHandle`].
//!
//! Each connection has its own address (an address of its own on the shared
//! loopback socket, or a socket of its own): both talk to the same server
//! address, so the server tells them apart by theirs.

use std::collections::{HashMap, HashSet};
use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use relais_signaling::auth::{mint_token, Claims};
use relais_signaling::protocol::{
    ClientMessage, ParticipantInfo, Quality, Role, RoomMode, ServerMessage, TrackInfo,
};
use tokio::sync::{mpsc, oneshot};
use tokio::task::JoinHandle;

use crate::engine::{self, BotMedia, Endpoint, Media, Side};
use crate::error::{BotError, Result};
use crate::events::{EventLog, EVENT_CAPACITY};
use crate::media::PublishOptions;
use crate::peer::Peer;
use crate::publisher::{PendingPublish, Published, Publisher, PublisherStats};
use crate::receipt::{TrackReceipt, LOG_CAPACITY};
use crate::signal::{reply_req, set_req, Incoming, Signal};
use crate::subscriber::Subscriber;

/// How long a request waits for its reply by default.
pub const REQUEST_TIMEOUT: Duration = Duration::from_secs(10);
/// How long `leave` waits for the server to acknowledge.
const LEAVE_TIMEOUT: Duration = Duration::from_secs(2);
/// How often the task forgets requests nobody waits for.
const EXPIRE_EVERY: Duration = Duration::from_secs(1);
/// Commands queued to a bot's task.
const COMMAND_QUEUE: usize = 64;

/// How to join.
#[derive(Debug, Clone)]
pub struct JoinOptions {
    pub room: String,
    pub name: String,
    /// Access token; required when the server has a secret.
    pub token: Option<String>,
    /// Development mode: the role claimed.
    pub role: Option<Role>,
    /// Development mode: the mode of a room this join creates.
    pub mode: Option<RoomMode>,
    /// Address of the bot's UDP sockets (and its ICE host candidate).
    pub bind_ip: IpAddr,
    /// Send media to this address instead of the server's candidates (an
    /// impairment proxy in front of the server, see [`crate::impair`]).
    pub media_via: Option<SocketAddr>,
    /// Connecting and joining must finish within this.
    pub timeout: Duration,
    /// Packets each track's receipt keeps in its log (0: counters only).
    pub log_capacity: usize,
    /// Server messages kept for [`BotHandle::events`] and `next_event`.
    pub event_capacity: usize,
}

impl JoinOptions {
    pub fn new(room: impl Into<String>, name: impl Into<String>) -> JoinOptions {
        JoinOptions {
            room: room.into(),
            name: name.into(),
            token: None,
            role: None,
            mode: None,
            bind_ip: IpAddr::V4(Ipv4Addr::LOCALHOST),
            media_via: None,
            timeout: REQUEST_TIMEOUT,
            log_capacity: LOG_CAPACITY,
            event_capacity: EVENT_CAPACITY,
        }
    }

    pub fn token(mut self, token: impl Into<String>) -> Self {
        self.token = Some(token.into());
        self
    }

    pub fn role(mut self, role: Role) -> Self {
        self.role = Some(role);
        self
    }

    pub fn mode(mut self, mode: RoomMode) -> Self {
        self.mode = Some(mode);
        self
    }

    /// A token for these options (room, name as identity and display name,
    /// role, mode) signed with the server's `secret`, valid for `ttl`.
    pub fn signed(mut self, secret: &str, ttl: Duration) -> Self {
        let mut claims = Claims::new(self.room.clone(), self.name.clone(), ttl);
        claims.name = Some(self.name.clone());
        claims.role = self.role;
        claims.mode = self.mode;
        self.token = Some(mint_token(secret, &claims));
        self
    }

    /// Bind the bot's UDP sockets (and its ICE candidates) to `ip`.
    pub fn bind_ip(mut self, ip: IpAddr) -> Self {
        self.bind_ip = ip;
        self
    }

    /// Send media through `proxy` (see [`JoinOptions::media_via`]).
    pub fn media_via(mut self, proxy: SocketAddr) -> Self {
        self.media_via = Some(proxy);
        self
    }

    pub fn log_capacity(mut self, packets: usize) -> Self {
        self.log_capacity = packets;
        self
    }

    pub fn event_capacity(mut self, messages: usize) -> Self {
        self.event_capacity = messages;
        self
    }
}

/// What the server said in `joined`.
#[derive(Debug, Clone, PartialEq)]
pub struct Joined {
    pub room: String,
    pub mode: RoomMode,
    pub participant_id: String,
    pub role: Role,
    pub participants: Vec<ParticipantInfo>,
    pub tracks: Vec<TrackInfo>,
    pub development: bool,
}

/// A running bot's state as its task last saw it.
#[derive(Debug, Clone, Default)]
struct Snapshot {
    receipts: HashMap<String, TrackReceipt>,
    stats: PublisherStats,
}

struct Shared {
    events: EventLog,
    /// Filled when the task ends, so results outlive the bot.
    last: Mutex<Option<Snapshot>>,
    task: Mutex<Option<JoinHandle<()>>>,
}

enum Command {
    Publish(PublishOptions, oneshot::Sender<Result<Published>>),
    Request(ClientMessage, oneshot::Sender<Result<ServerMessage>>),
    Send(ClientMessage, oneshot::Sender<Result<()>>),
    SendRaw(String, oneshot::Sender<Result<()>>),
    RequestKeyframe(String, oneshot::Sender<Result<()>>),
    /// The receipts of one track (`Some`) or all, with their logs from an
    /// instant on (`Some`) or whole, and the publisher's stats.
    Snapshot(Option<String>, Option<Instant>, oneshot::Sender<Snapshot>),
    Unpublish(String, oneshot::Sender<Result<()>>),
    Lines(oneshot::Sender<Vec<(String, String)>>),
    Leave(oneshot::Sender<Result<()>>),
}

/// Entry point: `Bot::join`.
pub struct Bot;

impl Bot {
    /// Connect to `ws_url` (`ws://host/ws`), join, and start the bot's task.
    /// A refused join is [`BotError::Refused`] with the server's code.
    pub async fn join(ws_url: &str, opts: JoinOptions) -> Result<BotHandle> {
        let deadline = tokio::time::Instant::now() + opts.timeout;
        let mut signal = Signal::connect(ws_url, opts.timeout).await?;
        let events = EventLog::with_capacity(opts.event_capacity);
        // Messages before `joined` are handled by the task once it starts.
        let mut early = Vec::new();
        let req = signal.next_req();
        signal
            .send(&ClientMessage::Join {
                req: Some(req),
                room: opts.room.clone(),
                name: Some(opts.name.clone()),
                token: opts.token.clone(),
                role: opts.role,
                mode: opts.mode,
                last_n: None,
            })
            .await?;
        let joined = loop {
            let incoming = tokio::time::timeout_at(deadline, signal.recv())
                .await
                .map_err(|_| BotError::Timeout(format!("joined (room {})", opts.room)))?;
            match incoming {
                Incoming::Message(ServerMessage::Joined {
                    room,
                    mode,
                    participant_id,
                    role,
                    participants,
                    tracks,
                    development,
                    ..
                }) => {
                    break Joined {
                        room,
                        mode,
                        participant_id,
                        role,
                        participants,
                        tracks,
                        development,
                    }
                }
                Incoming::Message(ServerMessage::Error { code, message, .. }) => {
                    return Err(BotError::Refused { code, message })
                }
                Incoming::Message(other) => early.push(other),
                Incoming::Unparsed(t) => {
                    return Err(BotError::Protocol(format!("not a server message: {t}")))
                }
                Incoming::Closed => return Err(BotError::Closed),
            }
        };
        let sub_peer = Peer::bind(opts.bind_ip)?;
        let sub_endpoint = sub_peer.endpoint.clone();
        let media = Arc::new(Mutex::new(Media {
            subscriber: Subscriber::new(sub_peer, opts.log_capacity),
            publisher: None,
        }));
        sub_endpoint.register(&media, Side::Subscribe);
        let (cmd_tx, cmd_rx) = mpsc::channel(COMMAND_QUEUE);
        let shared = Arc::new(Shared {
            events,
            last: Mutex::new(None),
            task: Mutex::new(None),
        });
        let task = BotTask {
            signal,
            commands: cmd_rx,
            shared: shared.clone(),
            bind_ip: opts.bind_ip,
            media_via: opts.media_via,
            media,
            sub_endpoint,
            pub_endpoint: None,
            pending_publish: None,
            requests: HashMap::new(),
            internal: HashSet::new(),
            leaving: None,
        };
        let handle = tokio::spawn(task.run(early));
        *lock(&shared.task) = Some(handle);
        Ok(BotHandle {
            commands: cmd_tx,
            shared,
            joined: Arc::new(joined),
        })
    }
}

fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|e| e.into_inner())
}

/// A handle on a running bot; clones drive the same bot. The bot stops on
/// [`BotHandle::leave`], when the server closes its connection, or when
/// every handle is dropped.
#[derive(Clone)]
pub struct BotHandle {
    commands: mpsc::Sender<Command>,
    shared: Arc<Shared>,
    joined: Arc<Joined>,
}

impl std::fmt::Debug for BotHandle {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("BotHandle")
            .field("room", &self.joined.room)
            .field("participant_id", &self.joined.participant_id)
            .field("running", &self.is_running())
            .finish()
    }
}

impl BotHandle {
    /// What the server said when the bot joined.
    pub fn joined(&self) -> &Joined {
        &self.joined
    }

    pub fn participant_id(&self) -> &str {
        &self.joined.participant_id
    }

    /// Hand a command to the task and wait (up to [`REQUEST_TIMEOUT`]) for its answer.
    async fn call<T>(&self, make: impl FnOnce(oneshot::Sender<T>) -> Command) -> Result<T> {
        let (tx, rx) = oneshot::channel();
        let exchange = async {
            self.commands
                .send(make(tx))
                .await
                .map_err(|_| BotError::Closed)?;
            rx.await.map_err(|_| BotError::Closed)
        };
        tokio::time::timeout(REQUEST_TIMEOUT, exchange)
            .await
            .map_err(|_| BotError::Timeout("the bot's task to answer".into()))?
    }

    /// Offer tracks on the publish connection; the track ids the server gave
    /// them, or its error. Media starts once the connection is up.
    pub async fn publish(&self, opts: PublishOptions) -> Result<Published> {
        let reply = self.call(|tx| Command::Publish(opts, tx));
        tokio::time::timeout(REQUEST_TIMEOUT, reply)
            .await
            .map_err(|_| BotError::Timeout("publish_answer".into()))??
    }

    /// Send `msg` with a fresh request id and wait for the reply to it; an
    /// `error` reply is [`BotError::Refused`].
    pub async fn request(&self, msg: ClientMessage) -> Result<ServerMessage> {
        let reply = self.call(|tx| Command::Request(msg, tx));
        tokio::time::timeout(REQUEST_TIMEOUT, reply)
            .await
            .map_err(|_| BotError::Timeout("a reply".into()))??
    }

    /// Choose the quality of a remote video track (waits for the server's `ok`).
    pub async fn subscribe(&self, track_id: &str, quality: Quality) -> Result<()> {
        self.request(ClientMessage::Subscribe {
            req: None,
            track_id: track_id.to_string(),
            quality: Some(quality),
            max_width: None,
            max_height: None,
        })
        .await
        .map(drop)
    }

    /// Ask for the largest layer of a remote video track within `width`x`height`.
    pub async fn subscribe_size(&self, track_id: &str, width: u32, height: u32) -> Result<()> {
        self.request(ClientMessage::Subscribe {
            req: None,
            track_id: track_id.to_string(),
            quality: None,
            max_width: Some(width),
            max_height: Some(height),
        })
        .await
        .map(drop)
    }

    /// Send a PLI for a received track.
    pub async fn request_keyframe(&self, track_id: &str) -> Result<()> {
        let id = track_id.to_string();
        self.call(|tx| Command::RequestKeyframe(id, tx)).await?
    }

    /// Send any message as it is (no request id added, no wait for a reply).
    pub async fn send(&self, msg: ClientMessage) -> Result<()> {
        self.call(|tx| Command::Send(msg, tx)).await?
    }

    /// Send any text, well-formed or not.
    pub async fn send_raw(&self, text: impl Into<String>) -> Result<()> {
        let text = text.into();
        self.call(|tx| Command::SendRaw(text, tx)).await?
    }

    /// Wait up to `timeout` for a server message matching `matching` and take
    /// it; messages it skips stay for later calls. Every message received is
    /// queued, replies that [`request`](Self::request) returned included.
    pub async fn next_event(
        &self,
        matching: impl Fn(&ServerMessage) -> bool + Sync,
        timeout: Duration,
    ) -> Result<ServerMessage> {
        self.shared.events.next(&matching, timeout).await
    }

    /// Every server message received since the join (the latest
    /// [`JoinOptions::event_capacity`]).
    pub fn events(&self) -> Vec<ServerMessage> {
        self.shared.events.all()
    }

    async fn snapshot(&self, track: Option<&str>) -> Snapshot {
        self.snapshot_since(track, None).await
    }

    async fn snapshot_since(&self, track: Option<&str>, since: Option<Instant>) -> Snapshot {
        let filter = track.map(str::to_string);
        match self.call(|tx| Command::Snapshot(filter, since, tx)).await {
            Ok(s) => s,
            // The bot has stopped: what it had at the end.
            Err(_) => lock(&self.shared.last).clone().unwrap_or_default(),
        }
    }

    /// What the bot received on a track so far (`None`: never offered).
    pub async fn received(&self, track_id: &str) -> Option<TrackReceipt> {
        self.snapshot(Some(track_id))
            .await
            .receipts
            .remove(track_id)
    }

    /// What the bot received on every track.
    pub async fn receipts(&self) -> HashMap<String, TrackReceipt> {
        self.snapshot(None).await.receipts
    }

    /// [`receipts`](Self::receipts) with logs holding only the packets that
    /// arrived at or after `t` (cheaper, for sampling many bots often).
    pub async fn receipts_since(&self, t: Instant) -> HashMap<String, TrackReceipt> {
        self.snapshot_since(None, Some(t)).await.receipts
    }

    /// Poll [`received`](Self::received) every 20 ms until `done` holds, up
    /// to `timeout`; the last receipt either way.
    pub async fn wait_received(
        &self,
        track_id: &str,
        done: impl Fn(&TrackReceipt) -> bool,
        timeout: Duration,
    ) -> Result<TrackReceipt> {
        let deadline = Instant::now() + timeout;
        loop {
            let r = self.received(track_id).await;
            if let Some(r) = &r {
                if done(r) {
                    return Ok(r.clone());
                }
            }
            if Instant::now() >= deadline || !self.is_running() {
                let what = match r {
                    Some(r) => format!(
                        "track {track_id}: {} packets, layers {:?}, audio {}",
                        r.packets, r.per_layer, r.audio_packets
                    ),
                    None => format!("track {track_id} (never offered)"),
                };
                return Err(BotError::Timeout(what));
            }
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }

    /// The subscribe connection's media lines and their tracks, as `(mid, track_id)`.
    pub async fn offered_tracks(&self) -> Result<Vec<(String, String)>> {
        self.call(Command::Lines).await
    }

    /// What the publishing side did so far.
    pub async fn publisher_stats(&self) -> PublisherStats {
        self.snapshot(Some("")).await.stats
    }

    /// Stop publishing one of the bot's tracks: tell the server (waiting for
    /// its `ok`) and stop sending that track's media.
    pub async fn unpublish(&self, track_id: &str) -> Result<()> {
        self.request(ClientMessage::Unpublish {
            req: None,
            track_id: track_id.to_string(),
        })
        .await?;
        let id = track_id.to_string();
        self.call(|tx| Command::Unpublish(id, tx)).await?
    }

    /// The bot's task is still running.
    pub fn is_running(&self) -> bool {
        lock(&self.shared.task)
            .as_ref()
            .is_some_and(|t| !t.is_finished())
    }

    /// Leave the room and stop the bot; returns once its task has ended.
    pub async fn leave(&self) -> Result<()> {
        let result = match self.call(Command::Leave).await {
            Ok(r) => r,
            // Already stopped.
            Err(BotError::Closed) => Ok(()),
            Err(e) => Err(e),
        };
        let task = lock(&self.shared.task).take();
        if let Some(task) = task {
            let _ = tokio::time::timeout(LEAVE_TIMEOUT * 2, task).await;
        }
        result
    }
}

/// What the task woke up for.
enum Wake {
    Command(Option<Command>),
    Signal(Incoming),
    Timer,
}

struct BotTask {
    signal: Signal,
    commands: mpsc::Receiver<Command>,
    shared: Arc<Shared>,
    bind_ip: IpAddr,
    media_via: Option<SocketAddr>,
    /// The connections, driven by the bots' event loop.
    media: BotMedia,
    sub_endpoint: Endpoint,
    pub_endpoint: Option<Endpoint>,
    /// The publish offer waiting for its answer, and when it was sent.
    pending_publish: Option<(PendingPublish, Instant, oneshot::Sender<Result<Published>>)>,
    /// Requests from handles waiting for their reply, by request id.
    requests: HashMap<String, oneshot::Sender<Result<ServerMessage>>>,
    /// Request ids of the bot's own messages (subscribe answers).
    internal: HashSet<String>,
    leaving: Option<(String, Instant, oneshot::Sender<Result<()>>)>,
}

impl BotTask {
    async fn run(mut self, early: Vec<ServerMessage>) {
        for m in early {
            if self.on_server_message(m, Instant::now()).await {
                self.finish().await;
                return;
            }
        }
        // One timer for the task's life, moved only when the deadline moves.
        let timer = tokio::time::sleep(EXPIRE_EVERY);
        tokio::pin!(timer);
        loop {
            let now = Instant::now();
            let mut wake = now + EXPIRE_EVERY;
            if let Some((_, deadline, _)) = &self.leaving {
                if now >= *deadline {
                    break;
                }
                wake = wake.min(*deadline);
            }
            let wake = tokio::time::Instant::from_std(wake);
            if timer.deadline() != wake {
                timer.as_mut().reset(wake);
            }
            let event = tokio::select! {
                c = self.commands.recv() => Wake::Command(c),
                m = self.signal.recv() => Wake::Signal(m),
                _ = &mut timer => Wake::Timer,
            };
            let now = Instant::now();
            match event {
                Wake::Command(None) => break,
                Wake::Command(Some(c)) => self.on_command(c, now).await,
                Wake::Signal(Incoming::Closed) => break,
                Wake::Signal(Incoming::Unparsed(t)) => {
                    tracing::warn!(text = %t, "the server sent a message this client does not know")
                }
                Wake::Signal(Incoming::Message(m)) => {
                    if self.on_server_message(m, now).await {
                        break;
                    }
                }
                Wake::Timer => self.expire_requests(now),
            }
        }
        self.finish().await;
    }

    /// Forget requests nobody waits for any more, and a publish offer the
    /// server never answered (so that another publish can be tried).
    fn expire_requests(&mut self, now: Instant) {
        self.requests.retain(|_, reply| !reply.is_closed());
        let expired = self
            .pending_publish
            .as_ref()
            .is_some_and(|(_, sent, _)| now.duration_since(*sent) > REQUEST_TIMEOUT);
        if expired {
            if let Some((_, _, reply)) = self.pending_publish.take() {
                let _ = reply.send(Err(BotError::Timeout("publish_answer".into())));
            }
        }
    }

    fn snapshot(&self, track: Option<&str>, since: Option<Instant>) -> Snapshot {
        let media = engine::lock(&self.media);
        let copy = |r: &TrackReceipt| match since {
            Some(t) => r.clone_since(t),
            None => r.clone(),
        };
        let receipts = match track {
            Some(t) => media
                .subscriber
                .receipts
                .get(t)
                .map(|r| HashMap::from([(t.to_string(), copy(r))]))
                .unwrap_or_default(),
            None => media
                .subscriber
                .receipts
                .iter()
                .map(|(k, r)| (k.clone(), copy(r)))
                .collect(),
        };
        Snapshot {
            receipts,
            stats: media
                .publisher
                .as_ref()
                .map(|p| p.stats.clone())
                .unwrap_or_default(),
        }
    }

    async fn finish(mut self) {
        if let Some((_, _, reply)) = self.leaving.take() {
            let _ = reply.send(Ok(()));
        }
        self.signal.close().await;
        self.sub_endpoint.unregister();
        if let Some(e) = &self.pub_endpoint {
            e.unregister();
        }
        {
            let mut media = engine::lock(&self.media);
            let Media {
                subscriber,
                publisher,
            } = &mut *media;
            for rtc in [
                subscriber.peer.rtc.as_mut(),
                publisher.as_mut().and_then(|p| p.peer.rtc.as_mut()),
            ]
            .into_iter()
            .flatten()
            {
                rtc.disconnect();
            }
        }
        *lock(&self.shared.last) = Some(self.snapshot(None, None));
        self.shared.events.close();
    }

    async fn on_command(&mut self, c: Command, now: Instant) {
        match c {
            Command::Publish(opts, reply) => {
                // `start_publish` hands the reply back only on failure.
                if let Err((e, reply)) = self.start_publish(&opts, reply, now).await {
                    let _ = reply.send(Err(e));
                }
            }
            Command::Request(mut msg, reply) => {
                let req = self.signal.next_req();
                set_req(&mut msg, req.clone());
                match self.signal.send(&msg).await {
                    Ok(()) => {
                        self.requests.insert(req, reply);
                    }
                    Err(e) => {
                        let _ = reply.send(Err(e));
                    }
                }
            }
            Command::Send(msg, reply) => {
                let _ = reply.send(self.signal.send(&msg).await);
            }
            Command::SendRaw(text, reply) => {
                let _ = reply.send(self.signal.send_raw(text).await);
            }
            Command::RequestKeyframe(track, reply) => {
                let r = engine::lock(&self.media)
                    .subscriber
                    .request_keyframe(&track);
                self.sub_endpoint.wake();
                let _ = reply.send(r);
            }
            Command::Snapshot(track, since, reply) => {
                let _ = reply.send(self.snapshot(track.as_deref(), since));
            }
            Command::Unpublish(track, reply) => {
                let stopped = engine::lock(&self.media)
                    .publisher
                    .as_mut()
                    .is_some_and(|p| p.stop(&track));
                let _ = reply.send(if stopped {
                    Ok(())
                } else {
                    Err(BotError::Usage(format!(
                        "this bot does not publish track {track}"
                    )))
                });
            }
            Command::Lines(reply) => {
                let lines = engine::lock(&self.media)
                    .subscriber
                    .lines()
                    .iter()
                    .map(|(m, t)| (m.to_string(), t.clone()))
                    .collect();
                let _ = reply.send(lines);
            }
            Command::Leave(reply) => {
                let req = self.signal.next_req();
                let msg = ClientMessage::Leave {
                    req: Some(req.clone()),
                };
                match self.signal.send(&msg).await {
                    Ok(()) => self.leaving = Some((req, now + LEAVE_TIMEOUT, reply)),
                    // The connection is gone already: that is a leave too.
                    Err(_) => {
                        self.leaving = Some((req, now, reply));
                    }
                }
            }
        }
    }

    /// Send a publish offer; on failure, the error and the reply to answer.
    async fn start_publish(
        &mut self,
        opts: &PublishOptions,
        reply: oneshot::Sender<Result<Published>>,
        now: Instant,
    ) -> std::result::Result<(), (BotError, oneshot::Sender<Result<Published>>)> {
        if self.pending_publish.is_some() {
            let e = BotError::Usage("a publish is already waiting for its answer".into());
            return Err((e, reply));
        }
        if self.pub_endpoint.is_none() {
            match Peer::bind(self.bind_ip) {
                Ok(peer) => {
                    let endpoint = peer.endpoint.clone();
                    engine::lock(&self.media).publisher = Some(Publisher::new(peer, now));
                    endpoint.register(&self.media, Side::Publish);
                    self.pub_endpoint = Some(endpoint);
                }
                Err(e) => return Err((e.into(), reply)),
            }
        }
        let req = self.signal.next_req();
        let offer = engine::lock(&self.media)
            .publisher
            .as_mut()
            .expect("just made")
            .offer(opts, req.clone());
        let (sdp, sources, pending) = match offer {
            Ok(o) => o,
            Err(e) => return Err((e, reply)),
        };
        let msg = ClientMessage::PublishOffer {
            req: Some(req),
            sdp,
            sources,
        };
        if let Err(e) = self.signal.send(&msg).await {
            return Err((e, reply));
        }
        self.pending_publish = Some((pending, now, reply));
        Ok(())
    }

    /// The server's SDP, its candidates pointing at `media_via` if set.
    fn redirect(&self, sdp: String) -> String {
        match self.media_via {
            Some(via) => crate::impair::redirect_candidates(&sdp, via),
            None => sdp,
        }
    }

    /// Handle a server message; true when the bot should stop.
    async fn on_server_message(&mut self, m: ServerMessage, now: Instant) -> bool {
        self.shared.events.push(m.clone());
        let req = reply_req(&m).map(str::to_string);
        if let Some(req) = req {
            if self
                .pending_publish
                .as_ref()
                .is_some_and(|(p, _, _)| p.req == req)
            {
                let (pending, _, reply) = self.pending_publish.take().expect("checked");
                let result = match m {
                    ServerMessage::PublishAnswer { sdp, tracks, .. } => {
                        let sdp = self.redirect(sdp);
                        let r = engine::lock(&self.media)
                            .publisher
                            .as_mut()
                            .expect("a pending publish has a publisher")
                            .accept_answer(pending, &sdp, &tracks, now);
                        if let Some(e) = &self.pub_endpoint {
                            e.wake();
                        }
                        r
                    }
                    ServerMessage::Error { code, message, .. } => {
                        Err(BotError::Refused { code, message })
                    }
                    other => Err(BotError::Protocol(format!(
                        "unexpected reply to a publish offer: {other:?}"
                    ))),
                };
                let _ = reply.send(result);
                return false;
            }
            if let Some(reply) = self.requests.remove(&req) {
                let result = match m {
                    ServerMessage::Error { code, message, .. } => {
                        Err(BotError::Refused { code, message })
                    }
                    other => Ok(other),
                };
                let _ = reply.send(result);
                return false;
            }
            if self.internal.remove(&req) {
                if let ServerMessage::Error { code, message, .. } = &m {
                    tracing::warn!(?code, %message, "the server refused this bot's subscribe answer");
                }
                return false;
            }
            if self.leaving.as_ref().is_some_and(|(r, _, _)| *r == req) {
                return true;
            }
        }
        match m {
            ServerMessage::SubscribeOffer { sdp, tracks } => {
                let sdp = self.redirect(sdp);
                let answer = engine::lock(&self.media)
                    .subscriber
                    .accept_offer(&sdp, &tracks, now);
                self.sub_endpoint.wake();
                match answer {
                    Ok(answer) => {
                        let req = self.signal.next_req();
                        self.internal.insert(req.clone());
                        let msg = ClientMessage::SubscribeAnswer {
                            req: Some(req),
                            sdp: answer,
                        };
                        if self.signal.send(&msg).await.is_err() {
                            return true;
                        }
                    }
                    Err(e) => tracing::warn!(error = %e, "cannot answer the server's offer"),
                }
                false
            }
            ServerMessage::PublisherLayers { track_id, layers } => {
                if let Some(p) = engine::lock(&self.media).publisher.as_mut() {
                    p.set_layers(&track_id, &layers);
                }
                if let Some(endpoint) = &self.pub_endpoint {
                    endpoint.wake();
                }
                false
            }
            ServerMessage::Closing { .. } => self.leaving.is_some(),
            _ => false,
        }
    }
}
