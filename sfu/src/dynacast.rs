//! Dynacast (as in LiveKit): a simulcast layer that no subscriber needs, on
//! any worker, is paused at the publisher, and resumed when someone needs it.
//!
//! What a subscriber needs is the layer its request maps to (whatever flows
//! now, and whatever its downlink allows), so that a paused layer can be
//! asked for again; layers below the highest needed stay on, for quick
//! switches down. A layer is paused only after nobody needed it for
//! [`HOLD_OFF`], and resumed at once. Pure state, decided on the
//! housekeeping timer; nothing here runs per packet.

use std::collections::HashMap;
use std::time::{Duration, Instant};

use crate::ids::TrackId;
use crate::relay::WorkerIndex;

/// A layer nobody needed for this long is paused.
pub const HOLD_OFF: Duration = Duration::from_secs(2);

/// The demand for the layers of one track published on this worker.
#[derive(Debug)]
pub struct LayerDemand {
    /// Layers the publisher was last told to send (bit `i`: layer `i`).
    sending: u8,
    last_needed: [Instant; 3],
    /// The highest layer each other worker's subscribers need.
    remote: Vec<(WorkerIndex, Option<u8>)>,
}

impl LayerDemand {
    /// A new track: every layer is sent, and counts as needed now.
    pub fn new(layers: usize, now: Instant) -> Self {
        LayerDemand {
            sending: all(layers),
            last_needed: [now; 3],
            remote: Vec::new(),
        }
    }

    /// What another worker needs of this track.
    pub fn report(&mut self, worker: WorkerIndex, need: Option<u8>) {
        match self.remote.iter_mut().find(|(w, _)| *w == worker) {
            Some(entry) => entry.1 = need,
            None => self.remote.push((worker, need)),
        }
    }

    pub fn forget(&mut self, worker: WorkerIndex) {
        self.remote.retain(|(w, _)| *w != worker);
    }

    /// The layers the publisher should send now, given the highest layer the
    /// local subscribers need; `Some(mask)` when that changed.
    pub fn decide(
        &mut self,
        layers: usize,
        local: Option<u8>,
        enabled: bool,
        now: Instant,
    ) -> Option<u8> {
        let need = self.remote.iter().map(|(_, n)| *n).fold(local, Option::max);
        let mut mask = 0;
        for l in 0..layers.min(3) {
            if !enabled || need.is_some_and(|n| l as u8 <= n) {
                self.last_needed[l] = now;
            }
            if now.saturating_duration_since(self.last_needed[l]) < HOLD_OFF {
                mask |= 1 << l;
            }
        }
        (mask != self.sending).then(|| {
            self.sending = mask;
            mask
        })
    }

    pub fn sending(&self) -> u8 {
        self.sending
    }
}

/// The mask of every layer of a track with `layers` layers.
pub fn all(layers: usize) -> u8 {
    ((1u16 << layers.min(3)) - 1) as u8
}

/// Dynacast state of one worker.
#[derive(Debug, Default)]
pub struct Dynacast {
    /// Tracks published here.
    pub demands: HashMap<TrackId, LayerDemand>,
    /// Tracks relayed here: the need last reported to their worker.
    pub reported: HashMap<TrackId, Option<u8>>,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn unneeded_layers_pause_after_the_hold_off_and_resume_at_once() {
        let t0 = Instant::now();
        let mut d = LayerDemand::new(3, t0);
        assert_eq!(d.sending(), 0b111);
        assert_eq!(d.decide(3, Some(0), true, t0), None, "held off");
        let t1 = t0 + HOLD_OFF;
        assert_eq!(d.decide(3, Some(0), true, t1), Some(0b001));
        // Another worker needs the middle layer.
        d.report(4, Some(1));
        assert_eq!(d.decide(3, Some(0), true, t1), Some(0b011));
        d.forget(4);
        assert_eq!(d.decide(3, None, true, t1 + HOLD_OFF), Some(0));
        assert_eq!(d.decide(3, Some(2), true, t1 + HOLD_OFF), Some(0b111));
        // Disabled: everything is sent.
        let t2 = t1 + HOLD_OFF * 3;
        assert_eq!(d.decide(3, None, true, t2), Some(0));
        assert_eq!(d.decide(3, None, false, t2), Some(0b111));
    }
}
