//! Helpers for last-N, audio top-N and dynacast tests: media policies on
//! every worker, and publishers that honour dynacast as a browser does (stop
//! the layers the server pauses, resume them with a keyframe).

use std::collections::HashMap;
use std::time::Duration;

use relais_sfu::api::*;
use relais_sfu::ids::{ParticipantId, TrackId};

use super::*;

/// What publishers were told by dynacast and what they sent.
#[derive(Debug, Default)]
pub struct Dynacast {
    /// Layers each publisher sends (bit `i`: layer `i`); all when not told.
    pub sending: HashMap<ParticipantId, u8>,
    /// Video packets sent per publisher and layer.
    pub sent: HashMap<ParticipantId, [u64; 3]>,
    /// Events already read from `World::seen`.
    read: usize,
}

impl Dynacast {
    pub fn sent(&self, p: ParticipantId) -> [u64; 3] {
        self.sent.get(&p).copied().unwrap_or_default()
    }
}

impl World {
    /// Give every worker this default media policy.
    pub fn set_policy(&mut self, policy: MediaPolicy) {
        for w in 0..self.worker_count() {
            self.call_on(w, |reply| Command::SetMediaPolicy {
                room: None,
                policy,
                reply,
            });
        }
    }

    pub fn pin(&mut self, c: usize, track: TrackId, pinned: bool) -> Result<(), SfuError> {
        let (id, worker) = (self.clients[c].id, self.clients[c].worker);
        self.call_on(worker, |reply| Command::Pin {
            participant: id,
            track,
            pinned,
            reply,
        })
    }

    pub fn ask(&mut self, c: usize, track: TrackId, request: LayerRequest) {
        let (id, worker) = (self.clients[c].id, self.clients[c].worker);
        self.call_on(worker, |reply| Command::Subscribe {
            participant: id,
            track,
            request,
            reply,
        })
        .unwrap();
    }

    /// The `PublisherLayers` events seen so far for a track, as masks.
    pub fn publisher_layers(&self, track: TrackId) -> Vec<u8> {
        self.seen
            .iter()
            .filter_map(|e| match e {
                CoreEvent::PublisherLayers {
                    track: t, layers, ..
                } if *t == track => Some(mask(layers)),
                _ => None,
            })
            .collect()
    }

    /// The last `LastN` event for a participant.
    pub fn last_n_paused(&self, c: usize) -> Option<Vec<TrackId>> {
        let id = self.clients[c].id;
        self.seen.iter().rev().find_map(|e| match e {
            CoreEvent::LastN {
                participant,
                paused,
            } if *participant == id => Some(paused.clone()),
            _ => None,
        })
    }

    /// [`World::run`], with publishers that honour dynacast.
    pub fn run_dynacast(&mut self, d: Duration, dc: &mut Dynacast) {
        self.run_with(d, dc, World::read_dynacast, |w, c, dc| {
            let id = w.clients[c].id;
            let sending = dc.sending.get(&id).copied().unwrap_or(0b111);
            let sent = w.send_media_layers(c, sending);
            let total = dc.sent.entry(id).or_default();
            for l in 0..3 {
                total[l] += sent[l];
            }
        });
    }

    /// Apply new `PublisherLayers` events: a resumed layer starts with a keyframe.
    fn read_dynacast(&mut self, dc: &mut Dynacast) {
        let new: Vec<(ParticipantId, u8)> = self.seen[dc.read..]
            .iter()
            .filter_map(|e| match e {
                CoreEvent::PublisherLayers {
                    participant,
                    layers,
                    ..
                } => Some((*participant, mask(layers))),
                _ => None,
            })
            .collect();
        dc.read = self.seen.len();
        for (p, m) in new {
            let before = dc.sending.insert(p, m).unwrap_or(0b111);
            if let Some(client) = self.clients.iter_mut().find(|c| c.id == p) {
                for l in 0..3 {
                    if m & (1 << l) != 0 && before & (1 << l) == 0 {
                        client.force_key[l] = true;
                    }
                }
            }
        }
    }
}

/// Layers of a `PublisherLayers` event as a mask.
pub fn mask(layers: &[PublisherLayer]) -> u8 {
    layers
        .iter()
        .enumerate()
        .filter(|(_, l)| l.active)
        .fold(0, |m, (i, _)| m | (1 << i))
}
