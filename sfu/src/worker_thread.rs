//! The thread around one media worker: its UDP socket, its command queue and its clock.
//! (Being written: this placeholder only compiles.)

use std::io;
use std::sync::Arc;
use std::thread::JoinHandle;

use tokio::sync::mpsc;

use crate::api::{Command, CoreEvent, SfuConfig};
use crate::metrics::WorkerMetrics;

pub(crate) struct Spawned {
    pub waker: Arc<mio::Waker>,
    pub thread: JoinHandle<()>,
}

pub(crate) fn spawn(
    _index: usize,
    _config: &SfuConfig,
    _commands: mpsc::Receiver<Command>,
    _events: mpsc::UnboundedSender<CoreEvent>,
    _metrics: Arc<WorkerMetrics>,
) -> io::Result<Spawned> {
    Err(io::Error::other("not yet written"))
}
