//! Audio top-N: in a large room, forward audio of only the few most active
//! speakers (from the RFC 6464 levels the speaker detector smooths).
//!
//! A speaker keeps its place until another has out-ranked it for
//! [`SWAP_AFTER`], so that the set does not flap between two voices. Pure
//! state, updated on the housekeeping timer; the media path checks one flag
//! per track ([`crate::track::Track::silenced`]), never this.

use std::time::{Duration, Instant};

use crate::ids::ParticipantId;

/// A member that has not been among the loudest for this long may be replaced.
pub const SWAP_AFTER: Duration = Duration::from_millis(1000);
/// Share of recent packets above the speech threshold needed to enter.
const MIN_SCORE: f32 = 0.2;

#[derive(Debug, Default)]
pub struct AudioTopN {
    /// The forwarded speakers and when each last ranked among the loudest.
    selected: Vec<(ParticipantId, Instant)>,
}

impl AudioTopN {
    /// Update from a ranking (most active first, with scores); true when the
    /// forwarded set changed.
    pub fn update(&mut self, n: usize, ranking: &[(ParticipantId, f32)], now: Instant) -> bool {
        let before = self.selected.len();
        self.selected
            .retain(|(p, _)| ranking.iter().any(|(q, _)| q == p));
        let mut changed = self.selected.len() != before;
        if self.selected.len() > n {
            self.selected.truncate(n);
            changed = true;
        }
        for &(who, score) in ranking.iter().take(n) {
            if score < MIN_SCORE {
                break;
            }
            if let Some(member) = self.selected.iter_mut().find(|(p, _)| *p == who) {
                member.1 = now;
                continue;
            }
            if self.selected.len() < n {
                self.selected.push((who, now));
                changed = true;
                continue;
            }
            let stalest = self
                .selected
                .iter()
                .enumerate()
                .min_by_key(|(_, (_, at))| *at)
                .map(|(i, (_, at))| (i, *at));
            if let Some((i, at)) = stalest {
                if now.saturating_duration_since(at) >= SWAP_AFTER {
                    self.selected[i] = (who, now);
                    changed = true;
                }
            }
        }
        changed
    }

    pub fn admits(&self, who: ParticipantId) -> bool {
        self.selected.iter().any(|(p, _)| *p == who)
    }

    pub fn clear(&mut self) {
        self.selected.clear();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn p(n: u64) -> ParticipantId {
        ParticipantId(n)
    }

    #[test]
    fn the_loudest_enter_and_a_newcomer_waits_for_a_stale_place() {
        let mut top = AudioTopN::default();
        let t0 = Instant::now();
        let ranking = [(p(1), 0.9), (p(2), 0.8), (p(3), 0.1)];
        assert!(top.update(2, &ranking, t0));
        assert!(top.admits(p(1)) && top.admits(p(2)) && !top.admits(p(3)));
        // p3 starts talking louder than p2: p2 keeps its place for a while.
        let ranking = [(p(1), 0.9), (p(3), 0.85), (p(2), 0.3)];
        let t1 = t0 + Duration::from_millis(500);
        assert!(!top.update(2, &ranking, t1));
        assert!(top.admits(p(2)) && !top.admits(p(3)));
        let t2 = t0 + SWAP_AFTER;
        assert!(top.update(2, &ranking, t2));
        assert!(top.admits(p(1)) && top.admits(p(3)) && !top.admits(p(2)));
    }

    #[test]
    fn silence_admits_nobody_new_and_keeps_the_last() {
        let mut top = AudioTopN::default();
        let t0 = Instant::now();
        assert!(!top.update(3, &[(p(1), 0.0), (p(2), 0.0)], t0));
        assert!(!top.admits(p(1)));
        top.update(3, &[(p(1), 0.5), (p(2), 0.0)], t0);
        let later = t0 + Duration::from_secs(10);
        assert!(!top.update(3, &[(p(1), 0.0), (p(2), 0.0)], later));
        assert!(top.admits(p(1)));
        // Someone who left is dropped.
        assert!(top.update(3, &[(p(2), 0.0)], later));
        assert!(!top.admits(p(1)));
    }
}
