//! The thread around one media worker: it owns the UDP socket, reads the
//! clock, waits in `mio` for a datagram, a command, a message from another
//! worker or the next deadline, and sends what the worker wrote to its outboxes.

use std::io::{self, ErrorKind};
use std::net::SocketAddr;
use std::sync::Arc;
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use crossbeam_channel::{Receiver, Sender, TrySendError};
use mio::{Events, Interest, Poll, Token, Waker};
use str0m::net::Transmit;
use tokio::sync::mpsc;

use crate::api::{Command, CoreEvent, SfuConfig};
use crate::metrics::WorkerMetrics;
use crate::relay::{RelayMsg, WorkerIndex};
use crate::socket::BatchSender;
use crate::worker::{Worker, WorkerConfig};

const SOCKET: Token = Token(0);
const WAKER: Token = Token(1);
/// Datagrams (or relayed messages) handled before the worker looks at its
/// commands and timers again.
const READ_BATCH: usize = 256;
/// Datagrams (sent or still to drain from peers) after which the worker
/// sends even if more input waits: it bounds the delay a burst adds, while
/// letting each subscriber's packets of one burst leave in one GSO send.
const FLUSH_AT: usize = 2048;
/// Datagrams drained from written peers before they are sent, while more
/// written peers wait: the first subscribers of a burst get their packets
/// while the rest are being built, and a send fills a few `sendmmsg` calls
/// (`socket::BATCH` messages each, a subscriber's run of datagrams being
/// one GSO message).
const SEND_PART: usize = 256;
/// Largest datagram read.
const MAX_DATAGRAM: usize = 2048;
/// Messages another worker may queue here before new ones are dropped.
pub(crate) const RELAY_QUEUE: usize = 16 * 1024;

/// A worker whose socket and poller exist, not yet running.
pub(crate) struct Prepared {
    config: WorkerConfig,
    batch_sends: bool,
    subscriber_bwe: bool,
    poll: Poll,
    socket: mio::net::UdpSocket,
    pub waker: Arc<Waker>,
    /// The address the socket is bound to.
    pub bound: SocketAddr,
}

/// Another worker's queue and the waker that gets its attention.
pub(crate) type WorkerLink = (Sender<(WorkerIndex, RelayMsg)>, Arc<Waker>);

/// How a worker reaches the others.
pub(crate) struct RelayLinks {
    pub inbox: Receiver<(WorkerIndex, RelayMsg)>,
    /// Every worker's queue and waker, by index (its own included, unused).
    pub workers: Vec<WorkerLink>,
}

pub(crate) fn prepare(index: usize, config: &SfuConfig) -> io::Result<Prepared> {
    let port = if config.media_port == 0 {
        0
    } else {
        config.media_port + index as u16
    };
    let std_socket = crate::socket::bind_media_socket(SocketAddr::new(config.bind_ip, port))?;
    let bound = std_socket.local_addr()?;
    let candidate = SocketAddr::new(config.public_ip, bound.port());
    let poll = Poll::new()?;
    let mut socket = mio::net::UdpSocket::from_std(std_socket);
    poll.registry()
        .register(&mut socket, SOCKET, Interest::READABLE)?;
    let waker = Arc::new(Waker::new(poll.registry(), WAKER)?);
    tracing::info!(worker = index, %bound, %candidate, "media worker listening");
    Ok(Prepared {
        config: WorkerConfig {
            index,
            workers: config.workers.max(1),
            candidate,
            max_tracks_per_participant: config.max_tracks_per_participant,
        },
        poll,
        socket,
        waker,
        bound,
        batch_sends: config.batch_sends,
        subscriber_bwe: config.subscriber_bwe,
    })
}

pub(crate) fn start(
    prepared: Prepared,
    commands: mpsc::Receiver<Command>,
    events: mpsc::UnboundedSender<CoreEvent>,
    metrics: Arc<WorkerMetrics>,
    links: RelayLinks,
) -> io::Result<JoinHandle<()>> {
    let index = prepared.config.index;
    std::thread::Builder::new()
        .name(format!("relais-media-{index}"))
        .spawn(move || {
            let Prepared {
                config,
                poll,
                socket,
                batch_sends,
                subscriber_bwe,
                ..
            } = prepared;
            let mut worker = Worker::new(config, events, metrics.clone(), Instant::now());
            worker.set_subscriber_bwe(subscriber_bwe);
            let gso = crate::socket::gso_supported(&socket);
            tracing::info!(worker = index, batch_sends, gso, "media worker sending");
            let batch = batch_sends.then(|| BatchSender::new(gso));
            let out = Out {
                socket,
                batch,
                links,
                to_wake: Vec::new(),
            };
            if let Err(e) = run(worker, poll, out, commands, &metrics) {
                tracing::error!(worker = index, error = %e, "media worker stopped");
            }
        })
}

/// Where a worker's output goes: its socket and the other workers.
struct Out {
    socket: mio::net::UdpSocket,
    /// `Some` to send in batches.
    batch: Option<BatchSender>,
    links: RelayLinks,
    /// Workers to wake once this round's messages are queued.
    to_wake: Vec<bool>,
}

fn run(
    mut worker: Worker,
    mut poll: Poll,
    mut out: Out,
    mut commands: mpsc::Receiver<Command>,
    metrics: &WorkerMetrics,
) -> io::Result<()> {
    let mut events = Events::with_capacity(16);
    let mut buf = vec![0u8; MAX_DATAGRAM];
    out.to_wake = vec![false; out.links.workers.len()];
    let mut readable = true;
    let mut relay_backlog = false;
    loop {
        let wait = if readable || relay_backlog {
            Duration::ZERO
        } else {
            worker
                .next_timeout()
                .saturating_duration_since(Instant::now())
        };
        match poll.poll(&mut events, Some(wait)) {
            Ok(()) => {}
            Err(e) if e.kind() == ErrorKind::Interrupted => continue,
            Err(e) => return Err(e),
        }
        if events.iter().any(|e| e.token() == SOCKET) {
            readable = true;
        }
        loop {
            match commands.try_recv() {
                Ok(cmd) => {
                    if !worker.handle_command(Instant::now(), cmd) {
                        flush(&mut out, &mut worker, metrics);
                        return Ok(());
                    }
                }
                Err(mpsc::error::TryRecvError::Empty) => break,
                Err(mpsc::error::TryRecvError::Disconnected) => return Ok(()),
            }
        }
        relay_backlog = false;
        for _ in 0..READ_BATCH {
            match out.links.inbox.try_recv() {
                Ok((from, msg)) => worker.handle_relay(Instant::now(), from, msg),
                Err(_) => break,
            }
            relay_backlog = !out.links.inbox.is_empty();
        }
        if readable {
            readable = read_batch(&mut out, &mut worker, &mut buf, metrics)?;
        }
        worker.handle_timeout(Instant::now());
        flush(&mut out, &mut worker, metrics);
    }
}

/// Send datagrams, in batches where the platform has them.
fn send(out: &mut Out, outbox: &[Transmit], metrics: &WorkerMetrics) {
    WorkerMetrics::add(&metrics.datagrams_sent, outbox.len() as u64);
    match &mut out.batch {
        Some(batch) => {
            let sent = batch.send(
                &out.socket,
                outbox.iter().map(|t| (t.destination, &t.contents[..])),
            );
            WorkerMetrics::add(&metrics.send_dropped, sent.would_block as u64);
        }
        None => {
            for t in outbox.iter() {
                match out.socket.send_to(&t.contents, t.destination) {
                    Ok(_) => {}
                    Err(e) if e.kind() == ErrorKind::WouldBlock => {
                        WorkerMetrics::add(&metrics.send_dropped, 1);
                    }
                    Err(e) => {
                        tracing::debug!(error = %e, destination = %t.destination, "send failed")
                    }
                }
            }
        }
    }
}

/// Read up to a batch of datagrams. Returns whether more may be waiting.
fn read_batch(
    out: &mut Out,
    worker: &mut Worker,
    buf: &mut [u8],
    metrics: &WorkerMetrics,
) -> io::Result<bool> {
    for _ in 0..READ_BATCH {
        match out.socket.recv_from(buf) {
            Ok((n, source)) => {
                worker.handle_datagram(Instant::now(), source, &buf[..n]);
                if worker.pending_sends() >= FLUSH_AT {
                    flush(out, worker, metrics);
                }
            }
            Err(e) if e.kind() == ErrorKind::WouldBlock => return Ok(false),
            Err(e) if e.kind() == ErrorKind::Interrupted => {}
            // ICMP errors from earlier sends surface here on Linux; skip them.
            Err(e) if e.kind() == ErrorKind::ConnectionRefused => {}
            Err(e) => return Err(e),
        }
    }
    Ok(true)
}

/// Send the datagrams and deliver the messages for other workers, waking
/// each of those once.
fn flush(out: &mut Out, worker: &mut Worker, metrics: &WorkerMetrics) {
    loop {
        let (outbox, more) = worker.outbox_part(SEND_PART);
        send(out, outbox, metrics);
        // The sent buffers go back to str0m for the next packets this thread
        // encrypts: no allocation per forwarded packet (vendor/str0m/PATCHES.md, 10).
        for t in outbox.drain(..) {
            str0m::recycle_datagram(t.contents);
        }
        if !more {
            break;
        }
    }
    let index = worker.config().index;
    for (to, msg) in worker.relay_outbox().drain(..) {
        let Some((queue, _)) = out.links.workers.get(to) else {
            continue;
        };
        match queue.try_send((index, msg)) {
            Ok(()) => out.to_wake[to] = true,
            Err(TrySendError::Full(_)) => WorkerMetrics::add(&metrics.relay_dropped, 1),
            Err(TrySendError::Disconnected(_)) => {}
        }
    }
    for (to, wake) in out.to_wake.iter_mut().enumerate() {
        if std::mem::take(wake) {
            let _ = out.links.workers[to].1.wake();
        }
    }
}
