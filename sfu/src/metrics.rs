//! Counters a worker updates as it runs and signaling reads at scrape time.
//!
//! Each worker owns one `WorkerMetrics`; only that worker writes it, with
//! relaxed atomic adds, so reading never stops the media path. Per-subscriber
//! numbers (downlink estimate, loss, round trip) are histograms over all
//! subscribers, sampled at each subscriber's stats tick: no label names a
//! participant.

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
    /// Datagrams handed to the socket: forwarded media, and also RTCP,
    /// retransmissions, padding and probes, ICE and DTLS.
    pub datagrams_sent: AtomicU64,
    /// Datagrams dropped because the socket's send buffer was full.
    pub send_dropped: AtomicU64,
    /// Peer deadlines the worker's timer met (str0m's timeouts: estimator,
    /// pacer, reports, ICE, DTLS, statistics).
    pub peer_timeouts: AtomicU64,
    /// Messages to another worker dropped because its queue was full.
    pub relay_dropped: AtomicU64,
    pub rooms: AtomicU64,
    pub participants: AtomicU64,
    pub published_tracks: AtomicU64,
    pub peers_connecting: AtomicU64,
    pub peers_connected: AtomicU64,
    /// Subscribers' downlink estimates, in bit/s (bounds: [`ESTIMATE_BOUNDS_BPS`]).
    pub downlink_estimate: Histogram,
    /// Subscribers' round trips, in ms (bounds: [`RTT_BOUNDS_MS`]).
    pub downlink_rtt: Histogram,
    /// Share of packets subscribers reported lost before repair, in parts
    /// per million (bounds: [`LOSS_BOUNDS_PPM`]).
    pub downlink_loss: Histogram,
    /// Video downtracks by the layer they forward now: 0, 1, 2, then paused.
    pub downtracks_by_layer: [AtomicU64; 4],
    /// Video tracks the allocator paused because a downlink could not carry them.
    pub bandwidth_pauses: AtomicU64,
    /// Video downtracks that stopped for a second or more while they should flow.
    pub freezes: AtomicU64,
    /// Simulcast layers of local publishers that dynacast paused (nobody needs them).
    pub dynacast_paused_layers: AtomicU64,
    /// Local audio tracks audio top-N does not forward now (not among the loudest).
    pub audio_silenced: AtomicU64,
}

/// Upper bounds of the estimate histogram's buckets, in bit/s.
pub const ESTIMATE_BOUNDS_BPS: [u64; BOUNDS] = [
    100_000, 250_000, 500_000, 1_000_000, 2_000_000, 3_000_000, 5_000_000, 10_000_000,
];
/// Upper bounds of the round-trip histogram's buckets, in ms.
pub const RTT_BOUNDS_MS: [u64; BOUNDS] = [10, 25, 50, 100, 200, 400, 800, 1600];
/// Upper bounds of the loss histogram's buckets, in parts per million.
pub const LOSS_BOUNDS_PPM: [u64; BOUNDS] = [
    1_000, 10_000, 20_000, 50_000, 100_000, 200_000, 500_000, 1_000_000,
];
/// Buckets of every histogram, besides the last one (+Inf).
pub const BOUNDS: usize = 8;

/// A histogram of fixed buckets that one thread writes with relaxed adds.
#[derive(Debug, Default)]
pub struct Histogram {
    /// Observations per bucket, not cumulative; the last is above every bound.
    counts: [AtomicU64; BOUNDS + 1],
    sum: AtomicU64,
}

/// A plain copy of a histogram.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub struct HistogramSnapshot {
    pub counts: [u64; BOUNDS + 1],
    pub sum: u64,
}

impl Histogram {
    pub fn observe(&self, bounds: &[u64; BOUNDS], value: u64) {
        let i = bounds.iter().position(|b| value <= *b).unwrap_or(BOUNDS);
        self.counts[i].fetch_add(1, Relaxed);
        self.sum.fetch_add(value, Relaxed);
    }

    pub fn snapshot(&self) -> HistogramSnapshot {
        HistogramSnapshot {
            counts: std::array::from_fn(|i| self.counts[i].load(Relaxed)),
            sum: self.sum.load(Relaxed),
        }
    }
}

impl HistogramSnapshot {
    pub fn count(&self) -> u64 {
        self.counts.iter().sum()
    }
}

impl std::ops::AddAssign for HistogramSnapshot {
    fn add_assign(&mut self, o: Self) {
        for (a, b) in self.counts.iter_mut().zip(o.counts) {
            *a += b;
        }
        self.sum += o.sum;
    }
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
    pub datagrams_sent: u64,
    pub send_dropped: u64,
    pub peer_timeouts: u64,
    pub relay_dropped: u64,
    pub rooms: u64,
    pub participants: u64,
    pub published_tracks: u64,
    pub peers_connecting: u64,
    pub peers_connected: u64,
    pub downlink_estimate: HistogramSnapshot,
    pub downlink_rtt: HistogramSnapshot,
    pub downlink_loss: HistogramSnapshot,
    pub downtracks_by_layer: [u64; 4],
    pub bandwidth_pauses: u64,
    pub freezes: u64,
    pub dynacast_paused_layers: u64,
    pub audio_silenced: u64,
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
            datagrams_sent: self.datagrams_sent.load(Relaxed),
            send_dropped: self.send_dropped.load(Relaxed),
            peer_timeouts: self.peer_timeouts.load(Relaxed),
            relay_dropped: self.relay_dropped.load(Relaxed),
            rooms: self.rooms.load(Relaxed),
            participants: self.participants.load(Relaxed),
            published_tracks: self.published_tracks.load(Relaxed),
            peers_connecting: self.peers_connecting.load(Relaxed),
            peers_connected: self.peers_connected.load(Relaxed),
            downlink_estimate: self.downlink_estimate.snapshot(),
            downlink_rtt: self.downlink_rtt.snapshot(),
            downlink_loss: self.downlink_loss.snapshot(),
            downtracks_by_layer: std::array::from_fn(|i| self.downtracks_by_layer[i].load(Relaxed)),
            bandwidth_pauses: self.bandwidth_pauses.load(Relaxed),
            freezes: self.freezes.load(Relaxed),
            dynacast_paused_layers: self.dynacast_paused_layers.load(Relaxed),
            audio_silenced: self.audio_silenced.load(Relaxed),
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
        self.datagrams_sent += o.datagrams_sent;
        self.send_dropped += o.send_dropped;
        self.peer_timeouts += o.peer_timeouts;
        self.relay_dropped += o.relay_dropped;
        self.rooms += o.rooms;
        self.participants += o.participants;
        self.published_tracks += o.published_tracks;
        self.peers_connecting += o.peers_connecting;
        self.peers_connected += o.peers_connected;
        self.downlink_estimate += o.downlink_estimate;
        self.downlink_rtt += o.downlink_rtt;
        self.downlink_loss += o.downlink_loss;
        for (a, b) in self
            .downtracks_by_layer
            .iter_mut()
            .zip(o.downtracks_by_layer)
        {
            *a += b;
        }
        self.bandwidth_pauses += o.bandwidth_pauses;
        self.freezes += o.freezes;
        self.dynacast_paused_layers += o.dynacast_paused_layers;
        self.audio_silenced += o.audio_silenced;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_histogram_counts_each_value_in_its_bucket() {
        let h = Histogram::default();
        h.observe(&RTT_BOUNDS_MS, 5);
        h.observe(&RTT_BOUNDS_MS, 50);
        h.observe(&RTT_BOUNDS_MS, 51);
        h.observe(&RTT_BOUNDS_MS, 5000);
        let s = h.snapshot();
        assert_eq!(s.counts, [1, 0, 1, 1, 0, 0, 0, 0, 1]);
        assert_eq!((s.count(), s.sum), (4, 5106));
    }
}
