//! `relais-load`: the load-testing tool built on the bots. A scenario
//! driver ([`scenario`]) joins bots at `--ramp` per second into the
//! [`fleet::Fleet`]; [`run`] samples every second what the receiving bots
//! got (loss after retransmission, end-to-end latency into an HDR
//! histogram, bitrate), the server's `/metrics` (CPU, memory, forwarded
//! packets, per-subscriber estimates), this process's CPU and whether the
//! bots kept up, shows progress, and ends at `--duration` or Ctrl-C with a
//! [`report::Report`].
//!
//! Signaling and sampling run on one tokio runtime, the bots' media on the
//! bots' event loops ([`crate::engine`]); every wait has a timeout, so a run
//! always ends. The bots' cost is measured on this process alone, so run
//! the server as a separate process to tell the two apart.

pub mod cli;
pub mod fleet;
pub mod http_get;
mod metrics_text;
mod plot;
pub mod probe;
pub mod report;
mod room_report;
pub mod scenario;
pub mod server_quality;
pub mod subscribers;

use std::sync::Arc;
use std::time::{Duration, Instant};

use futures_util::future::join_all;
use hdrhistogram::Histogram;
use indicatif::{ProgressBar, ProgressDrawTarget, ProgressStyle};

pub use cli::{Cli, Scenario};
use fleet::{Fleet, Totals};
use probe::ServerSample;
pub use report::{Report, Sample};

/// How often the run samples.
pub const SAMPLE_EVERY: Duration = Duration::from_secs(1);
/// How long one round of receipts from all bots may take.
const COLLECT_TIMEOUT: Duration = Duration::from_secs(5);
/// How long the bots get to leave at the end.
const LEAVE_TIMEOUT: Duration = Duration::from_secs(10);
/// How long the first connection to the server may take.
const CONNECT_TIMEOUT: Duration = Duration::from_secs(3);

/// Latencies in µs, up to a minute.
fn histogram() -> Histogram<u64> {
    Histogram::new_with_bounds(1, 60_000_000, 3).expect("valid histogram bounds")
}

fn ms(h: &Histogram<u64>, q: f64) -> f64 {
    if h.is_empty() {
        0.0
    } else {
        h.value_at_quantile(q) as f64 / 1000.0
    }
}

fn summary(h: &Histogram<u64>) -> report::Latency {
    report::Latency {
        p50: ms(h, 0.5),
        p99: ms(h, 0.99),
        max: if h.is_empty() {
            0.0
        } else {
            h.max() as f64 / 1000.0
        },
    }
}

fn durations(v: &[Duration]) -> report::Latency {
    let mut h = histogram();
    for d in v {
        h.saturating_record(d.as_micros().max(1) as u64);
    }
    summary(&h)
}

/// What one sampling round saw.
#[derive(Debug, Clone, Copy)]
struct Point {
    at: Instant,
    totals: Totals,
    server: Option<ServerSample>,
    bot_cpu: f64,
    bots: probe::BotSample,
}

/// The sampler's state across rounds.
struct Sampler {
    fleet: Arc<Fleet>,
    host: String,
    server_pid: Option<u32>,
    started: Instant,
    /// Latency records before this were taken in an earlier round.
    cut: Instant,
    all: Histogram<u64>,
    steady: Histogram<u64>,
    steady_from: Option<Point>,
    first: Point,
    prev: Point,
    rss_max: Option<f64>,
    layers_at: [u64; 3],
    subscribers: usize,
    /// Receiving bots summed over the steady rounds, and those rounds (for
    /// the mean number receiving, which churn makes vary).
    subscriber_rounds: (usize, usize),
    samples: Vec<Sample>,
    metrics_error: Option<String>,
    /// The receiving bots as the latest round saw them.
    per_subscriber: Vec<subscribers::Subscriber>,
    /// The server's downlink estimates at the latest scrape.
    estimates: std::collections::BTreeMap<String, f64>,
    /// The server's secret, to read its rooms' downlink reports as host.
    secret: Option<String>,
    /// The server's quality series at the first and the latest scrape.
    quality: (
        Option<server_quality::QualityScrape>,
        Option<server_quality::QualityScrape>,
    ),
}

impl Sampler {
    async fn round(&mut self) -> Point {
        let now = Instant::now();
        let members: Vec<_> = self
            .fleet
            .members()
            .into_iter()
            .filter(|m| m.receives)
            .collect();
        let receipts = tokio::time::timeout(
            COLLECT_TIMEOUT,
            join_all(members.iter().map(|m| m.handle.receipts_since(self.cut))),
        )
        .await
        .unwrap_or_default();
        let mut totals = self.fleet.retired();
        let mut second = histogram();
        let mut layers_at = [0u64; 3];
        self.per_subscriber.clear();
        for (m, rs) in members.iter().zip(&receipts) {
            self.per_subscriber
                .push(subscribers::Subscriber::from_receipts(
                    m.handle.participant_id(),
                    rs,
                    m.started,
                    now,
                ));
            let mut first_at: Option<Instant> = None;
            for r in rs.values() {
                totals.add_receipt(r);
                if let Some(l) = r.current_layer().filter(|l| *l < 3) {
                    layers_at[usize::from(l)] += 1;
                }
                first_at = match (first_at, r.first_at) {
                    (Some(a), Some(b)) => Some(a.min(b)),
                    (a, b) => a.or(b),
                };
                for p in r.since(self.cut).filter(|p| p.at < now) {
                    if let Some(l) = p.latency {
                        let us = l.as_micros().max(1) as u64;
                        second.saturating_record(us);
                        self.all.saturating_record(us);
                        if self.steady_from.is_some() {
                            self.steady.saturating_record(us);
                        }
                    }
                }
            }
            if let Some(t) = first_at {
                if !self.fleet.has_first_media(m.id) {
                    self.fleet
                        .note_first_media(m.id, t.saturating_duration_since(m.started));
                }
            }
        }
        self.cut = now;
        self.layers_at = layers_at;
        self.subscribers = members.len();
        if self.steady_from.is_some() {
            self.subscriber_rounds.0 += members.len();
            self.subscriber_rounds.1 += 1;
        }
        let mut rooms: Vec<String> = members
            .iter()
            .map(|m| m.handle.joined().room.clone())
            .collect();
        rooms.sort();
        rooms.dedup();
        let reports = join_all(
            rooms
                .iter()
                .map(|r| room_report::estimates(&self.host, r, self.secret.as_deref())),
        )
        .await;
        let server = match probe::scrape(&self.host, self.server_pid).await {
            Ok(s) => {
                self.estimates = s.estimates;
                // The room API's report where the server has one.
                for estimates in reports.into_iter().flatten() {
                    self.estimates.extend(estimates);
                }
                self.quality.1 = Some(s.quality);
                Some(s.sample)
            }
            Err(e) => {
                self.metrics_error.get_or_insert(e);
                None
            }
        };
        if let Some(s) = server {
            self.rss_max = Some(self.rss_max.unwrap_or(0.0).max(s.rss_bytes));
        }
        let point = Point {
            at: now,
            totals,
            server,
            bot_cpu: probe::own_cpu_seconds(),
            bots: probe::bot_sample(),
        };
        let dt = now.duration_since(self.prev.at).as_secs_f64().max(1e-3);
        let (a, b) = (&self.prev.totals, &point.totals);
        let expected = (b.packets + b.lost).saturating_sub(a.packets + a.lost);
        let server_rate = |f: fn(&ServerSample) -> f64| match (self.prev.server, server) {
            (Some(p), Some(s)) => Some((f(&s) - f(&p)).max(0.0) / dt),
            _ => None,
        };
        self.samples.push(Sample {
            t_s: now.duration_since(self.started).as_secs_f64(),
            joined: self.fleet.joined(),
            present: self.fleet.present(),
            failed: self.fleet.failed(),
            rx_mbps: b.bytes.saturating_sub(a.bytes) as f64 * 8.0 / 1e6 / dt,
            loss_percent: if expected == 0 {
                0.0
            } else {
                100.0 * b.lost.saturating_sub(a.lost) as f64 / expected as f64
            },
            latency_p50_ms: ms(&second, 0.5),
            latency_p99_ms: ms(&second, 0.99),
            server_cpu_percent: server_rate(|s| s.cpu_seconds).map(|c| 100.0 * c),
            server_rss_bytes: server.map(|s| s.rss_bytes),
            forwarded_packets_per_s: server_rate(|s| s.forwarded_packets),
            bot_cpu_percent: 100.0 * (point.bot_cpu - self.prev.bot_cpu) / dt,
        });
        self.prev = point;
        point
    }
}

/// Run a scenario to its end (or Ctrl-C) and report. `command` is recorded
/// in the report as given.
pub async fn run(
    mut scenario: Scenario,
    command: String,
    show_progress: bool,
) -> anyhow::Result<Report> {
    let c = scenario.common().clone();
    let (ws, host) = cli::server_endpoints(&c.url).map_err(anyhow::Error::msg)?;
    match tokio::time::timeout(CONNECT_TIMEOUT, tokio::net::TcpStream::connect(&host)).await {
        Ok(Ok(stream)) => {
            // The bots' candidates: the address the server is reached from.
            let c = scenario.common_mut();
            if c.bind_ip.is_none() {
                c.bind_ip = stream.local_addr().ok().map(|a| a.ip());
            }
        }
        Ok(Err(e)) => anyhow::bail!(
            "cannot reach the server at {host}: {e}. Is relais running and listening there (relais --listen {host})?"
        ),
        Err(_) => anyhow::bail!("cannot reach the server at {host}: no answer in {CONNECT_TIMEOUT:?}"),
    }
    let server0 = probe::scrape(&host, c.server_pid).await;
    if let Err(e) = &server0 {
        eprintln!("warning: no server metrics ({e}); server CPU and memory will be n/a");
    }
    let target = scenario::target(&scenario);
    let fleet = Arc::new(Fleet::new(target));
    let run_id = format!("{:06x}", rand::random::<u32>() & 0xff_ffff);
    let started = Instant::now();
    let end = started + c.duration();
    let name = scenario.name().to_string();
    let mut driver = tokio::spawn(scenario::drive(scenario, ws, run_id, fleet.clone(), end));
    let first = Point {
        at: started,
        totals: Totals::default(),
        server: server0.as_ref().ok().map(|s| s.sample),
        bot_cpu: probe::own_cpu_seconds(),
        bots: probe::bot_sample(),
    };
    let mut sampler = Sampler {
        fleet: fleet.clone(),
        host,
        server_pid: c.server_pid,
        started,
        cut: started,
        all: histogram(),
        steady: histogram(),
        steady_from: None,
        first,
        prev: first,
        rss_max: first.server.map(|s| s.rss_bytes),
        layers_at: [0; 3],
        subscribers: 0,
        subscriber_rounds: (0, 0),
        samples: Vec::new(),
        metrics_error: None,
        per_subscriber: Vec::new(),
        estimates: Default::default(),
        secret: c.secret.clone(),
        quality: (server0.as_ref().ok().map(|s| s.quality.clone()), None),
    };
    let bar = if show_progress {
        ProgressBar::new(target as u64)
    } else {
        ProgressBar::with_draw_target(Some(target as u64), ProgressDrawTarget::hidden())
    };
    bar.set_style(
        ProgressStyle::with_template("{elapsed:>4} [{bar:24}] {pos}/{len} in {msg}")
            .expect("valid template")
            .progress_chars("=> "),
    );
    let mut ticker = tokio::time::interval(SAMPLE_EVERY);
    ticker.tick().await;
    let mut driver_done = false;
    let mut stopped = None;
    let mut time_to_join_all = None;
    loop {
        tokio::select! {
            _ = ticker.tick() => {}
            _ = tokio::time::sleep_until(end.into()) => break,
            r = &mut driver, if !driver_done => {
                driver_done = true;
                if let Err(e) = r {
                    stopped = Some(format!("the scenario driver failed: {e}"));
                    break;
                }
                continue;
            }
            _ = tokio::signal::ctrl_c() => {
                stopped = Some("interrupted (Ctrl-C): the report so far".to_string());
                break;
            }
        }
        let p = sampler.round().await;
        if let Some(why) = fleet.fatal() {
            stopped = Some(why);
            break;
        }
        let settled = fleet.joined() + fleet.failed() >= target;
        if settled && sampler.steady_from.is_none() {
            sampler.steady_from = Some(p);
            time_to_join_all = fleet
                .last_settled()
                .map(|t| t.saturating_duration_since(started).as_secs_f64());
        }
        if let Some(s) = sampler.samples.last() {
            bar.set_position(fleet.present() as u64);
            bar.set_message(format!(
                "({} joins, {} failed) rx {:.1} Mbit/s, loss {:.2}%, p99 {:.1} ms, server {}, bots {:.0}%",
                fleet.joined(),
                fleet.failed(),
                s.rx_mbps,
                s.loss_percent,
                s.latency_p99_ms,
                s.server_cpu_percent
                    .map(|c| format!("{c:.0}%"))
                    .unwrap_or_else(|| "n/a".into()),
                s.bot_cpu_percent
            ));
        }
    }
    driver.abort();
    let last = sampler.round().await;
    bar.finish_and_clear();
    let base = sampler.steady_from.unwrap_or(sampler.first);
    let secs = last.at.duration_since(base.at).as_secs_f64().max(1e-3);
    let received = last.totals.packets;
    let delta_server = match (base.server, last.server) {
        (Some(a), Some(b)) => Some((
            b.cpu_seconds - a.cpu_seconds,
            b.forwarded_packets - a.forwarded_packets,
        )),
        _ => None,
    };
    let bot_cpu = last.bot_cpu - base.bot_cpu;
    let rx_packets = received.saturating_sub(base.totals.packets);
    let rx_mbps_total =
        last.totals.bytes.saturating_sub(base.totals.bytes) as f64 * 8.0 / 1e6 / secs;
    let latency = if sampler.steady.is_empty() {
        &sampler.all
    } else {
        &sampler.steady
    };
    let t = &last.totals;
    let mean_subscribers = match sampler.subscriber_rounds {
        (sum, rounds) if rounds > 0 => sum as f64 / rounds as f64,
        _ => sampler.subscribers as f64,
    };
    let mut per_subscriber = std::mem::take(&mut sampler.per_subscriber);
    let spread = subscribers::spread(&mut per_subscriber, &sampler.estimates);
    let report = Report {
        scenario: name,
        command,
        target,
        joined: fleet.joined(),
        failed: fleet.failed(),
        present: fleet.present(),
        failures: fleet.failures(),
        hint: fleet.hint(),
        stopped: stopped.or_else(|| {
            sampler
                .metrics_error
                .clone()
                .map(|e| format!("(completed; server metrics missing: {e})"))
        }),
        duration_s: last.at.duration_since(started).as_secs_f64(),
        time_to_join_all_s: time_to_join_all,
        steady_s: if sampler.steady_from.is_some() {
            secs
        } else {
            0.0
        },
        time_to_first_media_ms: durations(&fleet.first_media()),
        join_ms: durations(&fleet.join_times()),
        loss_percent: if t.packets + t.lost == 0 {
            0.0
        } else {
            100.0 * t.lost as f64 / (t.packets + t.lost) as f64
        },
        packets_received: t.packets,
        packets_lost: t.lost,
        latency_ms: summary(latency),
        latency_samples: latency.len(),
        jitter_ms: report::Jitter {
            mean: if t.jitter_tracks == 0 {
                0.0
            } else {
                t.jitter_sum_us / t.jitter_tracks as f64 / 1000.0
            },
            max: t.jitter_max_us / 1000.0,
        },
        freezes: t.freezes,
        subscribers: sampler.subscribers,
        rx_mbps_per_subscriber: rx_mbps_total / mean_subscribers.max(1e-9),
        rx_mbps_total,
        forwarded_packets_per_s: delta_server.map(|(_, f)| f / secs),
        server_send_drops: match (sampler.first.server, last.server) {
            (Some(a), Some(b)) => Some((b.send_dropped - a.send_dropped).max(0.0)),
            _ => None,
        },
        server_cpu_percent: delta_server.map(|(c, _)| 100.0 * c / secs),
        server_cpu_system_percent: base
            .server
            .zip(last.server)
            .and_then(|(a, b)| b.system_seconds_since(&a))
            .map(|k| 100.0 * k / secs),
        server_cpu_us_per_forwarded_packet: delta_server
            .filter(|(_, f)| *f > 0.0)
            .map(|(c, f)| 1e6 * c / f),
        server_datagrams_per_forwarded_packet: base
            .server
            .zip(last.server)
            .and_then(|(a, b)| b.datagrams_per_forwarded_since(&a)),
        server_cpu_source: match c.server_pid {
            Some(_) => "proc".into(),
            None => "metrics, whole seconds".into(),
        },
        server_rss_bytes: sampler.rss_max,
        server_rss_start_bytes: sampler.first.server.map(|s| s.rss_bytes),
        bot_cpu_percent: 100.0 * bot_cpu / secs,
        bot_threads: crate::engine::threads(),
        bot_cpu_wait_percent: {
            let run = last.bots.run_s - base.bots.run_s;
            let wait = last.bots.wait_s - base.bots.wait_s;
            (run + wait > 0.0).then(|| 100.0 * wait / (run + wait))
        },
        bot_socket_drops: last.bots.socket_drops,
        bot_cpu_us_per_received_packet: (rx_packets > 0).then(|| 1e6 * bot_cpu / rx_packets as f64),
        layers: report::Layers {
            packets: t.per_layer,
            audio_packets: t.audio,
            tracks_at: sampler.layers_at,
        },
        subscriber_layers: spread,
        server_quality: match &sampler.quality {
            (Some(first), Some(last)) => Some(server_quality::summarize(first, last)),
            _ => None,
        },
        per_subscriber,
        samples: sampler.samples,
    };
    let members = fleet.members();
    // A second Ctrl-C does not wait for the bots to leave.
    tokio::select! {
        _ = tokio::time::timeout(
            LEAVE_TIMEOUT,
            join_all(members.iter().map(|m| m.handle.leave())),
        ) => {}
        _ = tokio::signal::ctrl_c() => {}
    }
    Ok(report)
}

/// Write the files the options ask for; the errors say which file.
pub fn write_outputs(report: &Report, c: &cli::Common) -> anyhow::Result<()> {
    use anyhow::Context;
    if let Some(p) = &c.json {
        report
            .write_json(p)
            .with_context(|| format!("writing {}", p.display()))?;
    }
    if let Some(p) = &c.csv {
        report
            .write_csv(p)
            .with_context(|| format!("writing {}", p.display()))?;
    }
    if let Some(p) = &c.plot {
        plot::draw(report, p).with_context(|| format!("writing {}", p.display()))?;
    }
    Ok(())
}
