//! Counters a worker updates as it runs and signaling reads at scrape time.
//!
//! Each worker owns one `WorkerMetrics`; only that worker writes it, with
//! relaxed atomic adds, so reading never stops the media path.

use std::sync::atomic::{AtomicU64, Ordering::Relaxed};

#[derive(Debug, Default)]
pub struct WorkerMetrics {
    pub rtp_packets_received: AtomicU64,
    pub rtp_bytes_received: AtomicU64,
    pub rtp_packets_forwarded: AtomicU64,
    pub rtp_bytes_forwarded: AtomicU64,
    /// PLI/FIR the core sent to publishers.
    pub keyframe_requests_sent: AtomicU64,
    /// PLI/FIR subscribers sent to the core.
    pub keyframe_requests_received: AtomicU64,
    /// Layer switches completed at a keyframe.
    pub layer_switches: AtomicU64,
    /// Datagrams no peer accepted.
    pub unroutable_datagrams: AtomicU64,
    /// Peers dropped after a panic inside their state machine.
    pub peer_panics: AtomicU64,
    /// Datagrams dropped because the socket's send buffer was full.
    pub send_dropped: AtomicU64,
    /// Messages to another worker dropped because its queue was full.
    pub relay_dropped: AtomicU64,
    pub rooms: AtomicU64,
    pub participants: AtomicU64,
    pub published_tracks: AtomicU64,
    pub peers_connecting: AtomicU64,
    pub peers_connected: AtomicU64,
}

/// A plain copy of one or more workers' metrics.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub struct MetricsSnapshot {
    pub rtp_packets_received: u64,
    pub rtp_bytes_received: u64,
    pub rtp_packets_forwarded: u64,
    pub rtp_bytes_forwarded: u64,
    pub keyframe_requests_sent: u64,
    pub keyframe_requests_received: u64,
    pub layer_switches: u64,
    pub unroutable_datagrams: u64,
    pub peer_panics: u64,
    pub send_dropped: u64,
    pub relay_dropped: u64,
    pub rooms: u64,
    pub participants: u64,
    pub published_tracks: u64,
    pub peers_connecting: u64,
    pub peers_connected: u64,
}

impl WorkerMetrics {
    pub fn add(counter: &AtomicU64, n: u64) {
        counter.fetch_add(n, Relaxed);
    }

    pub fn set(gauge: &AtomicU64, n: u64) {
        gauge.store(n, Relaxed);
    }

    pub fn snapshot(&self) -> MetricsSnapshot {
        MetricsSnapshot {
            rtp_packets_received: self.rtp_packets_received.load(Relaxed),
            rtp_bytes_received: self.rtp_bytes_received.load(Relaxed),
            rtp_packets_forwarded: self.rtp_packets_forwarded.load(Relaxed),
            rtp_bytes_forwarded: self.rtp_bytes_forwarded.load(Relaxed),
            keyframe_requests_sent: self.keyframe_requests_sent.load(Relaxed),
            keyframe_requests_received: self.keyframe_requests_received.load(Relaxed),
            layer_switches: self.layer_switches.load(Relaxed),
            unroutable_datagrams: self.unroutable_datagrams.load(Relaxed),
            peer_panics: self.peer_panics.load(Relaxed),
            send_dropped: self.send_dropped.load(Relaxed),
            relay_dropped: self.relay_dropped.load(Relaxed),
            rooms: self.rooms.load(Relaxed),
            participants: self.participants.load(Relaxed),
            published_tracks: self.published_tracks.load(Relaxed),
            peers_connecting: self.peers_connecting.load(Relaxed),
            peers_connected: self.peers_connected.load(Relaxed),
        }
    }
}

impl std::ops::AddAssign for MetricsSnapshot {
    fn add_assign(&mut self, o: Self) {
        self.rtp_packets_received += o.rtp_packets_received;
        self.rtp_bytes_received += o.rtp_bytes_received;
        self.rtp_packets_forwarded += o.rtp_packets_forwarded;
        self.rtp_bytes_forwarded += o.rtp_bytes_forwarded;
        self.keyframe_requests_sent += o.keyframe_requests_sent;
        self.keyframe_requests_received += o.keyframe_requests_received;
        self.layer_switches += o.layer_switches;
        self.unroutable_datagrams += o.unroutable_datagrams;
        self.peer_panics += o.peer_panics;
        self.send_dropped += o.send_dropped;
        self.relay_dropped += o.relay_dropped;
        self.rooms += o.rooms;
        self.participants += o.participants;
        self.published_tracks += o.published_tracks;
        self.peers_connecting += o.peers_connecting;
        self.peers_connected += o.peers_connected;
    }
}
