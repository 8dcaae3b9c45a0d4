//! How one subscriber's downlink estimate is shared among the video tracks it
//! receives: by priority (screen share, then the active speaker, then pinned,
//! then the rest by visible size), lowest layers first, then upgrades in that
//! order while the estimate allows; what does not fit even at its lowest
//! layer is paused. Climbing needs headroom, and can be held back after a
//! fall (hysteresis: a steady cap must not make layers oscillate).
//!
//! A track climbs a ladder of steps, spatial layer first, then temporal
//! layers within it: with VP8 L1T3, the lowest spatial layer at its base
//! temporal layer (a quarter of the frames), then with two temporal layers
//! (half), then all; each higher spatial layer at two temporal layers, then
//! all. The base temporal layer alone (7.5 fps from 30) is kept for the lowest
//! spatial layer, the last step before a pause. A layer without temporal
//! layers is one step. Steps cost more as they go up, and moving down a
//! temporal layer needs no keyframe.
//!
//! Plan, then commit (as mediasoup does): this module only plans, from plain
//! numbers; the worker applies the plan. It runs when an estimate or a
//! request changes and on a timer, never per packet.

use crate::layers::{Layers, TOP_TEMPORAL};

/// What the allocator knows of one downtrack.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Demand {
    /// Higher is more important.
    pub priority: u8,
    /// Among equal priorities, larger tiles first: the visible area the
    /// subscriber asked for, in pixels.
    pub area: u32,
    /// Bitrate of each layer now, `[spatial][temporal]`: a spatial layer
    /// with its temporal layers up to that one (0 for a spatial layer that
    /// is not flowing). Without temporal layers, the same in all three.
    pub layer_bps: [[u64; 3]; 3],
    /// The highest spatial layer the subscriber asked for (`None`: off).
    pub max_layer: Option<u8>,
}

impl Demand {
    /// What `layers` costs now.
    pub fn cost(&self, layers: Layers) -> u64 {
        self.layer_bps[usize::from(layers.spatial)][usize::from(layers.temporal)]
    }

    /// The steps this track can take, cheapest first (at most nine).
    fn ladder(&self, max: u8) -> Vec<Layers> {
        let mut steps = Vec::with_capacity(9);
        for spatial in 0..=max.min(2) {
            let bps = self.layer_bps[usize::from(spatial)];
            if bps[2] == 0 {
                continue;
            }
            // The base temporal layer alone only on the lowest spatial layer.
            let from = if steps.is_empty() { 0 } else { 1 };
            for temporal in from..=TOP_TEMPORAL {
                let t = usize::from(temporal);
                let distinct = temporal == TOP_TEMPORAL || bps[t] < bps[t + 1];
                if distinct && bps[t] > 0 {
                    steps.push(Layers { spatial, temporal });
                }
            }
        }
        steps
    }
}

/// Priorities the worker gives downtracks.
pub mod priority {
    pub const SCREEN: u8 = 40;
    pub const SPEAKER: u8 = 30;
    pub const PINNED: u8 = 20;
    pub const DEFAULT: u8 = 10;
}

/// To move up, a layer must fit with this much room to spare (hysteresis:
/// a layer kept is judged at 100%, a layer gained at 115%).
pub const UPGRADE_HEADROOM_PERCENT: u64 = 115;

/// The layers each demand gets (`None`: paused), in the order given.
/// `current` holds the layers forwarded now, for hysteresis; without `climb`
/// no track goes above its current layers (paused ones may resume at their
/// lowest).
pub fn allocate(
    estimate_bps: u64,
    demands: &[Demand],
    current: &[Option<Layers>],
    climb: bool,
) -> Vec<Option<Layers>> {
    let mut order: Vec<usize> = (0..demands.len()).collect();
    order.sort_by_key(|&i| std::cmp::Reverse((demands[i].priority, demands[i].area)));
    let ladders: Vec<Vec<Layers>> = demands
        .iter()
        .map(|d| d.max_layer.map(|m| d.ladder(m)).unwrap_or_default())
        .collect();
    // Where each demand stands on its ladder.
    let mut step: Vec<Option<usize>> = vec![None; demands.len()];
    let mut plan: Vec<Option<Layers>> = vec![None; demands.len()];
    let mut used = 0u64;
    let fits = |used: u64, extra: u64, keeping: bool| {
        let need = if keeping {
            extra
        } else {
            extra * UPGRADE_HEADROOM_PERCENT / 100
        };
        used + need <= estimate_bps
    };
    // First pass: everyone's lowest step, by priority.
    for &i in &order {
        let d = &demands[i];
        let Some(max) = d.max_layer else { continue };
        let Some(&low) = ladders[i].first() else {
            // Nothing flows yet: aim at the wanted layer without counting it;
            // the plan is made again once the layers are measured.
            plan[i] = Some(Layers::full(max));
            continue;
        };
        let keeping = current.get(i).copied().flatten().is_some();
        if fits(used, d.cost(low), keeping) {
            step[i] = Some(0);
            plan[i] = Some(low);
            used += d.cost(low);
        }
    }
    // Second pass: upgrades, one step at a time, highest priority first.
    loop {
        let mut upgraded = false;
        for &i in &order {
            let d = &demands[i];
            let Some(at) = step[i] else { continue };
            let Some(&next) = ladders[i].get(at + 1) else {
                continue;
            };
            let now = ladders[i][at];
            let extra = d.cost(next).saturating_sub(d.cost(now));
            let keeping = current.get(i).copied().flatten().is_some_and(|c| c >= next);
            if !climb && !keeping {
                continue;
            }
            if fits(used, extra, keeping) {
                step[i] = Some(at + 1);
                plan[i] = Some(next);
                used += extra;
                upgraded = true;
            }
        }
        if !upgraded {
            return plan;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use priority::*;

    /// Three spatial layers without temporal layers.
    fn flat(bps: [u64; 3]) -> [[u64; 3]; 3] {
        bps.map(|b| [b; 3])
    }

    /// Spatial layer `s` with all its temporal layers.
    fn top(s: u8) -> Option<Layers> {
        Some(Layers::full(s))
    }

    fn camera(priority: u8) -> Demand {
        Demand {
            priority,
            area: 1280 * 720,
            layer_bps: flat([150_000, 500_000, 1_500_000]),
            max_layer: Some(2),
        }
    }

    #[test]
    fn plenty_of_bandwidth_gives_everyone_the_top_layer() {
        let d = [camera(DEFAULT), camera(DEFAULT)];
        assert_eq!(
            allocate(10_000_000, &d, &[None, None], true),
            [top(2), top(2)]
        );
    }

    #[test]
    fn the_speaker_is_upgraded_before_the_others() {
        let d = [camera(DEFAULT), camera(SPEAKER), camera(DEFAULT)];
        // 150k * 3 = 450k base; 1.2 Mbit/s leaves room for the speaker's
        // medium layer (+350k * 1.15) but not two.
        let plan = allocate(1_200_000, &d, &[None, None, None], true);
        assert_eq!(
            plan,
            [top(0), top(1), top(0)],
            "the speaker gets medium first"
        );
    }

    #[test]
    fn what_does_not_fit_at_its_lowest_layer_is_paused_by_priority() {
        let mut screen = camera(SCREEN);
        screen.layer_bps = flat([800_000, 0, 0]);
        screen.max_layer = Some(0);
        let d = [camera(DEFAULT), screen, camera(SPEAKER)];
        let plan = allocate(1_000_000, &d, &[None, None, None], true);
        assert_eq!(plan[1], top(0), "the screen share comes first");
        assert_eq!(plan[2], top(0), "then the speaker");
        assert_eq!(plan[0], None, "the rest is paused");
    }

    #[test]
    fn hysteresis_keeps_a_layer_that_still_fits_but_needs_headroom_to_climb() {
        let d = [camera(DEFAULT)];
        // Exactly enough for medium: kept when already there, not gained.
        assert_eq!(allocate(500_000, &d, &[top(1)], true), [top(1)]);
        assert_eq!(allocate(500_000, &d, &[top(0)], true), [top(0)]);
        assert_eq!(allocate(560_000, &d, &[top(0)], true), [top(1)]);
    }

    #[test]
    fn requests_cap_the_layer_and_off_pauses() {
        let mut low_only = camera(DEFAULT);
        low_only.max_layer = Some(0);
        let mut off = camera(SPEAKER);
        off.max_layer = None;
        assert_eq!(
            allocate(10_000_000, &[low_only, off], &[None, None], true),
            [top(0), None]
        );
    }

    #[test]
    fn layers_that_do_not_flow_are_skipped() {
        let mut d = camera(DEFAULT);
        d.layer_bps = flat([150_000, 0, 1_500_000]);
        assert_eq!(allocate(10_000_000, &[d], &[None], true), [top(2)]);
        d.layer_bps = flat([0, 0, 0]);
        assert_eq!(
            allocate(0, &[d], &[None], true),
            [top(2)],
            "nothing measured yet: aim at the wish"
        );
    }

    #[test]
    fn larger_tiles_come_first_among_equals() {
        let mut small = camera(DEFAULT);
        small.area = 320 * 180;
        let big = camera(DEFAULT);
        // Room for both lowest layers and one medium: the big tile gets it.
        let plan = allocate(750_000, &[small, big], &[None, None], true);
        assert_eq!(plan, [top(0), top(1)]);
        // Room for one lowest layer only: the small tile is paused.
        let plan = allocate(200_000, &[small, big], &[None, None], true);
        assert_eq!(plan, [None, top(0)]);
    }

    #[test]
    fn a_hold_keeps_layers_but_does_not_climb() {
        let d = [camera(DEFAULT), camera(DEFAULT)];
        let plan = allocate(10_000_000, &d, &[top(1), None], false);
        assert_eq!(plan, [top(1), top(0)], "kept, and resumed at the lowest");
        let plan = allocate(10_000_000, &d, &[top(1), None], true);
        assert_eq!(plan, [top(2), top(2)]);
    }

    #[test]
    fn pinned_beats_default_and_speaker_beats_pinned() {
        let d = [camera(DEFAULT), camera(PINNED), camera(SPEAKER)];
        let plan = allocate(350_000, &d, &[None, None, None], true);
        assert_eq!(plan, [None, top(0), top(0)]);
        let plan = allocate(180_000, &d, &[None, None, None], true);
        assert_eq!(plan, [None, None, top(0)]);
    }

    /// A VP8 L1T3 camera: each spatial layer's temporal layers take 40%,
    /// 60% and 100% of it (libwebrtc's split).
    fn l1t3(priority: u8) -> Demand {
        let split = |b: u64| [b * 4 / 10, b * 6 / 10, b];
        Demand {
            layer_bps: [split(150_000), split(500_000), split(1_500_000)],
            ..camera(priority)
        }
    }

    fn at(spatial: u8, temporal: u8) -> Option<Layers> {
        Some(Layers { spatial, temporal })
    }

    #[test]
    fn temporal_layers_are_steps_between_spatial_ones() {
        let d = [l1t3(DEFAULT)];
        let none = [None];
        // 60k, 90k, 150k, 300k, 500k, 900k, 1.5M; 115% to gain a step.
        assert_eq!(allocate(50_000, &d, &none, true), [None]);
        assert_eq!(allocate(70_000, &d, &none, true), [at(0, 0)]);
        assert_eq!(allocate(110_000, &d, &none, true), [at(0, 1)]);
        assert_eq!(allocate(200_000, &d, &none, true), [at(0, 2)]);
        // The medium layer comes at two temporal layers (15 fps), never at
        // its base layer alone: 250k fits medium's TL0 (200k) but stays low.
        assert_eq!(allocate(250_000, &d, &none, true), [at(0, 2)]);
        assert_eq!(allocate(400_000, &d, &none, true), [at(1, 1)]);
        assert_eq!(allocate(1_200_000, &d, &none, true), [at(2, 1)]);
        assert_eq!(allocate(2_000_000, &d, &none, true), [top(2)]);
    }

    #[test]
    fn a_fall_takes_a_temporal_step_first_and_keeps_what_still_fits() {
        let d = [l1t3(DEFAULT)];
        // At the top, the estimate falls to 1 Mbit/s: the top spatial layer
        // stays, at two temporal layers (900k), no keyframe needed.
        assert_eq!(allocate(1_000_000, &d, &[top(2)], true), [at(2, 1)]);
        // Kept without headroom, gained only with it.
        assert_eq!(allocate(900_000, &d, &[at(2, 1)], true), [at(2, 1)]);
        assert_eq!(allocate(900_000, &d, &[top(1)], true), [top(1)]);
        // Held back after a fall: no climb, even to a temporal layer.
        assert_eq!(allocate(2_000_000, &d, &[at(2, 1)], false), [at(2, 1)]);
    }

    #[test]
    fn temporal_steps_follow_priorities_too() {
        let d = [l1t3(DEFAULT), l1t3(SPEAKER)];
        // Both climb a step a round, the speaker first: at 540k the speaker
        // reaches medium at 15 fps (300k), the other stays low at 30 (150k).
        let plan = allocate(540_000, &d, &[None, None], true);
        assert_eq!(plan, [at(0, 2), at(1, 1)]);
        // 100k: room for one base layer (60k) and a step; the other waits.
        let plan = allocate(100_000, &d, &[None, None], true);
        assert_eq!(plan, [None, at(0, 1)], "the other is paused first");
    }

    #[test]
    fn a_layer_without_temporal_layers_is_one_step() {
        let mut d = camera(DEFAULT);
        d.layer_bps[1] = [200_000, 300_000, 500_000];
        let ladder = d.ladder(2);
        assert_eq!(
            ladder,
            [
                Layers::full(0),
                Layers {
                    spatial: 1,
                    temporal: 1
                },
                Layers::full(1),
                Layers::full(2)
            ]
        );
    }
}
