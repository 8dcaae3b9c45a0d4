//! One event loop: a thread waiting on its sockets (mio), a command queue
//! from the bots' tasks (with a mio waker) and a timer heap. Every step is
//! bounded: a socket is read at most [`READS_PER_WAKE`] batches before the
//! others get their turn, and stale timer entries are skipped, not searched.

use std::cmp::Reverse;
use std::collections::{BinaryHeap, HashMap};
use std::io;
use std::net::IpAddr;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{mpsc, Arc, Mutex};
use std::time::{Duration, Instant};

use mio::unix::SourceFd;
use mio::{Events, Interest, Poll, Token, Waker};

use super::socket::{MediaSocket, RecvBufs};
use super::{lock, BotMedia, Side};

/// The waker's token; socket tokens count up from 1, the shared socket is 0.
const WAKER: Token = Token(usize::MAX);
const SHARED: Token = Token(0);
/// Receive batches per socket per wakeup, at most.
const READS_PER_WAKE: usize = 8;
/// The loop looks around at least this often.
const MAX_SLEEP: Duration = Duration::from_millis(100);

pub(crate) enum Command {
    Register {
        key: u64,
        media: BotMedia,
        side: Side,
        ip: IpAddr,
        own_socket: Option<Arc<MediaSocket>>,
    },
    Wake(u64),
    Unregister(u64),
}

#[derive(Default)]
pub(crate) struct LoopStats {
    pub unroutable: AtomicU64,
}

/// A running loop, as the bots see it.
pub(crate) struct LoopHandle {
    tx: Mutex<mpsc::Sender<Command>>,
    waker: Option<Arc<Waker>>,
    shared: Mutex<Option<Arc<MediaSocket>>>,
    shared_tx: Mutex<Option<mpsc::Sender<Arc<MediaSocket>>>>,
    pub stats: Arc<LoopStats>,
}

impl LoopHandle {
    /// Start loop `index` on its own thread. A loop that cannot start
    /// leaves a handle whose commands go nowhere (bots then never connect,
    /// and say so by timing out).
    pub fn spawn(index: usize) -> LoopHandle {
        let (tx, rx) = mpsc::channel();
        let (shared_tx, shared_rx) = mpsc::channel();
        let stats = Arc::new(LoopStats::default());
        let started = Poll::new().and_then(|poll| {
            let waker = Arc::new(Waker::new(poll.registry(), WAKER)?);
            Ok((poll, waker))
        });
        let waker = match started {
            Ok((poll, waker)) => {
                let l = Loop::new(poll, rx, shared_rx, stats.clone());
                let spawned = std::thread::Builder::new()
                    .name(format!("bots-{index}"))
                    .spawn(move || l.run());
                if let Err(e) = spawned {
                    tracing::error!(error = %e, "cannot start the bots' event loop");
                }
                Some(waker)
            }
            Err(e) => {
                tracing::error!(error = %e, "cannot start the bots' event loop");
                None
            }
        };
        LoopHandle {
            tx: Mutex::new(tx),
            waker,
            shared: Mutex::new(None),
            shared_tx: Mutex::new(Some(shared_tx)),
            stats,
        }
    }

    pub fn send(&self, c: Command) {
        let sent = self
            .tx
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .send(c)
            .is_ok();
        if sent {
            if let Some(w) = &self.waker {
                let _ = w.wake();
            }
        }
    }

    /// The loop's shared loopback socket, made by the first caller.
    pub fn shared(&self) -> io::Result<Arc<MediaSocket>> {
        let mut g = self.shared.lock().unwrap_or_else(|e| e.into_inner());
        if let Some(s) = g.as_ref() {
            return Ok(s.clone());
        }
        let s = Arc::new(MediaSocket::bind_shared()?);
        if let Some(tx) = self
            .shared_tx
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .take()
        {
            let _ = tx.send(s.clone());
        }
        if let Some(w) = &self.waker {
            let _ = w.wake();
        }
        *g = Some(s.clone());
        Ok(s)
    }
}

struct PeerEntry {
    media: BotMedia,
    side: Side,
    deadline: Option<Instant>,
    /// Its own socket's token, or its address on the shared socket.
    route: Route,
}

enum Route {
    Own(Token, Arc<MediaSocket>),
    Shared(IpAddr),
}

struct Loop {
    poll: Poll,
    commands: mpsc::Receiver<Command>,
    shared_rx: mpsc::Receiver<Arc<MediaSocket>>,
    shared: Option<Arc<MediaSocket>>,
    /// Own sockets: token → (socket, peer).
    sockets: HashMap<Token, (Arc<MediaSocket>, u64)>,
    /// Shared socket: destination address → peer.
    shared_routes: HashMap<IpAddr, u64>,
    peers: HashMap<u64, PeerEntry>,
    timers: BinaryHeap<Reverse<(Instant, u64)>>,
    next_token: usize,
    /// Sockets with datagrams left after their turn.
    unfinished: Vec<Token>,
    bufs: RecvBufs,
    stats: Arc<LoopStats>,
}

impl Loop {
    fn new(
        poll: Poll,
        commands: mpsc::Receiver<Command>,
        shared_rx: mpsc::Receiver<Arc<MediaSocket>>,
        stats: Arc<LoopStats>,
    ) -> Loop {
        Loop {
            poll,
            commands,
            shared_rx,
            shared: None,
            sockets: HashMap::new(),
            shared_routes: HashMap::new(),
            peers: HashMap::new(),
            timers: BinaryHeap::new(),
            next_token: 1,
            unfinished: Vec::new(),
            bufs: RecvBufs::default(),
            stats,
        }
    }

    fn run(mut self) {
        let mut events = Events::with_capacity(1024);
        loop {
            self.fire_timers(Instant::now());
            let now = Instant::now();
            let sleep = if self.unfinished.is_empty() {
                self.timers
                    .peek()
                    .map_or(MAX_SLEEP, |Reverse((t, _))| {
                        t.saturating_duration_since(now)
                    })
                    .min(MAX_SLEEP)
            } else {
                Duration::ZERO
            };
            if let Err(e) = self.poll.poll(&mut events, Some(sleep)) {
                if e.kind() != io::ErrorKind::Interrupted {
                    tracing::error!(error = %e, "the bots' event loop cannot wait; it stops");
                    return;
                }
            }
            if !self.take_commands() {
                return;
            }
            let mut ready: Vec<Token> = std::mem::take(&mut self.unfinished);
            ready.extend(events.iter().map(|e| e.token()).filter(|t| *t != WAKER));
            ready.sort_unstable();
            ready.dedup();
            for token in ready {
                self.read(token);
            }
        }
    }

    /// Apply the bots' commands; false when every handle is gone.
    fn take_commands(&mut self) -> bool {
        if self.shared.is_none() {
            if let Ok(s) = self.shared_rx.try_recv() {
                let fd = s.raw_fd();
                if let Err(e) =
                    self.poll
                        .registry()
                        .register(&mut SourceFd(&fd), SHARED, Interest::READABLE)
                {
                    tracing::error!(error = %e, "cannot watch the bots' shared socket");
                }
                self.shared = Some(s);
                self.unfinished.push(SHARED);
            }
        }
        loop {
            match self.commands.try_recv() {
                Ok(c) => self.command(c),
                Err(mpsc::TryRecvError::Empty) => return true,
                Err(mpsc::TryRecvError::Disconnected) => return false,
            }
        }
    }

    fn command(&mut self, c: Command) {
        match c {
            Command::Register {
                key,
                media,
                side,
                ip,
                own_socket,
            } => {
                let route = match own_socket {
                    Some(s) => {
                        let token = Token(self.next_token);
                        self.next_token += 1;
                        let fd = s.raw_fd();
                        if let Err(e) = self.poll.registry().register(
                            &mut SourceFd(&fd),
                            token,
                            Interest::READABLE,
                        ) {
                            tracing::warn!(error = %e, "cannot watch a bot's socket");
                        }
                        self.sockets.insert(token, (s.clone(), key));
                        self.unfinished.push(token);
                        Route::Own(token, s)
                    }
                    None => {
                        self.shared_routes.insert(ip, key);
                        Route::Shared(ip)
                    }
                };
                self.peers.insert(
                    key,
                    PeerEntry {
                        media,
                        side,
                        deadline: None,
                        route,
                    },
                );
                self.wake(key);
            }
            Command::Wake(key) => self.wake(key),
            Command::Unregister(key) => {
                let Some(p) = self.peers.remove(&key) else {
                    return;
                };
                match p.route {
                    Route::Own(token, s) => {
                        let fd = s.raw_fd();
                        let _ = self.poll.registry().deregister(&mut SourceFd(&fd));
                        self.sockets.remove(&token);
                    }
                    Route::Shared(ip) => {
                        if self.shared_routes.get(&ip) == Some(&key) {
                            self.shared_routes.remove(&ip);
                        }
                    }
                }
            }
        }
    }

    fn wake(&mut self, key: u64) {
        let Some(p) = self.peers.get(&key) else {
            return;
        };
        let next = lock(&p.media).poll(p.side);
        self.schedule(key, next);
    }

    /// Remember a peer's new deadline (stale heap entries are skipped later).
    fn schedule(&mut self, key: u64, next: Option<Instant>) {
        let Some(p) = self.peers.get_mut(&key) else {
            return;
        };
        if p.deadline != next {
            p.deadline = next;
            if let Some(t) = next {
                self.timers.push(Reverse((t, key)));
            }
        }
    }

    fn fire_timers(&mut self, now: Instant) {
        while let Some(&Reverse((t, key))) = self.timers.peek() {
            if t > now {
                return;
            }
            self.timers.pop();
            let Some(p) = self.peers.get_mut(&key) else {
                continue;
            };
            if p.deadline != Some(t) {
                continue;
            }
            p.deadline = None;
            let next = lock(&p.media).timer(p.side, now);
            self.schedule(key, next);
        }
    }

    /// Read a socket for its turn and hand each datagram to its peer.
    fn read(&mut self, token: Token) {
        let socket = if token == SHARED {
            self.shared.clone()
        } else {
            self.sockets.get(&token).map(|(s, _)| s.clone())
        };
        let Some(socket) = socket else {
            return;
        };
        let own_peer = self.sockets.get(&token).map(|(_, k)| *k);
        for _ in 0..READS_PER_WAKE {
            let n = match socket.recv(&mut self.bufs) {
                Ok(0) => return,
                Ok(n) => n,
                // An ICMP error queued on the socket: the next read goes on.
                Err(_) => continue,
            };
            let now = Instant::now();
            let mut touched: Vec<(u64, Option<Instant>)> = Vec::new();
            for (from, dst, data) in self.bufs.datagrams(n) {
                let key = match own_peer {
                    Some(k) => Some(k),
                    None => dst.and_then(|ip| self.shared_routes.get(&ip).copied()),
                };
                let Some(p) = key.and_then(|k| self.peers.get(&k)) else {
                    self.stats.unroutable.fetch_add(1, Ordering::Relaxed);
                    continue;
                };
                let next = lock(&p.media).receive(p.side, now, from, data);
                touched.push((key.expect("found"), next));
            }
            for (key, next) in touched {
                self.schedule(key, next);
            }
        }
        self.unfinished.push(token);
    }
}
