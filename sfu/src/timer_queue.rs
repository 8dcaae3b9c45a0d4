//! When each peer next needs a timeout, kept in a heap so that a worker with
//! hundreds of peers does not scan them all on every wake-up.
//!
//! Entries may be stale: a peer's deadline moved later after it was pushed.
//! The owner checks each popped entry against the peer's current deadline.

use std::cmp::Reverse;
use std::collections::BinaryHeap;
use std::time::Instant;

use crate::peer::PeerKey;

#[derive(Debug, Default)]
pub struct TimerQueue {
    heap: BinaryHeap<Reverse<(Instant, PeerKey)>>,
}

impl TimerQueue {
    pub fn push(&mut self, at: Instant, key: PeerKey) {
        self.heap.push(Reverse((at, key)));
    }

    pub fn next(&self) -> Option<Instant> {
        self.heap.peek().map(|Reverse((t, _))| *t)
    }

    /// The next entry due at or before `now`.
    pub fn pop_due(&mut self, now: Instant) -> Option<(Instant, PeerKey)> {
        match self.heap.peek() {
            Some(Reverse((t, _))) if *t <= now => self.heap.pop().map(|Reverse(e)| e),
            _ => None,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    #[test]
    fn pops_due_entries_in_time_order() {
        let t0 = Instant::now();
        let mut q = TimerQueue::default();
        q.push(t0 + Duration::from_millis(20), 2);
        q.push(t0 + Duration::from_millis(10), 1);
        q.push(t0 + Duration::from_millis(30), 3);
        assert_eq!(q.next(), Some(t0 + Duration::from_millis(10)));
        let now = t0 + Duration::from_millis(25);
        assert_eq!(q.pop_due(now).map(|e| e.1), Some(1));
        assert_eq!(q.pop_due(now).map(|e| e.1), Some(2));
        assert_eq!(q.pop_due(now), None);
        assert_eq!(q.next(), Some(t0 + Duration::from_millis(30)));
    }
}
