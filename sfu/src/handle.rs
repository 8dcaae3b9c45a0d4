//! The signaling side's grip on the media core: start the workers, send them
//! commands, read their metrics, stop them.

use std::io;
use std::sync::Arc;
use std::thread::JoinHandle;

use tokio::sync::{mpsc, oneshot};

use crate::api::{Command, CoreEvent, DownlinkReport, Reply, SfuConfig, SfuError, WorkerSnapshot};
use crate::ids::RoomId;
use crate::metrics::{MetricsSnapshot, WorkerMetrics};
use crate::worker_thread;

/// One running media worker.
pub struct WorkerHandle {
    index: usize,
    commands: mpsc::Sender<Command>,
    waker: Arc<mio::Waker>,
    metrics: Arc<WorkerMetrics>,
    media_addr: std::net::SocketAddr,
    thread: std::sync::Mutex<Option<JoinHandle<()>>>,
}

impl WorkerHandle {
    pub fn index(&self) -> usize {
        self.index
    }

    /// The UDP address this worker's socket is bound to.
    pub fn media_addr(&self) -> std::net::SocketAddr {
        self.media_addr
    }

    /// Send a command, waiting while the worker's queue is full.
    pub async fn send(&self, cmd: Command) -> Result<(), SfuError> {
        self.commands
            .send(cmd)
            .await
            .map_err(|_| SfuError::WorkerGone)?;
        self.waker.wake().map_err(|_| SfuError::WorkerGone)
    }

    /// Send a command built around a reply channel and wait for the reply.
    pub async fn call<T>(&self, make: impl FnOnce(Reply<T>) -> Command) -> Result<T, SfuError> {
        let (tx, rx) = oneshot::channel();
        self.send(make(tx)).await?;
        rx.await.map_err(|_| SfuError::WorkerGone)
    }

    pub fn metrics(&self) -> MetricsSnapshot {
        self.metrics.snapshot()
    }

    pub async fn inspect(&self) -> Result<WorkerSnapshot, SfuError> {
        self.call(|reply| Command::Inspect { reply }).await
    }

    /// The downlinks of a room's subscribers on this worker.
    pub async fn downlinks(&self, room: RoomId) -> Result<Vec<DownlinkReport>, SfuError> {
        self.call(|reply| Command::Downlinks { room, reply }).await
    }
}

/// The media core: a set of workers.
pub struct Sfu {
    workers: Vec<WorkerHandle>,
    config: SfuConfig,
}

impl Sfu {
    /// Bind every worker's socket and start its thread. Events from all
    /// workers arrive on the returned receiver.
    pub fn start(config: SfuConfig) -> io::Result<(Sfu, mpsc::UnboundedReceiver<CoreEvent>)> {
        let (events_tx, events_rx) = mpsc::unbounded_channel();
        let count = config.workers.max(1);
        // Every worker's socket and poller first, so that each can be given
        // the others' queues and wakers.
        let prepared = (0..count)
            .map(|i| worker_thread::prepare(i, &config))
            .collect::<io::Result<Vec<_>>>()?;
        let queues: Vec<_> = (0..count)
            .map(|_| crossbeam_channel::bounded(worker_thread::RELAY_QUEUE))
            .collect();
        let links: Vec<_> = queues
            .iter()
            .zip(&prepared)
            .map(|((tx, _), p)| (tx.clone(), p.waker.clone()))
            .collect();
        let mut workers = Vec::with_capacity(count);
        for ((index, prepared), (_, inbox)) in prepared.into_iter().enumerate().zip(queues) {
            let (commands_tx, commands_rx) = mpsc::channel(config.command_queue.max(1));
            // The default media policy is the first command each worker sees
            // (the queue is new, so it has room).
            let (reply, _) = oneshot::channel();
            let _ = commands_tx.try_send(Command::SetMediaPolicy {
                room: None,
                policy: config.media,
                reply,
            });
            let metrics = Arc::new(WorkerMetrics::default());
            let waker = prepared.waker.clone();
            let media_addr = prepared.bound;
            let relay = worker_thread::RelayLinks {
                inbox,
                workers: links.clone(),
            };
            let thread = worker_thread::start(
                prepared,
                commands_rx,
                events_tx.clone(),
                metrics.clone(),
                relay,
            )?;
            workers.push(WorkerHandle {
                index,
                commands: commands_tx,
                waker,
                metrics,
                media_addr,
                thread: std::sync::Mutex::new(Some(thread)),
            });
        }
        Ok((Sfu { workers, config }, events_rx))
    }

    pub fn config(&self) -> &SfuConfig {
        &self.config
    }

    pub fn workers(&self) -> &[WorkerHandle] {
        &self.workers
    }

    pub fn worker(&self, index: usize) -> &WorkerHandle {
        &self.workers[index % self.workers.len()]
    }

    /// The sum of every worker's metrics.
    pub fn metrics(&self) -> MetricsSnapshot {
        let mut sum = MetricsSnapshot::default();
        for w in &self.workers {
            sum += w.metrics();
        }
        sum
    }

    /// Close every peer and join the worker threads.
    pub async fn shutdown(&self) {
        for w in &self.workers {
            let _ = w.call(|reply| Command::Shutdown { reply }).await;
            let thread = w.thread.lock().ok().and_then(|mut t| t.take());
            if let Some(thread) = thread {
                let _ = tokio::task::spawn_blocking(move || thread.join()).await;
            }
        }
    }
}
