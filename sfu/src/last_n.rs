//! Last-N (as in Jitsi): each subscriber receives camera video of only the N
//! participants who spoke most recently, plus the tracks it pinned and every
//! screen share. This is what keeps a 100-person meeting affordable.
//!
//! Pure state of one room, updated on the housekeeping timer from the
//! dominant speaker's changes; the allocator asks [`LastN::admits`] for each
//! video downtrack. Never consulted per packet.

use std::collections::HashMap;

use crate::api::TrackSource;
use crate::ids::{ParticipantId, TrackId};

/// Speakers remembered, most recent first.
const HISTORY: usize = 256;

#[derive(Debug, Default)]
pub struct LastN {
    /// 0: no limit.
    limit: usize,
    /// Who became the dominant speaker, most recent first, each once.
    history: Vec<ParticipantId>,
    /// Camera publishers in the order they appeared.
    arrivals: Vec<ParticipantId>,
    /// Camera publishers ranked: recent speakers first, then by arrival.
    ranked: Vec<ParticipantId>,
    /// The tracks each subscriber was last told are paused by last-N.
    told: HashMap<ParticipantId, Vec<TrackId>>,
}

impl LastN {
    pub fn limit(&self) -> usize {
        self.limit
    }

    /// `who` became the dominant speaker.
    pub fn spoke(&mut self, who: ParticipantId) {
        self.history.retain(|p| *p != who);
        self.history.insert(0, who);
        self.history.truncate(HISTORY);
    }

    /// Rank again with the room's camera publishers now, in the order their
    /// tracks appeared.
    pub fn update(&mut self, limit: usize, publishers: &[ParticipantId]) {
        self.limit = limit;
        self.arrivals.retain(|p| publishers.contains(p));
        for p in publishers {
            if !self.arrivals.contains(p) {
                self.arrivals.push(*p);
            }
        }
        self.ranked.clear();
        let spoke = self.history.iter().filter(|p| publishers.contains(p));
        self.ranked.extend(spoke);
        let silent = self.arrivals.iter().filter(|p| !self.history.contains(p));
        self.ranked.extend(silent);
    }

    /// Whether `subscriber` may receive a video track of `owner`.
    pub fn admits(
        &self,
        subscriber: ParticipantId,
        owner: ParticipantId,
        source: TrackSource,
        pinned: bool,
    ) -> bool {
        if self.limit == 0 || pinned || source != TrackSource::Camera {
            return true;
        }
        self.ranked
            .iter()
            .filter(|p| **p != subscriber)
            .take(self.limit)
            .any(|p| *p == owner)
    }

    /// Record what `subscriber` is told is paused; true when it changed.
    pub fn tell(&mut self, subscriber: ParticipantId, paused: Vec<TrackId>) -> bool {
        let before = self.told.get(&subscriber).map_or(&[][..], |v| v);
        if before == paused.as_slice() {
            return false;
        }
        if paused.is_empty() {
            self.told.remove(&subscriber);
        } else {
            self.told.insert(subscriber, paused);
        }
        true
    }

    /// Forget subscribers that are gone.
    pub fn retain_subscribers(&mut self, present: impl Fn(ParticipantId) -> bool) {
        self.told.retain(|p, _| present(*p));
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn p(n: u64) -> ParticipantId {
        ParticipantId(n)
    }

    #[test]
    fn recent_speakers_come_first_then_arrivals() {
        let mut l = LastN::default();
        let everyone = [p(1), p(2), p(3), p(4), p(5)];
        l.update(2, &everyone);
        let cam = TrackSource::Camera;
        // Nobody spoke: the first two to arrive (not counting oneself).
        assert!(l.admits(p(5), p(1), cam, false));
        assert!(l.admits(p(5), p(2), cam, false));
        assert!(!l.admits(p(5), p(3), cam, false));
        assert!(l.admits(p(1), p(3), cam, false), "p1 does not count itself");
        l.spoke(p(4));
        l.spoke(p(5));
        l.update(2, &everyone);
        assert!(l.admits(p(1), p(5), cam, false));
        assert!(l.admits(p(1), p(4), cam, false));
        assert!(!l.admits(p(1), p(2), cam, false));
        assert!(l.admits(p(5), p(1), cam, false), "p5 sees p4 and then p1");
        // Pinned tracks and screen shares always pass; no limit passes all.
        assert!(l.admits(p(1), p(2), cam, true));
        assert!(l.admits(p(1), p(2), TrackSource::Screen, false));
        l.update(0, &everyone);
        assert!(l.admits(p(1), p(2), cam, false));
    }

    #[test]
    fn telling_reports_only_changes() {
        let mut l = LastN::default();
        let t = TrackId {
            owner: p(2),
            index: 1,
        };
        assert!(!l.tell(p(1), vec![]));
        assert!(l.tell(p(1), vec![t]));
        assert!(!l.tell(p(1), vec![t]));
        assert!(l.tell(p(1), vec![]));
    }
}
