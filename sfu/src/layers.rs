//! A video layer as a subscriber receives it: a simulcast (spatial) layer and
//! how many of its temporal layers. Ordered spatial first, then temporal:
//! the order in which the allocator climbs.

/// The highest temporal layer index the core handles (L1T3: 0, 1, 2).
pub const TOP_TEMPORAL: u8 = 2;

#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Layers {
    /// Simulcast layer index, lowest first.
    pub spatial: u8,
    /// Frames of temporal layers up to this one pass. A stream without
    /// temporal layers passes whole whatever this says.
    pub temporal: u8,
}

impl Layers {
    /// A spatial layer with all its temporal layers.
    pub const fn full(spatial: u8) -> Layers {
        Layers {
            spatial,
            temporal: TOP_TEMPORAL,
        }
    }
}
