//! What the run costs: the server's process metrics read from its
//! `/metrics` (Prometheus text over plain HTTP/1.0, loopback), and this
//! process's own CPU time from `/proc/self/stat`. Every read has a timeout.

use std::collections::{BTreeMap, HashMap};
use std::time::Duration;

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

/// How long one scrape may take.
pub const SCRAPE_TIMEOUT: Duration = Duration::from_secs(2);
/// Largest `/metrics` body read.
const MAX_BODY: u64 = 4 << 20;

/// The server's numbers at one instant.
#[derive(Debug, Clone, Copy, Default, PartialEq)]
pub struct ServerSample {
    pub cpu_seconds: f64,
    pub rss_bytes: f64,
    pub forwarded_packets: f64,
}

/// Metric name → value, summed over labels.
pub fn parse_metrics(text: &str) -> HashMap<String, f64> {
    let mut out = HashMap::new();
    for line in text.lines() {
        if line.starts_with('#') || line.trim().is_empty() {
            continue;
        }
        let (name_labels, value) = match line.rsplit_once(' ') {
            Some(x) => x,
            None => continue,
        };
        let name = name_labels.split('{').next().unwrap_or("").trim();
        if let Ok(v) = value.trim().parse::<f64>() {
            *out.entry(name.to_string()).or_insert(0.0) += v;
        }
    }
    out
}

/// Per-subscriber downlink estimates in kbit/s by participant id, from any
/// `relais_*estimate*` series with a `participant` (or `subscriber`) label;
/// the unit is read from the name (`_bps`, `_kbps`, `_bytes`).
pub fn parse_estimates(text: &str) -> BTreeMap<String, f64> {
    let mut out = BTreeMap::new();
    for line in text.lines() {
        if line.starts_with('#') {
            continue;
        }
        let Some((series, value)) = line.rsplit_once(' ') else {
            continue;
        };
        let Some((name, labels)) = series.split_once('{') else {
            continue;
        };
        if !name.starts_with("relais_") || !name.contains("estimate") {
            continue;
        }
        let Ok(v) = value.trim().parse::<f64>() else {
            continue;
        };
        let kbps = if name.contains("kbps") {
            v
        } else if name.contains("bytes") {
            v * 8.0 / 1000.0
        } else {
            v / 1000.0
        };
        let who = labels.trim_end_matches('}').split(',').find_map(|kv| {
            let (k, v) = kv.split_once('=')?;
            matches!(k.trim(), "participant" | "subscriber").then(|| v.trim().trim_matches('"'))
        });
        if let Some(who) = who {
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
}

/// GET `http://{host}/metrics`: the process metrics (CPU, memory) and the
/// forwarding counters, wherever the server runs. With `pid` (a server on
/// this machine), the CPU time comes from `/proc/<pid>/stat` instead,
/// finer than the metric's whole seconds.
pub async fn scrape(host: &str, pid: Option<u32>) -> Result<Scrape, String> {
    let fetch = async {
        let mut s = TcpStream::connect(host)
            .await
            .map_err(|e| format!("cannot connect to {host}: {e}"))?;
        let req = format!("GET /metrics HTTP/1.0\r\nHost: {host}\r\nConnection: close\r\n\r\n");
        s.write_all(req.as_bytes())
            .await
            .map_err(|e| e.to_string())?;
        let mut body = Vec::new();
        s.take(MAX_BODY)
            .read_to_end(&mut body)
            .await
            .map_err(|e| e.to_string())?;
        Ok::<_, String>(String::from_utf8_lossy(&body).into_owned())
    };
    let text = tokio::time::timeout(SCRAPE_TIMEOUT, fetch)
        .await
        .map_err(|_| format!("{host}/metrics did not answer in {SCRAPE_TIMEOUT:?}"))??;
    let status = text.lines().next().unwrap_or("");
    if !status.contains(" 200") {
        return Err(format!("{host}/metrics answered {status:?}"));
    }
    let m = parse_metrics(&text);
    let get = |k: &str| m.get(k).copied();
    let cpu = match pid {
        Some(pid) => proc_cpu_seconds(&pid.to_string())
            .ok_or(format!("cannot read /proc/{pid}/stat (--server-pid)"))?,
        None => {
            get("process_cpu_seconds_total").ok_or("no process_cpu_seconds_total in /metrics")?
        }
    };
    let rss = get("process_resident_memory_bytes")
        .ok_or("no process_resident_memory_bytes in /metrics")?;
    Ok(Scrape {
        sample: ServerSample {
            cpu_seconds: cpu,
            rss_bytes: rss,
            forwarded_packets: get("relais_rtp_packets_forwarded_total").unwrap_or(0.0),
        },
        estimates: parse_estimates(&text),
    })
}

/// CPU seconds (user + system) this process has used; 0 where `/proc` is missing.
pub fn own_cpu_seconds() -> f64 {
    proc_cpu_seconds("self").unwrap_or(0.0)
}

/// CPU seconds of process `pid` ("self" or a number) from `/proc/<pid>/stat`,
/// at clock-tick resolution (the server's `process_cpu_seconds_total` is
/// whole seconds).
pub fn proc_cpu_seconds(pid: &str) -> Option<f64> {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    Some(cpu_from_stat(&stat))
}

fn cpu_from_stat(stat: &str) -> f64 {
    let Some((_, tail)) = stat.rsplit_once(')') else {
        return 0.0;
    };
    // After the command: state is field 3; utime and stime are fields 14 and 15.
    let fields: Vec<&str> = tail.split_whitespace().collect();
    let ticks: f64 = fields
        .get(11..13)
        .map(|f| f.iter().filter_map(|v| v.parse::<f64>().ok()).sum())
        .unwrap_or(0.0);
    ticks / 100.0 // USER_HZ on Linux
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
    fn own_cpu_is_readable() {
        assert!(own_cpu_seconds() >= 0.0);
    }
}
