//! Per-subscriber quality numbers for `/metrics`: downlink estimate, loss and
//! round trip sampled at each stats tick, the layers downtracks forward, and
//! freezes. Aggregated over subscribers (no participant labels); runs on
//! stats events and the housekeeping timer, never per packet.

use std::time::{Duration, Instant};

use crate::api::MediaKind;
use crate::metrics::{WorkerMetrics, ESTIMATE_BOUNDS_BPS, LOSS_BOUNDS_PPM, RTT_BOUNDS_MS};

use super::Worker;

/// A flowing video downtrack with nothing forwarded for this long is frozen.
const FREEZE_AFTER: Duration = Duration::from_secs(1);

impl Worker {
    /// Record one subscriber's stats tick in the histograms.
    pub(super) fn observe_downlink(
        &self,
        estimate_bps: Option<u64>,
        loss: Option<f32>,
        rtt: Option<Duration>,
    ) {
        let m = &self.metrics;
        if let Some(bps) = estimate_bps {
            m.downlink_estimate.observe(&ESTIMATE_BOUNDS_BPS, bps);
        }
        if let Some(loss) = loss {
            let ppm = (f64::from(loss.clamp(0.0, 1.0)) * 1e6) as u64;
            m.downlink_loss.observe(&LOSS_BOUNDS_PPM, ppm);
        }
        if let Some(rtt) = rtt {
            m.downlink_rtt
                .observe(&RTT_BOUNDS_MS, rtt.as_millis() as u64);
        }
    }

    /// Count video downtracks by layer, and the ones that froze.
    pub(super) fn update_quality_gauges(&mut self, now: Instant) {
        let mut by_layer = [0u64; 4];
        let mut froze = 0;
        for p in self.participants.values_mut() {
            for (track_id, dt) in &p.downtracks {
                if dt.kind != MediaKind::Video || !dt.negotiated {
                    continue;
                }
                let current = dt.forwarder.current();
                by_layer[current.map_or(3, |l| usize::from(l).min(2))] += 1;
                let publishing = current.is_some_and(|l| {
                    self.tracks
                        .get(track_id)
                        .is_some_and(|t| t.layer_views(now)[usize::from(l).min(2)].active)
                });
                let stalled = publishing
                    && dt
                        .forwarder
                        .last_arrival()
                        .is_some_and(|t| now.saturating_duration_since(t) >= FREEZE_AFTER);
                if p.downlink.note_frozen(*track_id, stalled) {
                    froze += 1;
                }
            }
        }
        let paused_layers: u64 = self
            .dynacast
            .demands
            .iter()
            .filter_map(|(id, d)| {
                let layers = self.tracks.get(id)?.layer_count();
                let sending = (d.sending() & crate::dynacast::all(layers)).count_ones();
                Some(u64::from(layers as u32 - sending))
            })
            .sum();
        let silenced = self
            .tracks
            .values()
            .filter(|t| t.silenced && matches!(t.origin, crate::track::Origin::Local { .. }))
            .count() as u64;
        let m = &self.metrics;
        for (gauge, n) in m.downtracks_by_layer.iter().zip(by_layer) {
            WorkerMetrics::set(gauge, n);
        }
        WorkerMetrics::add(&m.freezes, froze);
        WorkerMetrics::set(&m.dynacast_paused_layers, paused_layers);
        WorkerMetrics::set(&m.audio_silenced, silenced);
    }
}
