//! A UDP proxy that impairs the path between clients and a server: it
//! listens on one address; each client address it hears from gets its own
//! upstream socket towards the server (so the server still tells clients
//! apart by source address); every datagram goes through the [`Link`] of
//! its direction before it is sent on. Both directions are shared by all
//! clients, as the access link of one network would be.
//!
//! One tokio task runs it; the impairment can be changed while it runs, and
//! it stops when its [`Proxy`] handle is dropped.

use std::cmp::Reverse;
use std::collections::{BinaryHeap, HashMap};
use std::io;
use std::net::{IpAddr, SocketAddr};
use std::sync::{Arc, Mutex};
use std::time::Instant;

use tokio::net::UdpSocket;
use tokio::sync::{mpsc, watch};
use tokio::task::JoinHandle;

use super::link::{Impairment, Link, LinkStats};

/// Largest datagram carried.
const MAX_DATAGRAM: usize = 65_535;
/// Datagrams from the server waiting for the proxy's loop, at most.
const FROM_SERVER_QUEUE: usize = 4096;

/// Where the proxy sits and what it does to each direction.
#[derive(Debug, Clone)]
pub struct ProxyConfig {
    /// Clients send here (the address they believe is the server's).
    pub listen: SocketAddr,
    /// The server's media address.
    pub server: SocketAddr,
    /// Client → server.
    pub up: Impairment,
    /// Server → client.
    pub down: Impairment,
    pub seed: u64,
}

/// Both directions' counters.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct ProxyStats {
    pub up: LinkStats,
    pub down: LinkStats,
    pub clients: usize,
}

/// A running proxy; dropping it stops it.
pub struct Proxy {
    local: SocketAddr,
    settings: watch::Sender<(Impairment, Impairment)>,
    stats: Arc<Mutex<ProxyStats>>,
    task: JoinHandle<()>,
}

impl Drop for Proxy {
    fn drop(&mut self) {
        self.task.abort();
    }
}

impl Proxy {
    /// Bind and start.
    pub async fn start(config: ProxyConfig) -> io::Result<Proxy> {
        let socket = UdpSocket::bind(config.listen).await?;
        let local = socket.local_addr()?;
        let (settings, settings_rx) = watch::channel((config.up, config.down));
        let stats = Arc::new(Mutex::new(ProxyStats::default()));
        let state = State {
            listen: Arc::new(socket),
            server: config.server,
            up: Link::new(config.up, config.seed),
            down: Link::new(config.down, config.seed.wrapping_add(1)),
            clients: HashMap::new(),
            queue: BinaryHeap::new(),
            next: 0,
            stats: stats.clone(),
        };
        let task = tokio::spawn(state.run(settings_rx));
        Ok(Proxy {
            local,
            settings,
            stats,
            task,
        })
    }

    /// The address clients send to.
    pub fn local_addr(&self) -> SocketAddr {
        self.local
    }

    /// Change both directions from now on.
    pub fn set(&self, up: Impairment, down: Impairment) {
        self.settings.send_replace((up, down));
    }

    pub fn stats(&self) -> ProxyStats {
        *self.stats.lock().unwrap_or_else(|e| e.into_inner())
    }
}

/// A datagram waiting for its arrival time.
struct Due {
    at: Instant,
    /// Admission order, so that equal times keep it.
    n: u64,
    via: Arc<UdpSocket>,
    to: SocketAddr,
    data: Vec<u8>,
}

impl PartialEq for Due {
    fn eq(&self, o: &Self) -> bool {
        (self.at, self.n) == (o.at, o.n)
    }
}
impl Eq for Due {}
impl PartialOrd for Due {
    fn partial_cmp(&self, o: &Self) -> Option<std::cmp::Ordering> {
        Some(self.cmp(o))
    }
}
impl Ord for Due {
    fn cmp(&self, o: &Self) -> std::cmp::Ordering {
        (self.at, self.n).cmp(&(o.at, o.n))
    }
}

struct Client {
    upstream: Arc<UdpSocket>,
    reader: JoinHandle<()>,
}

impl Drop for Client {
    fn drop(&mut self) {
        self.reader.abort();
    }
}

struct State {
    listen: Arc<UdpSocket>,
    server: SocketAddr,
    up: Link,
    down: Link,
    clients: HashMap<SocketAddr, Client>,
    queue: BinaryHeap<Reverse<Due>>,
    next: u64,
    stats: Arc<Mutex<ProxyStats>>,
}

/// Read what the server sends to one client's upstream socket.
async fn read_server(
    upstream: Arc<UdpSocket>,
    client: SocketAddr,
    to_loop: mpsc::Sender<(SocketAddr, Vec<u8>)>,
) {
    let mut buf = vec![0; MAX_DATAGRAM];
    loop {
        match upstream.recv(&mut buf).await {
            Ok(n) => {
                if to_loop.send((client, buf[..n].to_vec())).await.is_err() {
                    return;
                }
            }
            // ICMP errors from the server's side: keep reading.
            Err(_) => tokio::task::yield_now().await,
        }
    }
}

fn unspecified(ip: IpAddr) -> IpAddr {
    match ip {
        IpAddr::V4(_) => IpAddr::V4(std::net::Ipv4Addr::UNSPECIFIED),
        IpAddr::V6(_) => IpAddr::V6(std::net::Ipv6Addr::UNSPECIFIED),
    }
}

impl State {
    async fn run(mut self, mut settings: watch::Receiver<(Impairment, Impairment)>) {
        let (to_loop, mut from_server) = mpsc::channel(FROM_SERVER_QUEUE);
        let mut buf = vec![0; MAX_DATAGRAM];
        let listen = self.listen.clone();
        loop {
            let next_due = self.queue.peek().map(|Reverse(d)| d.at);
            let sleep = async {
                match next_due {
                    Some(t) => tokio::time::sleep_until(t.into()).await,
                    None => std::future::pending().await,
                }
            };
            tokio::select! {
                r = listen.recv_from(&mut buf) => match r {
                    Ok((n, from)) => self.on_client_datagram(from, &buf[..n], &to_loop).await,
                    Err(_) => tokio::task::yield_now().await,
                },
                Some((client, data)) = from_server.recv() => self.on_server_datagram(client, data),
                _ = sleep => self.send_due(),
                changed = settings.changed() => {
                    if changed.is_err() {
                        return;
                    }
                    let (up, down) = *settings.borrow_and_update();
                    self.up.set(up);
                    self.down.set(down);
                }
            }
            self.publish_stats();
        }
    }

    async fn on_client_datagram(
        &mut self,
        from: SocketAddr,
        data: &[u8],
        to_loop: &mpsc::Sender<(SocketAddr, Vec<u8>)>,
    ) {
        if !self.clients.contains_key(&from) {
            let bind = SocketAddr::new(unspecified(self.server.ip()), 0);
            let Ok(upstream) = UdpSocket::bind(bind).await else {
                return;
            };
            if upstream.connect(self.server).await.is_err() {
                return;
            }
            let upstream = Arc::new(upstream);
            let reader = tokio::spawn(read_server(upstream.clone(), from, to_loop.clone()));
            self.clients.insert(from, Client { upstream, reader });
        }
        let now = Instant::now();
        if let Some(at) = self.up.admit(now, data.len()) {
            let via = self.clients[&from].upstream.clone();
            let to = self.server;
            self.push(at, via, to, data.to_vec());
        }
    }

    fn on_server_datagram(&mut self, client: SocketAddr, data: Vec<u8>) {
        if let Some(at) = self.down.admit(Instant::now(), data.len()) {
            let via = self.listen.clone();
            self.push(at, via, client, data);
        }
    }

    fn push(&mut self, at: Instant, via: Arc<UdpSocket>, to: SocketAddr, data: Vec<u8>) {
        self.next += 1;
        self.queue.push(Reverse(Due {
            at,
            n: self.next,
            via,
            to,
            data,
        }));
    }

    fn send_due(&mut self) {
        let now = Instant::now();
        while self.queue.peek().is_some_and(|Reverse(d)| d.at <= now) {
            let Reverse(d) = self.queue.pop().expect("peeked");
            // A full socket buffer loses the datagram, as a link would.
            let _ = d.via.try_send_to(&d.data, d.to);
        }
    }

    fn publish_stats(&self) {
        let mut s = self.stats.lock().unwrap_or_else(|e| e.into_inner());
        s.up = self.up.stats;
        s.down = self.down.stats;
        s.clients = self.clients.len();
    }
}
