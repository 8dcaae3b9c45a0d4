//! The command line of `relais-load`: one subcommand per scenario, each with
//! the common options (server, duration, ramp, media, outputs).

use std::path::PathBuf;
use std::time::Duration;

use clap::{Args, Parser, Subcommand, ValueEnum};

use crate::protocol::Quality;

/// Bots that load-test a Relais server: they join as clients do (WebSocket
/// signaling, WebRTC), publish synthetic VP8 simulcast and Opus-sized audio,
/// and measure what they receive.
#[derive(Debug, Clone, Parser)]
#[command(name = "relais-load", version)]
pub struct Cli {
    #[command(subcommand)]
    pub scenario: Scenario,
}

#[derive(Debug, Clone, Subcommand)]
pub enum Scenario {
    /// P presenters publish to N attendees in one webinar room.
    Webinar(WebinarArgs),
    /// R rooms of P participants, everyone publishing and receiving everyone else.
    Meeting(MeetingArgs),
    /// Participants join and leave in cycles while one stream runs (to find leaks).
    Churn(ChurnArgs),
}

impl Scenario {
    pub fn name(&self) -> &'static str {
        match self {
            Scenario::Webinar(_) => "webinar",
            Scenario::Meeting(_) => "meeting",
            Scenario::Churn(_) => "churn",
        }
    }

    pub fn common(&self) -> &Common {
        match self {
            Scenario::Webinar(a) => &a.common,
            Scenario::Meeting(a) => &a.common,
            Scenario::Churn(a) => &a.common,
        }
    }

    pub fn common_mut(&mut self) -> &mut Common {
        match self {
            Scenario::Webinar(a) => &mut a.common,
            Scenario::Meeting(a) => &mut a.common,
            Scenario::Churn(a) => &mut a.common,
        }
    }
}

#[derive(Debug, Clone, Args)]
pub struct WebinarArgs {
    /// Attendees (receive only).
    #[arg(long, default_value_t = 350)]
    pub attendees: usize,
    /// Presenters (publish camera and microphone).
    #[arg(long, default_value_t = 1)]
    pub presenters: usize,
    #[command(flatten)]
    pub common: Common,
}

#[derive(Debug, Clone, Args)]
pub struct MeetingArgs {
    /// Rooms.
    #[arg(long, default_value_t = 20)]
    pub rooms: usize,
    /// Participants per room; each publishes and receives all the others.
    #[arg(long, default_value_t = 5)]
    pub participants: usize,
    /// `grid`: the others at medium quality; `speaker`: the first
    /// participant at high, the others at low. `--layer` overrides both.
    #[arg(long, value_enum, default_value_t = Layout::Grid)]
    pub layout: Layout,
    #[command(flatten)]
    pub common: Common,
}

#[derive(Debug, Clone, Args)]
pub struct ChurnArgs {
    /// Participants cycling in and out (besides the one publisher).
    #[arg(long, default_value_t = 20)]
    pub participants: usize,
    /// Seconds each participant stays before leaving.
    #[arg(long, default_value_t = 5.0)]
    pub stay: f64,
    /// Seconds between leaving and joining again.
    #[arg(long, default_value_t = 1.0)]
    pub pause: f64,
    #[command(flatten)]
    pub common: Common,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum Layout {
    Grid,
    Speaker,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum Codec {
    Vp8,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum Layer {
    Low,
    Medium,
    High,
}

impl From<Layer> for Quality {
    fn from(l: Layer) -> Quality {
        match l {
            Layer::Low => Quality::Low,
            Layer::Medium => Quality::Medium,
            Layer::High => Quality::High,
        }
    }
}

/// Options every scenario takes.
#[derive(Debug, Clone, Args)]
pub struct Common {
    /// The server: its HTTP base (`http://127.0.0.1:8080`) or its WebSocket
    /// URL (`ws://127.0.0.1:8080/ws`). Metrics are read from `/metrics` there.
    #[arg(long, env = "RELAIS_URL", default_value = "http://127.0.0.1:8080")]
    pub url: String,
    /// Seconds the run lasts, ramp included; it ends by itself.
    #[arg(long, default_value_t = 30.0)]
    pub duration: f64,
    /// Joins started per second.
    #[arg(long, default_value_t = 25.0)]
    pub ramp: f64,
    /// The server's token secret; without it, development mode (role and
    /// mode claimed in the join).
    #[arg(long, env = "RELAIS_SECRET", hide_env_values = true)]
    pub secret: Option<String>,
    /// Prefix of the room names (a random run id follows).
    #[arg(long, default_value = "load")]
    pub room: String,
    /// Video bitrate of the low layer (320x180), kbit/s.
    #[arg(long, default_value_t = 150)]
    pub low_kbps: u64,
    /// Video bitrate of the medium layer (640x360), kbit/s.
    #[arg(long, default_value_t = 500)]
    pub medium_kbps: u64,
    /// Video bitrate of the high layer (1280x720), kbit/s.
    #[arg(long, default_value_t = 1500)]
    pub high_kbps: u64,
    /// Number of simulcast layers published (1 to 3, lowest first).
    #[arg(long, default_value_t = 3, value_parser = clap::value_parser!(u8).range(1..=3))]
    pub layers: u8,
    #[arg(long, value_enum, default_value_t = Codec::Vp8)]
    pub codec: Codec,
    /// Publish video only.
    #[arg(long)]
    pub no_audio: bool,
    /// The layer receivers ask for (webinar default: high; meeting: by layout).
    #[arg(long, value_enum)]
    pub layer: Option<Layer>,
    /// Seconds a join (connect + joined) may take before it counts as failed.
    #[arg(long, default_value_t = 10.0)]
    pub join_timeout: f64,
    /// Write the summary as JSON.
    #[arg(long, value_name = "FILE")]
    pub json: Option<PathBuf>,
    /// Write one line per second of samples as CSV.
    #[arg(long, value_name = "FILE")]
    pub csv: Option<PathBuf>,
    /// Draw bitrate, loss and latency over time as SVG.
    #[arg(long, value_name = "FILE.svg")]
    pub plot: Option<PathBuf>,
    /// The server's process id, when it runs on this machine: its CPU time
    /// is read from /proc/PID/stat (clock ticks) rather than from
    /// `process_cpu_seconds_total` (whole seconds).
    #[arg(long, value_name = "PID")]
    pub server_pid: Option<u32>,
    /// The bots' address (their ICE candidates). Default: the address this
    /// machine reaches the server from (127.0.0.1 for a server on loopback,
    /// where each connection then gets its own 127.1.x.y).
    #[arg(long, value_name = "IP")]
    pub bind_ip: Option<std::net::IpAddr>,
    /// Event loops (threads) driving the bots' connections. One drives
    /// hundreds of bots; two (the default) spread a large fleet over two
    /// cores and keep up better on a machine shared with other work.
    #[arg(long, default_value_t = 2, value_parser = clap::value_parser!(u16).range(1..=64))]
    pub bot_threads: u16,
    /// No live progress display.
    #[arg(long, short)]
    pub quiet: bool,
}

impl Common {
    pub fn duration(&self) -> Duration {
        Duration::from_secs_f64(self.duration.clamp(0.5, 86_400.0))
    }

    pub fn join_timeout(&self) -> Duration {
        Duration::from_secs_f64(self.join_timeout.clamp(0.5, 120.0))
    }

    /// Interval between join starts.
    pub fn join_interval(&self) -> Duration {
        Duration::from_secs_f64(1.0 / self.ramp.clamp(0.01, 10_000.0))
    }
}

/// The WebSocket URL and the `host:port` of the server, from `--url`.
pub fn server_endpoints(url: &str) -> Result<(String, String), String> {
    let (scheme, rest) = url
        .split_once("://")
        .ok_or_else(|| format!("--url {url}: expected http://host:port or ws://host:port/ws"))?;
    let (host, path) = match rest.find('/') {
        Some(i) => (&rest[..i], &rest[i..]),
        None => (rest, ""),
    };
    if host.is_empty() {
        return Err(format!("--url {url}: no host"));
    }
    let ws = match scheme {
        "ws" if !path.is_empty() && path != "/" => format!("ws://{host}{path}"),
        "ws" | "http" => format!("ws://{host}/ws"),
        other => {
            return Err(format!(
                "--url {url}: scheme {other} is not supported (use http or ws)"
            ))
        }
    };
    Ok((ws, host.to_string()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn endpoints_from_http_and_ws() {
        assert_eq!(
            server_endpoints("http://127.0.0.1:8080").unwrap(),
            ("ws://127.0.0.1:8080/ws".into(), "127.0.0.1:8080".into())
        );
        assert_eq!(
            server_endpoints("ws://127.0.0.1:9/ws").unwrap(),
            ("ws://127.0.0.1:9/ws".into(), "127.0.0.1:9".into())
        );
        assert!(server_endpoints("127.0.0.1:8080").is_err());
        assert!(server_endpoints("https://x").is_err());
    }
}
