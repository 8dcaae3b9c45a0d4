//! How one subscriber's downlink estimate is shared among the video tracks it
//! receives: by priority (screen share, then the active speaker, then pinned,
//! then the rest by visible size), lowest layers first, then upgrades in that
//! order while the estimate allows; what does not fit even at its lowest
//! layer is paused. Climbing needs headroom, and can be held back after a
//! fall (hysteresis: a steady cap must not make layers oscillate).
//!
//! Plan, then commit (as mediasoup does): this module only plans, from plain
//! numbers; the worker applies the plan. It runs when an estimate or a
//! request changes and on a timer, never per packet.

/// What the allocator knows of one downtrack.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Demand {
    /// Higher is more important.
    pub priority: u8,
    /// Among equal priorities, larger tiles first: the visible area the
    /// subscriber asked for, in pixels.
    pub area: u32,
    /// Bitrate of each layer now (0 for a layer that is not flowing).
    pub layer_bps: [u64; 3],
    /// The highest layer the subscriber asked for (`None`: off).
    pub max_layer: Option<u8>,
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
const UPGRADE_HEADROOM_PERCENT: u64 = 115;

/// The layer each demand gets (`None`: paused), in the order given.
/// `current` holds the layers forwarded now, for hysteresis; without `climb`
/// no track goes above its current layer (paused ones may resume at their
/// lowest).
pub fn allocate(
    estimate_bps: u64,
    demands: &[Demand],
    current: &[Option<u8>],
    climb: bool,
) -> Vec<Option<u8>> {
    let mut order: Vec<usize> = (0..demands.len()).collect();
    order.sort_by_key(|&i| std::cmp::Reverse((demands[i].priority, demands[i].area)));
    let mut plan: Vec<Option<u8>> = vec![None; demands.len()];
    let mut used = 0u64;
    let cost = |d: &Demand, layer: u8| d.layer_bps[usize::from(layer)];
    let fits = |used: u64, extra: u64, keeping: bool| {
        let need = if keeping {
            extra
        } else {
            extra * UPGRADE_HEADROOM_PERCENT / 100
        };
        used + need <= estimate_bps
    };
    // First pass: everyone's lowest flowing layer, by priority.
    for &i in &order {
        let d = &demands[i];
        let Some(max) = d.max_layer else { continue };
        let Some(low) = (0..=max).find(|&l| cost(d, l) > 0) else {
            // Nothing flows yet: aim at the wanted layer without counting it;
            // the plan is made again once the layers are measured.
            plan[i] = Some(max);
            continue;
        };
        let keeping = current.get(i).copied().flatten().is_some();
        if fits(used, cost(d, low), keeping) {
            plan[i] = Some(low);
            used += cost(d, low);
        }
    }
    // Second pass: upgrades, one step at a time, highest priority first.
    loop {
        let mut upgraded = false;
        for &i in &order {
            let d = &demands[i];
            let (Some(now), Some(max)) = (plan[i], d.max_layer) else {
                continue;
            };
            let Some(next) = (now + 1..=max).find(|&l| cost(d, l) > 0) else {
                continue;
            };
            let extra = cost(d, next).saturating_sub(cost(d, now));
            let keeping = current.get(i).copied().flatten().is_some_and(|c| c >= next);
            if !climb && !keeping {
                continue;
            }
            if fits(used, extra, keeping) {
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

    fn camera(priority: u8) -> Demand {
        Demand {
            priority,
            area: 1280 * 720,
            layer_bps: [150_000, 500_000, 1_500_000],
            max_layer: Some(2),
        }
    }

    #[test]
    fn plenty_of_bandwidth_gives_everyone_the_top_layer() {
        let d = [camera(DEFAULT), camera(DEFAULT)];
        assert_eq!(
            allocate(10_000_000, &d, &[None, None], true),
            [Some(2), Some(2)]
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
            [Some(0), Some(1), Some(0)],
            "the speaker gets medium first"
        );
    }

    #[test]
    fn what_does_not_fit_at_its_lowest_layer_is_paused_by_priority() {
        let mut screen = camera(SCREEN);
        screen.layer_bps = [800_000, 0, 0];
        screen.max_layer = Some(0);
        let d = [camera(DEFAULT), screen, camera(SPEAKER)];
        let plan = allocate(1_000_000, &d, &[None, None, None], true);
        assert_eq!(plan[1], Some(0), "the screen share comes first");
        assert_eq!(plan[2], Some(0), "then the speaker");
        assert_eq!(plan[0], None, "the rest is paused");
    }

    #[test]
    fn hysteresis_keeps_a_layer_that_still_fits_but_needs_headroom_to_climb() {
        let d = [camera(DEFAULT)];
        // Exactly enough for medium: kept when already there, not gained.
        assert_eq!(allocate(500_000, &d, &[Some(1)], true), [Some(1)]);
        assert_eq!(allocate(500_000, &d, &[Some(0)], true), [Some(0)]);
        assert_eq!(allocate(560_000, &d, &[Some(0)], true), [Some(1)]);
    }

    #[test]
    fn requests_cap_the_layer_and_off_pauses() {
        let mut low_only = camera(DEFAULT);
        low_only.max_layer = Some(0);
        let mut off = camera(SPEAKER);
        off.max_layer = None;
        assert_eq!(
            allocate(10_000_000, &[low_only, off], &[None, None], true),
            [Some(0), None]
        );
    }

    #[test]
    fn layers_that_do_not_flow_are_skipped() {
        let mut d = camera(DEFAULT);
        d.layer_bps = [150_000, 0, 1_500_000];
        assert_eq!(allocate(10_000_000, &[d], &[None], true), [Some(2)]);
        d.layer_bps = [0, 0, 0];
        assert_eq!(
            allocate(0, &[d], &[None], true),
            [Some(2)],
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
        assert_eq!(plan, [Some(0), Some(1)]);
        // Room for one lowest layer only: the small tile is paused.
        let plan = allocate(200_000, &[small, big], &[None, None], true);
        assert_eq!(plan, [None, Some(0)]);
    }

    #[test]
    fn a_hold_keeps_layers_but_does_not_climb() {
        let d = [camera(DEFAULT), camera(DEFAULT)];
        let plan = allocate(10_000_000, &d, &[Some(1), None], false);
        assert_eq!(plan, [Some(1), Some(0)], "kept, and resumed at the lowest");
        let plan = allocate(10_000_000, &d, &[Some(1), None], true);
        assert_eq!(plan, [Some(2), Some(2)]);
    }

    #[test]
    fn pinned_beats_default_and_speaker_beats_pinned() {
        let d = [camera(DEFAULT), camera(PINNED), camera(SPEAKER)];
        let plan = allocate(350_000, &d, &[None, None, None], true);
        assert_eq!(plan, [None, Some(0), Some(0)]);
        let plan = allocate(180_000, &d, &[None, None, None], true);
        assert_eq!(plan, [None, None, Some(0)]);
    }
}
