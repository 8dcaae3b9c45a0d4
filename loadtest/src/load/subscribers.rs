//! Per-subscriber numbers: what each receiving bot got (packets per layer,
//! the layer it is at now, bitrate, loss, freezes) and, where the server
//! exports one, its downlink estimate; and how subscribers spread over the
//! layers.

use std::collections::{BTreeMap, HashMap};
use std::time::Instant;

use serde::Serialize;

use crate::TrackReceipt;

/// One receiving bot.
#[derive(Debug, Clone, Default, Serialize)]
pub struct Subscriber {
    pub participant_id: String,
    /// Video packets per layer (low, medium, high) over its whole stay.
    pub layer_packets: [u64; 3],
    /// Its video tracks by the layer they are at now.
    pub tracks_at: [u64; 3],
    /// Received over its stay.
    pub rx_mbps: f64,
    pub loss_percent: f64,
    pub freezes: u64,
    /// The server's downlink estimate for it, kbit/s (when exported).
    pub estimate_kbps: Option<f64>,
}

impl Subscriber {
    /// From the bot's receipts, `started` being when it joined.
    pub fn from_receipts(
        participant_id: &str,
        receipts: &HashMap<String, TrackReceipt>,
        started: Instant,
        now: Instant,
    ) -> Subscriber {
        let mut s = Subscriber {
            participant_id: participant_id.to_string(),
            ..Subscriber::default()
        };
        let (mut bytes, mut lost, mut expected) = (0u64, 0u64, 0u64);
        for r in receipts.values() {
            for (t, n) in s.layer_packets.iter_mut().zip(r.per_layer) {
                *t += n;
            }
            if let Some(l) = r.current_layer().filter(|l| *l < 3) {
                s.tracks_at[usize::from(l)] += 1;
            }
            bytes += r.bytes;
            lost += r.lost();
            expected += r.packets + r.lost();
            s.freezes += r.freezes;
        }
        let secs = now
            .saturating_duration_since(started)
            .as_secs_f64()
            .max(1e-3);
        s.rx_mbps = bytes as f64 * 8.0 / 1e6 / secs;
        s.loss_percent = if expected == 0 {
            0.0
        } else {
            100.0 * lost as f64 / expected as f64
        };
        s
    }

    /// The layer most of its video came on.
    pub fn main_layer(&self) -> Option<usize> {
        let (l, n) = self
            .layer_packets
            .iter()
            .enumerate()
            .max_by_key(|(_, n)| **n)?;
        (*n > 0).then_some(l)
    }
}

/// How subscribers spread over the layers, and their estimates.
#[derive(Debug, Clone, Copy, Default, Serialize)]
pub struct Spread {
    /// Subscribers by the layer most of their video came on.
    pub subscribers_mostly_at: [u64; 3],
    /// Subscribers with an estimate from the server, and its p50/min/max, kbit/s.
    pub estimates: u64,
    pub estimate_kbps_p50: Option<f64>,
    pub estimate_kbps_min: Option<f64>,
    pub estimate_kbps_max: Option<f64>,
}

/// Fill in estimates (by participant id) and sum up the spread.
pub fn spread(subs: &mut [Subscriber], estimates: &BTreeMap<String, f64>) -> Spread {
    let mut out = Spread::default();
    let mut est = Vec::new();
    for s in subs.iter_mut() {
        if let Some(l) = s.main_layer() {
            out.subscribers_mostly_at[l] += 1;
        }
        s.estimate_kbps = estimates.get(&s.participant_id).copied();
        est.extend(s.estimate_kbps);
    }
    est.sort_by(f64::total_cmp);
    out.estimates = est.len() as u64;
    out.estimate_kbps_p50 = est.get(est.len() / 2).copied();
    out.estimate_kbps_min = est.first().copied();
    out.estimate_kbps_max = est.last().copied();
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn spread_counts_main_layers_and_matches_estimates() {
        let mut subs = vec![
            Subscriber {
                participant_id: "a".into(),
                layer_packets: [0, 10, 200],
                ..Subscriber::default()
            },
            Subscriber {
                participant_id: "b".into(),
                layer_packets: [90, 10, 0],
                ..Subscriber::default()
            },
            Subscriber {
                participant_id: "c".into(),
                ..Subscriber::default()
            },
        ];
        let est = BTreeMap::from([("a".to_string(), 2000.0), ("b".to_string(), 300.0)]);
        let s = spread(&mut subs, &est);
        assert_eq!(s.subscribers_mostly_at, [1, 0, 1]);
        assert_eq!(s.estimates, 2);
        assert_eq!(s.estimate_kbps_min, Some(300.0));
        assert_eq!(s.estimate_kbps_max, Some(2000.0));
        assert_eq!(subs[0].estimate_kbps, Some(2000.0));
        assert_eq!(subs[2].estimate_kbps, None);
    }
}
