//! What the run costs: the server's process metrics read from its
//! `/metrics` (Prometheus text over plain HTTP/1.0, loopback), and this
//! process's own CPU time from `/proc/self/stat`. Every read has a timeout.

use std::collections::{BTreeMap, HashMap};
use std::time::Duration;

use super::http_get;
use super::metrics_text::samples;

/// How long one scrape may take.
pub const SCRAPE_TIMEOUT: Duration = Duration::from_secs(2);
/// Largest `/metrics` body read.
const MAX_BODY: u64 = 4 << 20;

/// The server's numbers at one instant.
#[derive(Debug, Clone, Copy, Default, PartialEq)]
pub struct ServerSample {
    pub cpu_seconds: f64,
    /// Of `cpu_seconds`, the time in the kernel (with `--server-pid` only):
    /// system calls, and on loopback the receiving side of every send.
    pub cpu_system_seconds: Option<f64>,
    pub rss_bytes: f64,
    pub forwarded_packets: f64,
    /// Every datagram the server sent (`relais_datagrams_sent_total`):
    /// media, RTCP, retransmissions, padding, ICE and DTLS.
    pub datagrams_sent: Option<f64>,
    /// Datagrams the server could not send (its socket was full).
    pub send_dropped: f64,
}

impl ServerSample {
    /// CPU seconds in the kernel since `earlier` (with `--server-pid` only).
    pub fn system_seconds_since(&self, earlier: &ServerSample) -> Option<f64> {
        Some(self.cpu_system_seconds? - earlier.cpu_system_seconds?)
    }

    /// Datagrams sent per packet forwarded since `earlier`.
    pub fn datagrams_per_forwarded_since(&self, earlier: &ServerSample) -> Option<f64> {
        let forwarded = self.forwarded_packets - earlier.forwarded_packets;
        let sent = self.datagrams_sent? - earlier.datagrams_sent?;
        (forwarded > 0.0).then(|| sent / forwarded)
    }
}

/// Metric name → value, summed over labels.
pub fn parse_metrics(text: &str) -> HashMap<String, f64> {
    let mut out = HashMap::new();
    for s in samples(text) {
        *out.entry(s.name.to_string()).or_insert(0.0) += s.value;
    }
    out
}

/// Per-subscriber downlink estimates in kbit/s by participant id, from any
/// `relais_*estimate*` series with a `participant` (or `subscriber`) label;
/// the unit is read from the name (`_bps`, `_kbps`, `_bytes`).
pub fn parse_estimates(text: &str) -> BTreeMap<String, f64> {
    let mut out = BTreeMap::new();
    for s in samples(text) {
        if !s.name.starts_with("relais_") || !s.name.contains("estimate") {
            continue;
        }
        let kbps = if s.name.contains("kbps") {
            s.value
        } else if s.name.contains("bytes") {
            s.value * 8.0 / 1000.0
        } else {
            s.value / 1000.0
        };
        if let Some(who) = s.label("participant").or(s.label("subscriber")) {
            out.insert(who.to_string(), kbps);
        }
    }
    out
}

/// What one scrape read.
#[derive(Debug, Clone, Default)]
pub struct Scrape {
    pub sample: ServerSample,
    pub estimates: BTreeMap<String, f64>,
    pub quality: super::server_quality::QualityScrape,
}

/// GET `http://{host}/metrics`: the process metrics (CPU, memory) and the
/// forwarding counters, wherever the server runs. With `pid` (a server on
/// this machine), the CPU time comes from `/proc/<pid>/stat` instead,
/// finer than the metric's whole seconds.
pub async fn scrape(host: &str, pid: Option<u32>) -> Result<Scrape, String> {
    let (status, text) = http_get::get(host, "/metrics", "", MAX_BODY, SCRAPE_TIMEOUT).await?;
    if !status.contains(" 200") {
        return Err(format!("{host}/metrics answered {status:?}"));
    }
    let m = parse_metrics(&text);
    let get = |k: &str| m.get(k).copied();
    let (cpu, cpu_system) = match pid {
        Some(pid) => {
            let t = proc_cpu_times(&pid.to_string())
                .ok_or(format!("cannot read /proc/{pid}/stat (--server-pid)"))?;
            (t.user + t.system, Some(t.system))
        }
        None => (
            get("process_cpu_seconds_total").ok_or("no process_cpu_seconds_total in /metrics")?,
            None,
        ),
    };
    let rss = get("process_resident_memory_bytes")
        .ok_or("no process_resident_memory_bytes in /metrics")?;
    Ok(Scrape {
        sample: ServerSample {
            cpu_seconds: cpu,
            cpu_system_seconds: cpu_system,
            rss_bytes: rss,
            forwarded_packets: get("relais_rtp_packets_forwarded_total").unwrap_or(0.0),
            datagrams_sent: get("relais_datagrams_sent_total"),
            send_dropped: get("relais_send_dropped_total").unwrap_or(0.0),
        },
        estimates: parse_estimates(&text),
        quality: super::server_quality::parse(&text),
    })
}

/// Whether the bots kept up: their event loops' time running and waiting
/// for a CPU (`/proc/self/task/*/schedstat` of the `bots-*` threads), and
/// datagrams the kernel dropped because this process's UDP sockets were full.
#[derive(Debug, Clone, Copy, Default, PartialEq)]
pub struct BotSample {
    pub run_s: f64,
    pub wait_s: f64,
    pub socket_drops: u64,
}

/// Read a [`BotSample`]; zeros where `/proc` is missing.
pub fn bot_sample() -> BotSample {
    let mut b = BotSample::default();
    if let Ok(tasks) = std::fs::read_dir("/proc/self/task") {
        for t in tasks.flatten() {
            let comm = std::fs::read_to_string(t.path().join("comm")).unwrap_or_default();
            if !comm.starts_with("bots-") {
                continue;
            }
            let stat = std::fs::read_to_string(t.path().join("schedstat")).unwrap_or_default();
            let mut f = stat
                .split_whitespace()
                .map(|v| v.parse::<f64>().unwrap_or(0.0));
            b.run_s += f.next().unwrap_or(0.0) / 1e9;
            b.wait_s += f.next().unwrap_or(0.0) / 1e9;
        }
    }
    let inodes: std::collections::HashSet<String> = std::fs::read_dir("/proc/self/fd")
        .into_iter()
        .flatten()
        .flatten()
        .filter_map(|e| std::fs::read_link(e.path()).ok())
        .filter_map(|l| {
            let l = l.to_string_lossy().into_owned();
            l.strip_prefix("socket:[")
                .and_then(|r| r.strip_suffix(']'))
                .map(str::to_string)
        })
        .collect();
    for table in ["/proc/self/net/udp", "/proc/self/net/udp6"] {
        let text = std::fs::read_to_string(table).unwrap_or_default();
        b.socket_drops += udp_drops(&text, &inodes);
    }
    b
}

/// Sum of the `drops` column of the sockets whose inode is in `inodes`.
fn udp_drops(table: &str, inodes: &std::collections::HashSet<String>) -> u64 {
    table
        .lines()
        .skip(1)
        .filter_map(|line| {
            let f: Vec<&str> = line.split_whitespace().collect();
            // sl local rem st tx:rx tr:when retrnsmt uid timeout inode ref pointer drops
            let (inode, drops) = (f.get(9)?, f.get(12)?);
            inodes.contains(*inode).then(|| drops.parse::<u64>().ok())?
        })
        .sum()
}

/// CPU seconds (user + system) this process has used; 0 where `/proc` is missing.
pub fn own_cpu_seconds() -> f64 {
    proc_cpu_times("self").map_or(0.0, |t| t.user + t.system)
}

/// CPU seconds a process spent in user space and in the kernel.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct CpuTimes {
    pub user: f64,
    pub system: f64,
}

/// CPU times of process `pid` ("self" or a number) from `/proc/<pid>/stat`,
/// at clock-tick resolution (the server's `process_cpu_seconds_total` is
/// whole seconds, user and system together).
pub fn proc_cpu_times(pid: &str) -> Option<CpuTimes> {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    cpu_from_stat(&stat)
}

fn cpu_from_stat(stat: &str) -> Option<CpuTimes> {
    let (_, tail) = stat.rsplit_once(')')?;
    // After the command: state is field 3; utime and stime are fields 14 and 15.
    let mut fields = tail.split_whitespace().skip(11);
    let mut ticks = || fields.next()?.parse::<f64>().ok();
    let user = ticks()?;
    let system = ticks()?;
    // USER_HZ on Linux
    Some(CpuTimes {
        user: user / 100.0,
        system: system / 100.0,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn metrics_sum_over_labels() {
        let m = parse_metrics(
            "# HELP x\n# TYPE x counter\nprocess_cpu_seconds_total 1.5\n\
             relais_rtp_packets_forwarded_total{worker=\"0\"} 10\n\
             relais_rtp_packets_forwarded_total{worker=\"1\"} 5\n",
        );
        assert_eq!(m["process_cpu_seconds_total"], 1.5);
        assert_eq!(m["relais_rtp_packets_forwarded_total"], 15.0);
    }

    #[test]
    fn estimates_by_participant_in_kbps() {
        let e = parse_estimates(
            "relais_subscriber_estimate_bps{participant=\"p1\",worker=\"0\"} 1500000\n\
             relais_subscriber_estimate_bps{participant=\"p2\"} 300000\n\
             relais_rtp_packets_forwarded_total{worker=\"0\"} 10\n",
        );
        assert_eq!(e.len(), 2);
        assert_eq!(e["p1"], 1500.0);
        assert_eq!(e["p2"], 300.0);
    }

    #[test]
    fn drops_of_our_sockets_only() {
        let table = "  sl  local_address rem_address   st tx_queue rx_queue tr tm->when retrnsmt   uid  timeout inode ref pointer drops\n\
            1: 00000000:E694 00000000:0000 07 00000000:00000000 00:00000000 00000000 0 0 111 2 0000000000000000 25\n\
            2: 00000000:E695 00000000:0000 07 00000000:00000000 00:00000000 00000000 0 0 222 2 0000000000000000 7\n";
        let ours = std::collections::HashSet::from(["111".to_string()]);
        assert_eq!(udp_drops(table, &ours), 25);
    }

    #[test]
    fn own_cpu_is_readable_and_grows_with_work() {
        let before = proc_cpu_times("self").expect("/proc/self/stat");
        let start = std::time::Instant::now();
        let mut x = 0u64;
        while start.elapsed() < Duration::from_millis(150) {
            x = std::hint::black_box(x.wrapping_mul(6364136223846793005).wrapping_add(1));
        }
        let after = proc_cpu_times("self").expect("/proc/self/stat");
        assert!(after.user > before.user, "{before:?} -> {after:?}");
        assert!(after.system >= before.system);
    }

    #[test]
    fn user_and_system_times_are_fields_14_and_15() {
        // A command name with spaces and a parenthesis, as `comm` may have.
        let stat = "4242 (relais (x) y) S 1 4242 4242 0 -1 4194560 2981 0 0 0 \
                    1234 567 0 0 20 0 9 0 100 2000000 3000 18446744073709551615";
        let t = cpu_from_stat(stat).unwrap();
        assert_eq!(
            t,
            CpuTimes {
                user: 12.34,
                system: 5.67
            }
        );
        assert_eq!(cpu_from_stat("4242 (relais) S 1 2"), None);
    }
}
