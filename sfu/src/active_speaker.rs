//! Dominant speaker detection for one room, from the audio level that
//! publishers put in every audio packet (RFC 6464, in -dBov).
//!
//! Each speaker has a score: the smoothed share of its recent packets that
//! are louder than the speech threshold. Another speaker takes over only after
//! leading for a hangover, so that the indicator does not flicker on a cough.
//! Silence (packets below the threshold, or none at all with DTX) keeps the
//! last speaker, as Jitsi does.

use std::time::{Duration, Instant};

use crate::ids::ParticipantId;

/// Louder than this is speech (JVB uses a threshold near -35 dBov).
pub const SPEECH_THRESHOLD_DBOV: i8 = -40;
/// A challenger must lead this long before it becomes the speaker.
pub const HANGOVER: Duration = Duration::from_millis(400);
/// Score below which someone does not count as speaking.
const MIN_SCORE: f32 = 0.3;
/// Weight of history per 20 ms packet: a time constant of about 200 ms.
const DECAY_PER_PACKET: f32 = 0.9;
const PACKET_TIME: Duration = Duration::from_millis(20);

#[derive(Debug)]
struct Candidate {
    who: ParticipantId,
    score: f32,
    /// Smoothed loudness, 0 (silence, -127 dBov) to 127 (0 dBov).
    loudness: f32,
    updated: Instant,
}

#[derive(Debug, Default)]
pub struct SpeakerDetector {
    candidates: Vec<Candidate>,
    current: Option<ParticipantId>,
    challenger: Option<(ParticipantId, Instant)>,
}

impl SpeakerDetector {
    pub fn current(&self) -> Option<ParticipantId> {
        self.current
    }

    /// One audio packet of `who` with its level.
    pub fn observe(&mut self, who: ParticipantId, level_dbov: i8, now: Instant) {
        let speaking = level_dbov >= SPEECH_THRESHOLD_DBOV;
        let c = match self.candidates.iter_mut().position(|c| c.who == who) {
            Some(i) => &mut self.candidates[i],
            None => {
                self.candidates.push(Candidate {
                    who,
                    score: 0.0,
                    loudness: 0.0,
                    updated: now,
                });
                self.candidates.last_mut().expect("just pushed")
            }
        };
        decay(c, now);
        c.score = c.score * DECAY_PER_PACKET
            + if speaking {
                1.0 - DECAY_PER_PACKET
            } else {
                0.0
            };
        let loudness = f32::from(level_dbov.clamp(-127, 0)) + 127.0;
        c.loudness = c.loudness * DECAY_PER_PACKET + loudness * (1.0 - DECAY_PER_PACKET);
        c.updated = now;
    }

    /// Whether `who` sends audio levels (so that it can be ranked).
    pub fn knows(&self, who: ParticipantId) -> bool {
        self.candidates.iter().any(|c| c.who == who)
    }

    /// Everyone with a level, the most active first (share of speech, then
    /// loudness), into `out`. For the audio top-N, on a timer.
    pub fn ranking(&self, out: &mut Vec<(ParticipantId, f32)>) {
        out.clear();
        let mut ranked: Vec<&Candidate> = self.candidates.iter().collect();
        ranked.sort_by(|a, b| {
            b.score
                .total_cmp(&a.score)
                .then(b.loudness.total_cmp(&a.loudness))
                .then(a.who.cmp(&b.who))
        });
        out.extend(ranked.iter().map(|c| (c.who, c.score)));
    }

    /// Forget a participant. Returns true when it was the speaker.
    pub fn remove(&mut self, who: ParticipantId) -> bool {
        self.candidates.retain(|c| c.who != who);
        if self.challenger.is_some_and(|(c, _)| c == who) {
            self.challenger = None;
        }
        if self.current == Some(who) {
            self.current = None;
            return true;
        }
        false
    }

    /// Re-evaluate; returns the new speaker when it changed.
    pub fn tick(&mut self, now: Instant) -> Option<ParticipantId> {
        for c in &mut self.candidates {
            decay(c, now);
        }
        let leader = self
            .candidates
            .iter()
            .filter(|c| c.score >= MIN_SCORE)
            .max_by(|a, b| a.score.total_cmp(&b.score))
            .map(|c| c.who);
        let Some(leader) = leader else {
            self.challenger = None;
            return None;
        };
        if Some(leader) == self.current {
            self.challenger = None;
            return None;
        }
        match self.challenger {
            Some((who, since)) if who == leader => {
                if now.saturating_duration_since(since) >= HANGOVER || self.current.is_none() {
                    self.current = Some(leader);
                    self.challenger = None;
                    return Some(leader);
                }
            }
            _ => self.challenger = Some((leader, now)),
        }
        None
    }
}

/// Age a score for the packets that did not come (DTX sends none in silence).
fn decay(c: &mut Candidate, now: Instant) {
    let gap = now.saturating_duration_since(c.updated);
    if gap > PACKET_TIME * 3 {
        let missed = (gap.as_millis() / PACKET_TIME.as_millis()) as i32;
        c.score *= DECAY_PER_PACKET.powi(missed);
        c.loudness *= DECAY_PER_PACKET.powi(missed);
        c.updated = now;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Feed 20 ms packets for `ms` from each (who, level) and tick every 100 ms.
    fn talk(
        d: &mut SpeakerDetector,
        t: &mut Instant,
        ms: u64,
        voices: &[(u64, i8)],
    ) -> Vec<ParticipantId> {
        let mut changes = Vec::new();
        for step in 0..ms / 20 {
            *t += PACKET_TIME;
            for &(who, level) in voices {
                d.observe(ParticipantId(who), level, *t);
            }
            if step % 5 == 4 {
                changes.extend(d.tick(*t));
            }
        }
        changes
    }

    #[test]
    fn the_loud_one_becomes_speaker_and_silence_keeps_it() {
        let mut d = SpeakerDetector::default();
        let mut t = Instant::now();
        let c = talk(&mut d, &mut t, 1000, &[(1, -20), (2, -90)]);
        assert_eq!(c, vec![ParticipantId(1)]);
        // Everyone silent (DTX: no packets at all) for 3 s: no change.
        t += Duration::from_secs(3);
        assert_eq!(d.tick(t), None);
        assert_eq!(d.current(), Some(ParticipantId(1)));
        let c = talk(&mut d, &mut t, 2000, &[(1, -90), (2, -25)]);
        assert_eq!(c, vec![ParticipantId(2)]);
    }

    #[test]
    fn a_short_interjection_does_not_take_over() {
        let mut d = SpeakerDetector::default();
        let mut t = Instant::now();
        talk(&mut d, &mut t, 1000, &[(1, -20), (2, -90)]);
        // Speaker 2 coughs for 200 ms while 1 pauses; then 1 goes on.
        let c1 = talk(&mut d, &mut t, 200, &[(1, -90), (2, -10)]);
        let c2 = talk(&mut d, &mut t, 1000, &[(1, -20), (2, -90)]);
        assert!(c1.is_empty() && c2.is_empty(), "{c1:?} {c2:?}");
        assert_eq!(d.current(), Some(ParticipantId(1)));
    }

    #[test]
    fn removing_the_speaker_clears_it() {
        let mut d = SpeakerDetector::default();
        let mut t = Instant::now();
        talk(&mut d, &mut t, 1000, &[(1, -20)]);
        assert!(d.remove(ParticipantId(1)));
        assert_eq!(d.current(), None);
        assert!(!d.remove(ParticipantId(1)));
    }
}
