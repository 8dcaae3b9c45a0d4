//! The Prometheus registry behind `GET /metrics`: signaling's own counters,
//! the media core's numbers read at scrape time, and process metrics.

use std::sync::Arc;

use prometheus::core::{Collector, Desc};
use prometheus::proto::{self, MetricFamily, MetricType};
use prometheus::{
    Encoder, IntCounter, IntCounterVec, IntGauge, IntGaugeVec, Opts, Registry, TextEncoder,
};
use relais_sfu::metrics::{
    HistogramSnapshot, BOUNDS, ESTIMATE_BOUNDS_BPS, LOSS_BOUNDS_PPM, RTT_BOUNDS_MS,
};
use relais_sfu::Sfu;

use crate::error::code_name;
use crate::protocol::ErrorCode;

pub struct Metrics {
    registry: Registry,
    pub websocket_connections: IntGauge,
    errors: IntCounterVec,
}

impl Metrics {
    pub fn new(sfu: Arc<Sfu>) -> Self {
        let registry = Registry::new();
        let websocket_connections = IntGauge::new(
            "relais_websocket_connections",
            "Open signaling WebSocket connections",
        )
        .expect("valid metric");
        let errors = IntCounterVec::new(
            Opts::new(
                "relais_signaling_errors_total",
                "Error messages sent to clients, by code",
            ),
            &["code"],
        )
        .expect("valid metric");
        registry
            .register(Box::new(websocket_connections.clone()))
            .expect("registered once");
        registry
            .register(Box::new(errors.clone()))
            .expect("registered once");
        registry
            .register(Box::new(CoreCollector::new(sfu)))
            .expect("registered once");
        #[cfg(target_os = "linux")]
        registry
            .register(Box::new(
                prometheus::process_collector::ProcessCollector::for_self(),
            ))
            .expect("registered once");
        Metrics {
            registry,
            websocket_connections,
            errors,
        }
    }

    pub fn count_error(&self, code: ErrorCode) {
        self.errors.with_label_values(&[&code_name(code)]).inc();
    }

    /// Every metric in the Prometheus text format.
    pub fn render(&self) -> String {
        let mut buf = Vec::new();
        TextEncoder::new()
            .encode(&self.registry.gather(), &mut buf)
            .expect("text encoding into a Vec cannot fail");
        String::from_utf8(buf).expect("the text format is UTF-8")
    }
}

/// The media core's metrics, summed over workers when scraped.
struct CoreCollector {
    sfu: Arc<Sfu>,
    rooms: IntGauge,
    participants: IntGauge,
    published_tracks: IntGauge,
    peers: IntGaugeVec,
    packets_received: IntCounter,
    bytes_received: IntCounter,
    packets_forwarded: IntCounter,
    bytes_forwarded: IntCounter,
    keyframe_requests: IntCounterVec,
    layer_switches: IntCounter,
    unroutable: IntCounter,
    peer_panics: IntCounter,
    datagrams_sent: IntCounter,
    send_dropped: IntCounter,
    peer_timeouts: IntCounter,
    relay_dropped: IntCounter,
    downtracks: IntGaugeVec,
    bandwidth_pauses: IntCounter,
    freezes: IntCounter,
    dynacast_paused_layers: IntGauge,
    audio_silenced: IntGauge,
    histograms: [CoreHistogram; 3],
    descs: Vec<Desc>,
}

/// A histogram the workers fill (per subscriber, no participant labels),
/// exported with its bounds turned into the metric's unit.
struct CoreHistogram {
    name: &'static str,
    help: &'static str,
    bounds: [u64; BOUNDS],
    /// Divides the workers' integer values into the metric's unit.
    scale: f64,
}

impl CoreHistogram {
    fn desc(&self) -> Desc {
        Desc::new(
            self.name.to_string(),
            self.help.to_string(),
            vec![],
            Default::default(),
        )
        .expect("valid metric")
    }

    fn family(&self, s: &HistogramSnapshot) -> MetricFamily {
        let mut cumulative = 0;
        let buckets = self
            .bounds
            .iter()
            .zip(s.counts)
            .map(|(bound, n)| {
                cumulative += n;
                let mut b = proto::Bucket::default();
                b.set_upper_bound(*bound as f64 / self.scale);
                b.set_cumulative_count(cumulative);
                b
            })
            .collect();
        let mut h = proto::Histogram::default();
        h.set_bucket(buckets);
        h.set_sample_count(s.count());
        h.set_sample_sum(s.sum as f64 / self.scale);
        let mut m = proto::Metric::default();
        m.set_histogram(h);
        let mut f = MetricFamily::default();
        f.set_name(self.name.to_string());
        f.set_help(self.help.to_string());
        f.set_field_type(MetricType::HISTOGRAM);
        f.set_metric(vec![m]);
        f
    }
}

fn gauge(name: &str, help: &str) -> IntGauge {
    IntGauge::new(name, help).expect("valid metric")
}

fn counter(name: &str, help: &str) -> IntCounter {
    IntCounter::new(name, help).expect("valid metric")
}

impl CoreCollector {
    fn new(sfu: Arc<Sfu>) -> Self {
        let mut c = CoreCollector {
            sfu,
            rooms: gauge("relais_rooms", "Rooms on the media workers"),
            participants: gauge("relais_participants", "Participants on the media workers"),
            published_tracks: gauge("relais_published_tracks", "Tracks being published"),
            peers: IntGaugeVec::new(
                Opts::new("relais_peers", "Peer connections by state"),
                &["state"],
            )
            .expect("valid metric"),
            packets_received: counter(
                "relais_rtp_packets_received_total",
                "RTP packets received from publishers",
            ),
            bytes_received: counter(
                "relais_rtp_bytes_received_total",
                "RTP payload bytes received from publishers",
            ),
            packets_forwarded: counter(
                "relais_rtp_packets_forwarded_total",
                "RTP packets forwarded to subscribers",
            ),
            bytes_forwarded: counter(
                "relais_rtp_bytes_forwarded_total",
                "RTP payload bytes forwarded to subscribers",
            ),
            keyframe_requests: IntCounterVec::new(
                Opts::new(
                    "relais_keyframe_requests_total",
                    "Keyframe requests (PLI/FIR): sent to publishers, received from subscribers",
                ),
                &["direction"],
            )
            .expect("valid metric"),
            layer_switches: counter(
                "relais_layer_switches_total",
                "Simulcast layer switches completed at a keyframe",
            ),
            unroutable: counter(
                "relais_unroutable_datagrams_total",
                "UDP datagrams that no peer accepted",
            ),
            peer_panics: counter(
                "relais_peer_panics_total",
                "Peers dropped after a panic in their state machine",
            ),
            datagrams_sent: counter(
                "relais_datagrams_sent_total",
                "UDP datagrams the workers sent: media, RTCP, retransmissions, padding, ICE, DTLS",
            ),
            send_dropped: counter(
                "relais_send_dropped_total",
                "Datagrams dropped because a worker's UDP send buffer was full",
            ),
            peer_timeouts: counter(
                "relais_peer_timeouts_total",
                "Peer deadlines the workers' timers met (str0m timeouts)",
            ),
            relay_dropped: counter(
                "relais_relay_dropped_total",
                "Packets for another worker dropped because its queue was full",
            ),
            downtracks: IntGaugeVec::new(
                Opts::new(
                    "relais_downtracks",
                    "Video tracks sent to subscribers, by the simulcast layer forwarded now",
                ),
                &["layer"],
            )
            .expect("valid metric"),
            bandwidth_pauses: counter(
                "relais_bandwidth_pauses_total",
                "Video tracks paused because a subscriber's downlink could not carry them",
            ),
            freezes: counter(
                "relais_video_freezes_total",
                "Video tracks that stopped reaching a subscriber for a second or more",
            ),
            dynacast_paused_layers: gauge(
                "relais_dynacast_paused_layers",
                "Simulcast layers publishers were told to pause because nobody receives them",
            ),
            audio_silenced: gauge(
                "relais_audio_top_n_silenced_tracks",
                "Audio tracks not forwarded now: not among the loudest of a large room",
            ),
            histograms: [
                CoreHistogram {
                    name: "relais_downlink_estimate_bps",
                    help: "Subscribers' downlink bandwidth estimates, sampled every 0.25 s",
                    bounds: ESTIMATE_BOUNDS_BPS,
                    scale: 1.0,
                },
                CoreHistogram {
                    name: "relais_downlink_rtt_seconds",
                    help: "Subscribers' round-trip times, sampled every 0.25 s",
                    bounds: RTT_BOUNDS_MS,
                    scale: 1e3,
                },
                CoreHistogram {
                    name: "relais_downlink_loss_ratio",
                    help: "Share of packets subscribers report lost before repair, sampled every 0.25 s",
                    bounds: LOSS_BOUNDS_PPM,
                    scale: 1e6,
                },
            ],
            descs: Vec::new(),
        };
        c.descs = c
            .parts()
            .iter()
            .flat_map(|m| m.desc().into_iter().cloned())
            .chain(c.histograms.iter().map(CoreHistogram::desc))
            .collect();
        c
    }

    fn parts(&self) -> Vec<&dyn Collector> {
        vec![
            &self.rooms,
            &self.participants,
            &self.published_tracks,
            &self.peers,
            &self.packets_received,
            &self.bytes_received,
            &self.packets_forwarded,
            &self.bytes_forwarded,
            &self.keyframe_requests,
            &self.layer_switches,
            &self.unroutable,
            &self.peer_panics,
            &self.datagrams_sent,
            &self.send_dropped,
            &self.peer_timeouts,
            &self.relay_dropped,
            &self.downtracks,
            &self.bandwidth_pauses,
            &self.freezes,
            &self.dynacast_paused_layers,
            &self.audio_silenced,
        ]
    }
}

fn set_counter(c: &IntCounter, v: u64) {
    c.reset();
    c.inc_by(v);
}

fn gauge_value(v: u64) -> i64 {
    i64::try_from(v).unwrap_or(i64::MAX)
}

impl Collector for CoreCollector {
    fn desc(&self) -> Vec<&Desc> {
        self.descs.iter().collect()
    }

    fn collect(&self) -> Vec<MetricFamily> {
        let m = self.sfu.metrics();
        self.rooms.set(gauge_value(m.rooms));
        self.participants.set(gauge_value(m.participants));
        self.published_tracks.set(gauge_value(m.published_tracks));
        self.peers
            .with_label_values(&["connecting"])
            .set(gauge_value(m.peers_connecting));
        self.peers
            .with_label_values(&["connected"])
            .set(gauge_value(m.peers_connected));
        set_counter(&self.packets_received, m.rtp_packets_received);
        set_counter(&self.bytes_received, m.rtp_bytes_received);
        set_counter(&self.packets_forwarded, m.rtp_packets_forwarded);
        set_counter(&self.bytes_forwarded, m.rtp_bytes_forwarded);
        set_counter(
            &self.keyframe_requests.with_label_values(&["sent"]),
            m.keyframe_requests_sent,
        );
        set_counter(
            &self.keyframe_requests.with_label_values(&["received"]),
            m.keyframe_requests_received,
        );
        set_counter(&self.layer_switches, m.layer_switches);
        set_counter(&self.unroutable, m.unroutable_datagrams);
        set_counter(&self.peer_panics, m.peer_panics);
        set_counter(&self.datagrams_sent, m.datagrams_sent);
        set_counter(&self.send_dropped, m.send_dropped);
        set_counter(&self.peer_timeouts, m.peer_timeouts);
        set_counter(&self.relay_dropped, m.relay_dropped);
        for (layer, n) in ["0", "1", "2", "paused"].iter().zip(m.downtracks_by_layer) {
            self.downtracks
                .with_label_values(&[*layer])
                .set(gauge_value(n));
        }
        set_counter(&self.bandwidth_pauses, m.bandwidth_pauses);
        set_counter(&self.freezes, m.freezes);
        self.dynacast_paused_layers
            .set(gauge_value(m.dynacast_paused_layers));
        self.audio_silenced.set(gauge_value(m.audio_silenced));
        let snapshots = [m.downlink_estimate, m.downlink_rtt, m.downlink_loss];
        let histograms = self.histograms.iter().zip(&snapshots);
        self.parts()
            .iter()
            .flat_map(|c| c.collect())
            .chain(histograms.map(|(h, s)| h.family(s)))
            .collect()
    }
}
