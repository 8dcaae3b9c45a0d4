//! The thread around one media worker: it owns the UDP socket, reads the
//! clock, waits in `mio` for a datagram, a command or the next deadline,
//! and sends what the worker wrote to its outbox.

use std::io::{self, ErrorKind};
use std::net::SocketAddr;
use std::sync::Arc;
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use mio::{Events, Interest, Poll, Token, Waker};
use tokio::sync::mpsc;

use crate::api::{Command, CoreEvent, SfuConfig};
use crate::metrics::WorkerMetrics;
use crate::worker::{Worker, WorkerConfig};

const SOCKET: Token = Token(0);
const WAKER: Token = Token(1);
/// Datagrams read before the worker looks at its commands and timers again.
const READ_BATCH: usize = 256;
/// Largest datagram read.
const MAX_DATAGRAM: usize = 2048;

pub(crate) struct Spawned {
    pub waker: Arc<Waker>,
    pub thread: JoinHandle<()>,
}

pub(crate) fn spawn(
    index: usize,
    config: &SfuConfig,
    commands: mpsc::Receiver<Command>,
    events: mpsc::UnboundedSender<CoreEvent>,
    metrics: Arc<WorkerMetrics>,
) -> io::Result<Spawned> {
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
    let worker_config = WorkerConfig {
        index,
        candidate,
        max_tracks_per_participant: config.max_tracks_per_participant,
    };
    tracing::info!(worker = index, %bound, %candidate, "media worker listening");
    let thread = std::thread::Builder::new()
        .name(format!("relais-media-{index}"))
        .spawn(move || {
            let worker = Worker::new(worker_config, events, metrics, Instant::now());
            if let Err(e) = run(worker, poll, socket, commands) {
                tracing::error!(worker = index, error = %e, "media worker stopped");
            }
        })?;
    Ok(Spawned { waker, thread })
}

fn run(
    mut worker: Worker,
    mut poll: Poll,
    socket: mio::net::UdpSocket,
    mut commands: mpsc::Receiver<Command>,
) -> io::Result<()> {
    let mut events = Events::with_capacity(16);
    let mut buf = vec![0u8; MAX_DATAGRAM];
    let mut readable = true;
    loop {
        let wait = if readable {
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
                        flush(&socket, &mut worker);
                        return Ok(());
                    }
                }
                Err(mpsc::error::TryRecvError::Empty) => break,
                Err(mpsc::error::TryRecvError::Disconnected) => return Ok(()),
            }
        }
        if readable {
            readable = read_batch(&socket, &mut worker, &mut buf)?;
        }
        worker.handle_timeout(Instant::now());
        flush(&socket, &mut worker);
    }
}

/// Read up to a batch of datagrams. Returns whether more may be waiting.
fn read_batch(
    socket: &mio::net::UdpSocket,
    worker: &mut Worker,
    buf: &mut [u8],
) -> io::Result<bool> {
    for _ in 0..READ_BATCH {
        match socket.recv_from(buf) {
            Ok((n, source)) => {
                worker.handle_datagram(Instant::now(), source, &buf[..n]);
                if worker.outbox().len() >= 256 {
                    flush(socket, worker);
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

fn flush(socket: &mio::net::UdpSocket, worker: &mut Worker) {
    for t in worker.outbox().drain(..) {
        match socket.send_to(&t.contents, t.destination) {
            Ok(_) => {}
            Err(e) if e.kind() == ErrorKind::WouldBlock => {
                tracing::debug!("socket buffer full: datagram dropped");
            }
            Err(e) => tracing::debug!(error = %e, destination = %t.destination, "send failed"),
        }
    }
}
