//! The numbers of a run: per-second samples (CSV, plot) and the summary
//! (table, JSON). Field names of [`Report`] are the JSON contract scripts
//! compare runs by; add fields, do not rename them.

use std::fmt::Write as _;
use std::path::Path;

use serde::Serialize;

/// One second of the run.
#[derive(Debug, Clone, Copy, Default, Serialize)]
pub struct Sample {
    pub t_s: f64,
    pub joined: usize,
    /// Bots in their rooms (churn: below `joined`, which counts every cycle).
    pub present: usize,
    pub failed: usize,
    pub rx_mbps: f64,
    pub loss_percent: f64,
    pub latency_p50_ms: f64,
    pub latency_p99_ms: f64,
    pub server_cpu_percent: Option<f64>,
    pub server_rss_bytes: Option<f64>,
    pub forwarded_packets_per_s: Option<f64>,
    pub bot_cpu_percent: f64,
}

#[derive(Debug, Clone, Copy, Default, Serialize)]
pub struct Latency {
    pub p50: f64,
    pub p99: f64,
    pub max: f64,
}

#[derive(Debug, Clone, Copy, Default, Serialize)]
pub struct Jitter {
    pub mean: f64,
    pub max: f64,
}

/// Packets received per layer, and receiving tracks by their current layer.
#[derive(Debug, Clone, Copy, Default, Serialize)]
pub struct Layers {
    pub packets: [u64; 3],
    pub audio_packets: u64,
    pub tracks_at: [u64; 3],
}

/// The summary of a run.
#[derive(Debug, Clone, Default, Serialize)]
pub struct Report {
    pub scenario: String,
    pub command: String,
    /// Bots meant to be in their rooms at once.
    pub target: usize,
    /// Joins that succeeded (churn: over all cycles).
    pub joined: usize,
    pub failed: usize,
    /// Bots still in their rooms when the run ended.
    pub present: usize,
    pub failures: std::collections::BTreeMap<String, u64>,
    /// The run stopped early: why.
    pub stopped: Option<String>,
    /// What to do about the first failure that has advice (a refused
    /// token, a full room, timeouts).
    pub hint: Option<String>,
    pub duration_s: f64,
    /// Seconds from the first join to the last settled (null: not all joined).
    pub time_to_join_all_s: Option<f64>,
    /// Seconds of the steady window (after all joined) the rates are over.
    pub steady_s: f64,
    /// Join → first media packet, ms, over receiving bots.
    pub time_to_first_media_ms: Latency,
    pub join_ms: Latency,
    /// Loss after retransmission over the whole run, all receivers.
    pub loss_percent: f64,
    pub packets_received: u64,
    pub packets_lost: u64,
    /// End-to-end (send time in the payload → receipt), ms, over the steady window.
    pub latency_ms: Latency,
    pub latency_samples: u64,
    pub jitter_ms: Jitter,
    pub freezes: u64,
    pub subscribers: usize,
    pub rx_mbps_per_subscriber: f64,
    pub rx_mbps_total: f64,
    pub forwarded_packets_per_s: Option<f64>,
    /// Datagrams the server dropped on sending (`relais_send_dropped_total`)
    /// over the run: the server, not the bots, did not keep up.
    pub server_send_drops: Option<f64>,
    pub server_cpu_percent: Option<f64>,
    /// Of `server_cpu_percent`, the part in the kernel (`--server-pid`
    /// only): the send system calls and, on loopback, the receiving side of
    /// every datagram sent, which the sender's CPU pays for.
    pub server_cpu_system_percent: Option<f64>,
    pub server_cpu_us_per_forwarded_packet: Option<f64>,
    /// Datagrams the server sent per packet it forwarded: above 1 by its
    /// RTCP, retransmissions, padding and probes.
    pub server_datagrams_per_forwarded_packet: Option<f64>,
    /// `proc` (`--server-pid`, clock ticks) or `metrics` (whole seconds:
    /// imprecise over short runs).
    pub server_cpu_source: String,
    pub server_rss_bytes: Option<f64>,
    pub server_rss_start_bytes: Option<f64>,
    pub bot_cpu_percent: f64,
    /// Event loops that drove the bots (`--bot-threads`).
    pub bot_threads: usize,
    /// Of the time the bots' event loops wanted a CPU (steady window), the
    /// share they waited for one: high means the machine, not the server,
    /// held them back.
    pub bot_cpu_wait_percent: Option<f64>,
    /// Datagrams the kernel dropped because the bots' sockets were full
    /// (the bots did not keep up), over the run.
    pub bot_socket_drops: u64,
    pub bot_cpu_us_per_received_packet: Option<f64>,
    pub layers: Layers,
    /// Subscribers by the layer most of their video came on, and the
    /// server's downlink estimates for them (when it exports them).
    pub subscriber_layers: super::subscribers::Spread,
    /// The server's own view of its subscribers over the run (its aggregate
    /// quality metrics), when it exports them.
    pub server_quality: Option<super::server_quality::ServerQuality>,
    /// Each receiving bot at the end of the run.
    pub per_subscriber: Vec<super::subscribers::Subscriber>,
    #[serde(skip)]
    pub samples: Vec<Sample>,
}

fn opt(v: Option<f64>, unit: &str, digits: usize) -> String {
    v.map(|v| format!("{v:.digits$}{unit}"))
        .unwrap_or_else(|| "n/a".into())
}

impl Report {
    /// The table printed at the end.
    pub fn table(&self) -> String {
        let mut s = String::new();
        let mib = |b: Option<f64>| opt(b.map(|b| b / (1 << 20) as f64), " MiB", 1);
        let rows: Vec<(&str, String)> = vec![
            ("scenario", self.scenario.clone()),
            ("joins", self.joins()),
            ("time to join all", opt(self.time_to_join_all_s, " s", 1)),
            (
                "join p50 / p99",
                format!("{:.0} / {:.0} ms", self.join_ms.p50, self.join_ms.p99),
            ),
            (
                "first media p50 / p99",
                format!(
                    "{:.0} / {:.0} ms",
                    self.time_to_first_media_ms.p50, self.time_to_first_media_ms.p99
                ),
            ),
            (
                "duration (steady)",
                format!("{:.1} s ({:.1} s)", self.duration_s, self.steady_s),
            ),
            (
                "received per subscriber",
                format!(
                    "{:.3} Mbit/s ({} subscribers at the end, {:.1} Mbit/s in all)",
                    self.rx_mbps_per_subscriber, self.subscribers, self.rx_mbps_total
                ),
            ),
            (
                "loss after retransmission",
                format!(
                    "{:.3}% ({} of {})",
                    self.loss_percent,
                    self.packets_lost,
                    self.packets_lost + self.packets_received
                ),
            ),
            (
                "latency p50 / p99 / max",
                format!(
                    "{:.2} / {:.2} / {:.2} ms",
                    self.latency_ms.p50, self.latency_ms.p99, self.latency_ms.max
                ),
            ),
            (
                "jitter mean / max",
                format!("{:.2} / {:.2} ms", self.jitter_ms.mean, self.jitter_ms.max),
            ),
            ("freezes (> 500 ms)", self.freezes.to_string()),
            (
                "packets per layer",
                format!(
                    "low {} / medium {} / high {} / audio {}",
                    self.layers.packets[0],
                    self.layers.packets[1],
                    self.layers.packets[2],
                    self.layers.audio_packets
                ),
            ),
            (
                "tracks at layer",
                format!(
                    "low {} / medium {} / high {}",
                    self.layers.tracks_at[0], self.layers.tracks_at[1], self.layers.tracks_at[2]
                ),
            ),
            (
                "subscribers mostly at",
                format!(
                    "low {} / medium {} / high {}",
                    self.subscriber_layers.subscribers_mostly_at[0],
                    self.subscriber_layers.subscribers_mostly_at[1],
                    self.subscriber_layers.subscribers_mostly_at[2]
                ),
            ),
            ("downlink estimates", self.estimates()),
            ("server's view", self.server_view()),
            (
                "server forwarded",
                format!(
                    "{}, {} datagrams sent per forwarded packet, {} dropped on sending",
                    opt(self.forwarded_packets_per_s, " packets/s", 0),
                    opt(self.server_datagrams_per_forwarded_packet, "", 3),
                    opt(self.server_send_drops, "", 0)
                ),
            ),
            (
                "server CPU",
                format!(
                    "{} of one core{}, {} per forwarded packet (from {})",
                    opt(self.server_cpu_percent, "%", 1),
                    self.server_cpu_system_percent
                        .map(|k| format!(" ({k:.1}% in the kernel)"))
                        .unwrap_or_default(),
                    opt(self.server_cpu_us_per_forwarded_packet, " µs", 2),
                    self.server_cpu_source
                ),
            ),
            (
                "server memory",
                format!(
                    "{} max ({} at start)",
                    mib(self.server_rss_bytes),
                    mib(self.server_rss_start_bytes)
                ),
            ),
            (
                "bots' CPU (this process)",
                format!(
                    "{:.1}% of one core ({} event loop{}), {} per received packet",
                    self.bot_cpu_percent,
                    self.bot_threads,
                    if self.bot_threads == 1 { "" } else { "s" },
                    opt(self.bot_cpu_us_per_received_packet, " µs", 2)
                ),
            ),
            (
                "bots kept up?",
                format!(
                    "waited for a CPU {} of their runnable time; {} datagrams dropped on their sockets",
                    opt(self.bot_cpu_wait_percent, "%", 0),
                    self.bot_socket_drops
                ),
            ),
        ];
        for (k, v) in rows {
            let _ = writeln!(s, "  {k:<27} {v}");
        }
        for (k, n) in &self.failures {
            let _ = writeln!(s, "  {:<27} {n} × {k}", "failure");
        }
        if let Some(h) = self.hint.as_ref().filter(|_| self.stopped.is_none()) {
            let _ = writeln!(s, "  {:<27} {h}", "hint");
        }
        if let Some(why) = &self.stopped {
            let _ = writeln!(s, "  {:<27} {why}", "stopped");
        }
        s
    }

    fn server_view(&self) -> String {
        let Some(q) = &self.server_quality else {
            return "n/a (no quality metrics on /metrics)".into();
        };
        format!(
            "downtracks low {} / medium {} / high {} / paused {}; estimate p50 <= {}, \
             RTT p50 <= {}, loss p50 <= {} (histogram bucket bounds); {} bandwidth pauses, \
             {} freezes",
            q.downtracks_at_layer[0],
            q.downtracks_at_layer[1],
            q.downtracks_at_layer[2],
            q.downtracks_paused,
            opt(q.estimate_kbps_p50, " kbit/s", 0),
            opt(q.rtt_ms_p50, " ms", 1),
            opt(q.loss_percent_p50, "%", 1),
            q.bandwidth_pauses,
            q.freezes
        )
    }

    fn estimates(&self) -> String {
        let e = &self.subscriber_layers;
        match (
            e.estimate_kbps_p50,
            e.estimate_kbps_min,
            e.estimate_kbps_max,
        ) {
            (Some(p50), Some(min), Some(max)) => format!(
                "p50 {p50:.0} kbit/s, min {min:.0}, max {max:.0} ({} subscribers)",
                e.estimates
            ),
            _ => "n/a (the server exports none)".into(),
        }
    }

    fn joins(&self) -> String {
        if self.scenario == "churn" {
            format!(
                "{} succeeded over all cycles, {} failed; {} of {} in the room at the end",
                self.joined, self.failed, self.present, self.target
            )
        } else {
            format!(
                "{} of {} ({} failed)",
                self.joined, self.target, self.failed
            )
        }
    }

    pub fn write_json(&self, path: &Path) -> std::io::Result<()> {
        let text = serde_json::to_string_pretty(self).map_err(std::io::Error::other)?;
        std::fs::write(path, text + "\n")
    }

    pub fn write_csv(&self, path: &Path) -> std::io::Result<()> {
        let mut s = String::from(
            "t_s,joined,present,failed,rx_mbps,loss_percent,latency_p50_ms,latency_p99_ms,\
             server_cpu_percent,server_rss_bytes,forwarded_packets_per_s,bot_cpu_percent\n",
        );
        let o = |v: Option<f64>| v.map(|v| format!("{v:.3}")).unwrap_or_default();
        for x in &self.samples {
            let _ = writeln!(
                s,
                "{:.3},{},{},{},{:.4},{:.4},{:.3},{:.3},{},{},{},{:.2}",
                x.t_s,
                x.joined,
                x.present,
                x.failed,
                x.rx_mbps,
                x.loss_percent,
                x.latency_p50_ms,
                x.latency_p99_ms,
                o(x.server_cpu_percent),
                o(x.server_rss_bytes),
                o(x.forwarded_packets_per_s),
                x.bot_cpu_percent
            );
        }
        std::fs::write(path, s)
    }
}
