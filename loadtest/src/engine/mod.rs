//! The bots' media engine: one event loop (an OS thread) drives the
//! str0m connections of hundreds of bots. It owns the sockets' readiness,
//! feeds each datagram to the connection it belongs to, fires every
//! connection's timeouts and the publishers' frame clocks from one timer
//! heap, and sends what the connections produce. The bots' own tasks keep
//! only signaling; they reach their connections through [`BotMedia`]
//! (a mutex the loop takes for the microseconds a datagram needs).
//!
//! Addresses: a bot bound to loopback gets its own address 127.1.x.y on the
//! loop's one shared socket (see [`socket`]), so the whole fleet reads with
//! one `recvmmsg` per batch. A bot bound to another address (a remote
//! server, a network namespace) gets its own socket, created in the
//! caller's thread (so in the caller's network namespace) and still driven
//! by the loop.
//!
//! `--bot-threads` (see [`set_threads`]) runs several loops; peers are
//! spread over them.

mod event_loop;
pub mod socket;

use std::io;
use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::sync::atomic::{AtomicU32, AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, MutexGuard, OnceLock};
use std::time::Instant;

use crate::publisher::Publisher;
use crate::subscriber::Subscriber;
use event_loop::{Command, LoopHandle};
use socket::MediaSocket;

/// A bot's two connections, shared between its task and the loop.
pub(crate) struct Media {
    pub subscriber: Subscriber,
    pub publisher: Option<Publisher>,
}

pub(crate) type BotMedia = Arc<Mutex<Media>>;

pub(crate) fn lock(m: &BotMedia) -> MutexGuard<'_, Media> {
    m.lock().unwrap_or_else(|e| e.into_inner())
}

/// Which of a bot's connections a peer is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Side {
    Subscribe,
    Publish,
}

impl Media {
    /// Drain a side; its next deadline (timeouts and, for a publisher, media).
    fn poll(&mut self, side: Side) -> Option<Instant> {
        match side {
            Side::Subscribe => self.subscriber.poll(),
            Side::Publish => {
                let p = self.publisher.as_mut()?;
                let next = p.poll();
                earliest(next, p.next_media_at())
            }
        }
    }

    fn receive(
        &mut self,
        side: Side,
        now: Instant,
        from: SocketAddr,
        data: &[u8],
    ) -> Option<Instant> {
        match side {
            Side::Subscribe => self.subscriber.peer.receive(now, from, data),
            Side::Publish => {
                if let Some(p) = self.publisher.as_mut() {
                    p.peer.receive(now, from, data)
                }
            }
        }
        self.poll(side)
    }

    fn timer(&mut self, side: Side, now: Instant) -> Option<Instant> {
        match side {
            Side::Subscribe => self.subscriber.peer.timeout(now),
            Side::Publish => {
                if let Some(p) = self.publisher.as_mut() {
                    p.peer.timeout(now);
                    p.poll();
                    p.send_due_media(now);
                }
            }
        }
        self.poll(side)
    }
}

fn earliest(a: Option<Instant>, b: Option<Instant>) -> Option<Instant> {
    match (a, b) {
        (Some(a), Some(b)) => Some(a.min(b)),
        (a, b) => a.or(b),
    }
}

/// Where one connection sends from, and its place in a loop.
#[derive(Debug, Clone)]
pub(crate) struct Endpoint {
    socket: Arc<MediaSocket>,
    /// The connection's address (its ICE host candidate).
    pub local: SocketAddr,
    /// The socket is this connection's alone.
    own: bool,
    engine: usize,
    key: u64,
}

impl Endpoint {
    /// A new address for a connection bound to `ip`.
    pub fn new(ip: IpAddr) -> io::Result<Endpoint> {
        let engines = engines();
        let engine = engines.next.fetch_add(1, Ordering::Relaxed) % engines.loops.len();
        let key = engines.next_key.fetch_add(1, Ordering::Relaxed);
        let l = &engines.loops[engine];
        if ip.is_loopback() && ip.is_ipv4() {
            let shared = l.shared()?;
            let local =
                SocketAddr::new(next_loopback(&engines.next_ip), shared.local_addr().port());
            return Ok(Endpoint {
                socket: shared,
                local,
                own: false,
                engine,
                key,
            });
        }
        let socket = Arc::new(MediaSocket::bind(SocketAddr::new(ip, 0))?);
        Ok(Endpoint {
            local: socket.local_addr(),
            socket,
            own: true,
            engine,
            key,
        })
    }

    /// Send one datagram; false when the kernel refused it.
    pub fn send(&self, to: SocketAddr, data: &[u8]) -> bool {
        self.socket.send(self.local.ip(), to, data).is_ok()
    }

    fn command(&self, c: Command) {
        engines().loops[self.engine].send(c);
    }

    /// Let the loop drive this connection of `media`.
    pub fn register(&self, media: &BotMedia, side: Side) {
        self.command(Command::Register {
            key: self.key,
            media: media.clone(),
            side,
            ip: self.local.ip(),
            own_socket: self.own.then(|| self.socket.clone()),
        });
    }

    /// The connection changed outside the loop (an offer, a keyframe
    /// request): drain it and take its new deadline.
    pub fn wake(&self) {
        self.command(Command::Wake(self.key));
    }

    /// Stop driving it (the bot left).
    pub fn unregister(&self) {
        self.command(Command::Unregister(self.key));
    }
}

/// 127.1.0.1, 127.1.0.2, ... up to 127.254.255.254: never .0 nor .255.
fn next_loopback(next: &AtomicU32) -> IpAddr {
    loop {
        let n = next.fetch_add(1, Ordering::Relaxed);
        let ip = Ipv4Addr::from((127u32 << 24) | (0x1_0000 + n % 0xfe_0000));
        let last = ip.octets()[3];
        if last != 0 && last != 255 {
            return IpAddr::V4(ip);
        }
    }
}

struct Engines {
    loops: Vec<LoopHandle>,
    next: AtomicUsize,
    next_key: AtomicU64,
    next_ip: AtomicU32,
}

static THREADS: AtomicUsize = AtomicUsize::new(1);
static ENGINES: OnceLock<Engines> = OnceLock::new();

/// Run `n` event loops (at least one); effective only before the first bot.
pub fn set_threads(n: usize) {
    THREADS.store(n.max(1), Ordering::Relaxed);
}

/// How many event loops run (or will).
pub fn threads() -> usize {
    ENGINES
        .get()
        .map_or_else(|| THREADS.load(Ordering::Relaxed), |e| e.loops.len())
}

fn engines() -> &'static Engines {
    ENGINES.get_or_init(|| Engines {
        loops: (0..THREADS.load(Ordering::Relaxed))
            .map(LoopHandle::spawn)
            .collect(),
        next: AtomicUsize::new(0),
        next_key: AtomicU64::new(1),
        next_ip: AtomicU32::new(1),
    })
}

/// Datagrams the loops could not route to a connection, so far.
pub fn unroutable() -> u64 {
    ENGINES.get().map_or(0, |e| {
        e.loops
            .iter()
            .map(|l| l.stats.unroutable.load(Ordering::Relaxed))
            .sum()
    })
}
