//! Helpers for last-N, audio top-N and dynacast tests: media policies on
//! every worker, and publishers that honour dynacast as a browser does (stop
//! the layers the server pauses, resume them with a keyframe).

use std::collections::HashMap;
use std::time::Duration;

use relais_sfu::api::*;
use relais_sfu::ids::{ParticipantId, TrackId};
use str0m::format::Codec as Str0mCodec;
use str0m::media::{Mid, Rid};
use str0m::rtp::{ExtensionValues, RtpWrite, SeqNo};
use str0m::Input;

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
        let end = self.now + d;
        while self.now < end {
            self.now += Duration::from_millis(5);
            let now = self.now;
            self.read_dynacast(dc);
            for c in 0..self.clients.len() {
                let client = &mut self.clients[c];
                for side in [Side::Publish, Side::Subscribe] {
                    let rtc = match side {
                        Side::Publish => client.publish.as_mut(),
                        Side::Subscribe => client.subscribe.as_mut(),
                    };
                    if let Some(rtc) = rtc {
                        rtc.handle_input(Input::Timeout(now)).unwrap();
                        client.drain(side, now, &mut self.to_worker);
                    }
                }
                let id = self.clients[c].id;
                let sending = dc.sending.get(&id).copied().unwrap_or(0b111);
                let sent = self.send_media_layers(c, sending);
                let total = dc.sent.entry(id).or_default();
                for l in 0..3 {
                    total[l] += sent[l];
                }
            }
            for w in 0..self.worker_count() {
                self.worker_mut(w).handle_timeout(now);
            }
            self.pump();
        }
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

    /// As `send_media`, only the layers in `sending`; video packets sent per layer.
    fn send_media_layers(&mut self, c: usize, sending: u8) -> [u64; 3] {
        let mut sent = [0; 3];
        let now = self.now;
        let client = &mut self.clients[c];
        let (Some(rtc), Some(video), Some(audio)) =
            (client.publish.as_mut(), client.video_mid, client.audio_mid)
        else {
            return sent;
        };
        if !rtc.is_connected() {
            return sent;
        }
        client.step += 1;
        let step = client.step;
        let codec = client.codec;
        let video_pt = rtc
            .codec_config()
            .find(|p| p.spec().codec == codec)
            .unwrap()
            .pt();
        let opus = rtc
            .codec_config()
            .find(|p| p.spec().codec == Str0mCodec::Opus)
            .unwrap()
            .pt();
        let mut writes: Vec<(Mid, Option<Rid>, RtpWrite)> = Vec::new();
        if step.is_multiple_of(4) {
            let seq = client.seq[3];
            client.seq[3] += 1;
            let payload = vec![0xf8, 0xff, 0xfe, 255, 0, 0, 0, 0];
            let ext = ExtensionValues {
                audio_level: Some(client.voice_level),
                voice_activity: Some(client.voice_level > -60),
                ..Default::default()
            };
            let write = RtpWrite::new(opus, SeqNo::from(seq), (step * 240) as u32, now, payload)
                .ext_vals(ext);
            writes.push((audio, None, write));
        }
        if step.is_multiple_of(7) {
            let frame = step / 7;
            for layer in 0..3 {
                if sending & (1 << layer) == 0 {
                    continue;
                }
                let key = std::mem::take(&mut client.force_key[layer]) || frame % 90 == 1;
                let packets = vp8_frame(layer as u8, frame as u16, key, 2 + layer);
                let n = packets.len();
                for (i, payload) in packets.into_iter().enumerate() {
                    let seq = client.seq[layer];
                    client.seq[layer] += 1;
                    let ts = 5000 * (layer as u32 + 1) + (frame as u32) * 3000;
                    let write = RtpWrite::new(video_pt, SeqNo::from(seq), ts, now, payload)
                        .marker(i + 1 == n)
                        .nackable(true);
                    writes.push((video, Some(Rid::from(RIDS[layer])), write));
                    sent[layer] += 1;
                }
            }
        }
        for (mid, rid, write) in writes {
            let rtc = client.publish.as_mut().unwrap();
            rtc.direct_api()
                .stream_tx_by_mid(mid, rid)
                .unwrap()
                .write_rtp(write);
            client.drain(Side::Publish, now, &mut self.to_worker);
        }
        sent
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
