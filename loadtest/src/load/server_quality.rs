//! The server's own view of its subscribers' quality, from the aggregate
//! series it exports on `/metrics` (docs/operations.md): downtracks by layer,
//! the downlink estimate, round-trip and loss histograms, bandwidth pauses and
//! freezes. Histograms and counters are compared between the run's first and
//! last scrape, so a server that ran before the test does not blur the run.

use std::collections::BTreeMap;

use serde::Serialize;

use super::metrics_text::samples;

/// Cumulative histogram buckets (`le` → count) and counters at one scrape.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct QualityScrape {
    histograms: BTreeMap<&'static str, Vec<(f64, f64)>>,
    pauses: f64,
    freezes: f64,
    /// Downtracks forwarded now at layer 0, 1, 2, and paused.
    downtracks: [f64; 4],
}

const ESTIMATE: &str = "relais_downlink_estimate_bps";
const RTT: &str = "relais_downlink_rtt_seconds";
const LOSS: &str = "relais_downlink_loss_ratio";

/// What the run looked like from the server, for the report.
#[derive(Debug, Clone, Default, Serialize, PartialEq)]
pub struct ServerQuality {
    /// Downtracks at layer 0, 1, 2 and paused, at the end of the run.
    pub downtracks_at_layer: [u64; 3],
    pub downtracks_paused: u64,
    /// Medians over the run's samples (one per subscriber every 0.5 s), as
    /// the upper bound of the histogram bucket holding them; `None` when the
    /// server took none (the estimate: estimation off and no REMB).
    pub estimate_kbps_p50: Option<f64>,
    pub rtt_ms_p50: Option<f64>,
    pub loss_percent_p50: Option<f64>,
    pub bandwidth_pauses: u64,
    pub freezes: u64,
}

/// Read the quality series of one `/metrics` text.
pub fn parse(text: &str) -> QualityScrape {
    let mut q = QualityScrape::default();
    for s in samples(text) {
        let (name, v) = (s.name, s.value);
        match name {
            "relais_bandwidth_pauses_total" => q.pauses += v,
            "relais_video_freezes_total" => q.freezes += v,
            "relais_downtracks" => {
                let slot = match s.label("layer") {
                    Some("0") => 0,
                    Some("1") => 1,
                    Some("2") => 2,
                    Some("paused") => 3,
                    _ => continue,
                };
                q.downtracks[slot] += v;
            }
            _ => {
                for h in [ESTIMATE, RTT, LOSS] {
                    if name == format!("{h}_bucket") {
                        let le = match s.label("le") {
                            Some("+Inf") => f64::INFINITY,
                            Some(x) => x.parse().unwrap_or(f64::NAN),
                            None => continue,
                        };
                        let buckets = q.histograms.entry(h).or_default();
                        match buckets.iter_mut().find(|(b, _)| *b == le) {
                            Some((_, count)) => *count += v, // summed over workers
                            None => buckets.push((le, v)),
                        }
                    }
                }
            }
        }
    }
    for buckets in q.histograms.values_mut() {
        buckets.sort_by(|a, b| a.0.total_cmp(&b.0));
    }
    q
}

/// The run between two scrapes.
pub fn summarize(first: &QualityScrape, last: &QualityScrape) -> ServerQuality {
    let median = |h: &str| median_between(first.histograms.get(h), last.histograms.get(h));
    ServerQuality {
        downtracks_at_layer: [
            last.downtracks[0] as u64,
            last.downtracks[1] as u64,
            last.downtracks[2] as u64,
        ],
        downtracks_paused: last.downtracks[3] as u64,
        estimate_kbps_p50: median(ESTIMATE).map(|bps| bps / 1000.0),
        rtt_ms_p50: median(RTT).map(|s| s * 1000.0),
        loss_percent_p50: median(LOSS).map(|r| r * 100.0),
        bandwidth_pauses: (last.pauses - first.pauses).max(0.0) as u64,
        freezes: (last.freezes - first.freezes).max(0.0) as u64,
    }
}

/// The upper bound of the bucket holding the median of the samples taken
/// between two cumulative histograms (`None`: no samples).
fn median_between(first: Option<&Vec<(f64, f64)>>, last: Option<&Vec<(f64, f64)>>) -> Option<f64> {
    let last = last?;
    let before = |le: f64| {
        first
            .and_then(|f| f.iter().find(|(b, _)| *b == le))
            .map_or(0.0, |(_, c)| *c)
    };
    let counts: Vec<(f64, f64)> = last
        .iter()
        .map(|&(le, c)| (le, (c - before(le)).max(0.0)))
        .collect();
    let total = counts.last()?.1;
    if total <= 0.0 {
        return None;
    }
    counts
        .iter()
        .find(|(_, c)| *c >= total / 2.0)
        .map(|(le, _)| *le)
        .filter(|le| le.is_finite())
}

#[cfg(test)]
mod tests {
    use super::*;

    const BEFORE: &str = "\
relais_downlink_estimate_bps_bucket{le=\"300000\"} 1
relais_downlink_estimate_bps_bucket{le=\"1000000\"} 1
relais_downlink_estimate_bps_bucket{le=\"+Inf\"} 1
relais_bandwidth_pauses_total 2
relais_video_freezes_total 1
";
    const AFTER: &str = "\
# HELP relais_downtracks Video tracks sent to subscribers
relais_downtracks{layer=\"0\"} 3
relais_downtracks{layer=\"2\"} 5
relais_downtracks{layer=\"paused\"} 1
relais_downlink_estimate_bps_bucket{le=\"300000\"} 2
relais_downlink_estimate_bps_bucket{le=\"1000000\"} 9
relais_downlink_estimate_bps_bucket{le=\"+Inf\"} 11
relais_downlink_rtt_seconds_bucket{le=\"0.01\"} 4
relais_downlink_rtt_seconds_bucket{le=\"+Inf\"} 4
relais_bandwidth_pauses_total 5
relais_video_freezes_total 1
";

    #[test]
    fn the_run_is_what_changed_between_the_first_and_last_scrape() {
        let q = summarize(&parse(BEFORE), &parse(AFTER));
        assert_eq!(q.downtracks_at_layer, [3, 0, 5]);
        assert_eq!(q.downtracks_paused, 1);
        // 10 estimates in the run: 1 under 300 k, 7 under 1 M, 2 above.
        assert_eq!(q.estimate_kbps_p50, Some(1000.0));
        assert_eq!(q.rtt_ms_p50, Some(10.0));
        assert_eq!(q.loss_percent_p50, None);
        assert_eq!(q.bandwidth_pauses, 3);
        assert_eq!(q.freezes, 0);
    }

    #[test]
    fn a_server_without_these_series_gives_nothing() {
        let q = summarize(&parse(""), &parse("process_cpu_seconds_total 3\n"));
        assert_eq!(q, ServerQuality::default());
    }
}
