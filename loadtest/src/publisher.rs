//! The publish connection of a bot: offers its tracks to the server, paces
//! the synthetic media into str0m and answers keyframe requests.
//!
//! Sending a frame builds each packet in one scratch buffer; nothing else is
//! allocated per packet. Like a browser, a bot honours dynacast: it stops
//! the simulcast layers the server says nobody needs (`publisher_layers`) and
//! resumes them with a keyframe.

use std::time::{Duration, Instant};

use relais_signaling::protocol::{MidSource, MidTrack, PublisherLayer};
use str0m::change::{SdpAnswer, SdpPendingOffer};
use str0m::format::Codec;
use str0m::media::{Direction, MediaKind, Mid, Pt, Rid, Simulcast, SimulcastLayer};
use str0m::Event;

use crate::error::{BotError, Result};
use crate::media::{
    AudioOptions, AudioSource, PublishOptions, VideoLayerSource, VideoOptions, AUDIO_INTERVAL, RIDS,
};
use crate::peer::Peer;
use crate::tag::unix_micros;

/// When the loop wakes later than this many frames behind, the missed frames
/// are skipped (as an encoder drops frames) rather than sent in a burst.
const MAX_CATCH_UP: u64 = 3;

/// What the publishing side did, for tests and reports. Per-layer arrays are
/// indexed by simulcast layer (0 without simulcast).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct PublisherStats {
    /// ICE and DTLS are up on the publish connection.
    pub connected: bool,
    /// PLI or FIR received per layer.
    pub keyframe_requests: [u64; 3],
    pub last_keyframe_request: Option<Instant>,
    pub frames_sent: [u64; 3],
    pub keyframes_sent: [u64; 3],
    pub video_packets: [u64; 3],
    /// Bitstream bytes (after the payload descriptors).
    pub video_bytes: [u64; 3],
    pub audio_packets: u64,
    /// Frames not sent because the bot's loop woke too late.
    pub frames_skipped: u64,
    /// Layers whose send stream has an RTX SSRC.
    pub rtx: [bool; 3],
    /// Datagrams the socket refused.
    pub send_drops: u64,
    /// Layers paused now at the server's request (dynacast).
    pub paused: [bool; 3],
    /// `publisher_layers` messages applied.
    pub layer_changes: u64,
}

/// The track ids a publish got.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Published {
    pub video: Option<String>,
    pub audio: Option<String>,
}

struct VideoTrack {
    mid: Mid,
    track_id: Option<String>,
    layers: Vec<(Option<Rid>, VideoLayerSource)>,
    /// Layers the server wants sent (bit `i`: layer `i`).
    sending: u8,
    interval: Duration,
    start: Instant,
    next_tick: u64,
}

struct AudioTrack {
    mid: Mid,
    track_id: Option<String>,
    source: AudioSource,
    start: Instant,
    next_tick: u64,
}

/// A publish offer sent and not yet answered.
pub(crate) struct PendingPublish {
    pub req: String,
    offer: SdpPendingOffer,
    video: Option<(Mid, VideoOptions)>,
    audio: Option<(Mid, AudioOptions)>,
}

pub(crate) struct Publisher {
    pub peer: Peer,
    video: Vec<VideoTrack>,
    audio: Vec<AudioTrack>,
    vp8: Option<Pt>,
    opus: Option<Pt>,
    pub stats: PublisherStats,
    scratch: Vec<u8>,
}

impl Publisher {
    pub fn new(mut peer: Peer, now: Instant) -> Publisher {
        peer.rtc = Some(peer.new_rtc(now));
        Publisher {
            peer,
            video: Vec::new(),
            audio: Vec::new(),
            vp8: None,
            opus: None,
            stats: PublisherStats::default(),
            scratch: Vec::with_capacity(crate::media::MAX_PAYLOAD),
        }
    }

    /// An offer adding the tracks of `opts`: its SDP, the sources of its new
    /// lines, and what to keep until the answer.
    pub fn offer(
        &mut self,
        opts: &PublishOptions,
        req: String,
    ) -> Result<(String, Vec<MidSource>, PendingPublish)> {
        if opts.video.is_none() && opts.audio.is_none() {
            return Err(BotError::Usage(
                "publish what? neither video nor audio".into(),
            ));
        }
        if let Some(v) = &opts.video {
            if v.layers.is_empty() || v.layers.len() > RIDS.len() {
                return Err(BotError::Usage(format!(
                    "a video track has 1 to {} layers, not {}",
                    RIDS.len(),
                    v.layers.len()
                )));
            }
        }
        let rtc = self
            .peer
            .rtc
            .as_mut()
            .expect("a publisher has a connection");
        let mut api = rtc.sdp_api();
        let mut sources = Vec::new();
        let video = opts.video.as_ref().map(|v| {
            let simulcast = (v.layers.len() > 1).then(|| Simulcast {
                send: RIDS[..v.layers.len()]
                    .iter()
                    .map(|r| SimulcastLayer::new(r))
                    .collect(),
                recv: vec![],
            });
            let mid = api.add_media(MediaKind::Video, Direction::SendOnly, None, None, simulcast);
            sources.push(MidSource {
                mid: mid.to_string(),
                source: v.source,
            });
            (mid, v.clone())
        });
        let audio = opts.audio.map(|a| {
            let mid = api.add_media(MediaKind::Audio, Direction::SendOnly, None, None, None);
            sources.push(MidSource {
                mid: mid.to_string(),
                source: a.source,
            });
            (mid, a)
        });
        let (offer, pending) = api
            .apply()
            .ok_or_else(|| BotError::Rtc("the publish offer has no changes".into()))?;
        Ok((
            offer.to_sdp_string(),
            sources,
            PendingPublish {
                req,
                offer: pending,
                video,
                audio,
            },
        ))
    }

    /// Apply the server's answer to `pending`; the new tracks start sending
    /// as soon as the connection is up.
    pub fn accept_answer(
        &mut self,
        pending: PendingPublish,
        sdp: &str,
        tracks: &[MidTrack],
        now: Instant,
    ) -> Result<Published> {
        let rtc = self
            .peer
            .rtc
            .as_mut()
            .expect("a publisher has a connection");
        let answer =
            SdpAnswer::from_sdp_string(sdp).map_err(|e| BotError::Rtc(format!("answer: {e}")))?;
        rtc.sdp_api()
            .accept_answer(pending.offer, answer)
            .map_err(|e| BotError::Rtc(format!("answer: {e}")))?;
        let pt = |codec: Codec| {
            rtc.codec_config()
                .params()
                .iter()
                .find(|p| p.spec().codec == codec)
                .map(|p| p.pt())
        };
        self.vp8 = self.vp8.or_else(|| pt(Codec::Vp8));
        self.opus = self.opus.or_else(|| pt(Codec::Opus));
        let track_of = |mid: Mid| {
            tracks
                .iter()
                .find(|t| t.mid == mid.to_string())
                .map(|t| t.track_id.clone())
        };
        let mut published = Published::default();
        if let Some((mid, v)) = pending.video {
            published.video = track_of(mid);
            let simulcast = v.layers.len() > 1;
            let layers = v
                .layers
                .iter()
                .enumerate()
                .map(|(i, l)| {
                    let rid = simulcast.then(|| Rid::from(RIDS[i]));
                    let source = VideoLayerSource::new(
                        i as u8,
                        *l,
                        v.fps,
                        v.keyframe_interval,
                        v.temporal_layers,
                    );
                    (rid, source)
                })
                .collect();
            self.video.push(VideoTrack {
                mid,
                track_id: published.video.clone(),
                layers,
                sending: 0b111,
                interval: v.frame_interval(),
                start: now,
                next_tick: 0,
            });
        }
        if let Some((mid, a)) = pending.audio {
            published.audio = track_of(mid);
            self.audio.push(AudioTrack {
                mid,
                track_id: published.audio.clone(),
                source: AudioSource::new(a),
                start: now,
                next_tick: 0,
            });
        }
        Ok(published)
    }

    /// Stop sending the media of a track; false when no track has that id.
    pub fn stop(&mut self, track_id: &str) -> bool {
        let before = self.video.len() + self.audio.len();
        self.video
            .retain(|v| v.track_id.as_deref() != Some(track_id));
        self.audio
            .retain(|a| a.track_id.as_deref() != Some(track_id));
        self.video.len() + self.audio.len() < before
    }

    /// Dynacast: send only the layers the server marks active; a layer
    /// that resumes starts with a keyframe. False when no video track has that id.
    pub fn set_layers(&mut self, track_id: &str, layers: &[PublisherLayer]) -> bool {
        let Some(track) = self
            .video
            .iter_mut()
            .find(|v| v.track_id.as_deref() == Some(track_id))
        else {
            return false;
        };
        let before = track.sending;
        for (i, (rid, source)) in track.layers.iter_mut().enumerate() {
            let rid = *rid;
            let wish = layers.iter().find(|l| match (&l.rid, rid) {
                (Some(a), Some(b)) => a.as_str() == &*b,
                (None, None) => true,
                _ => false,
            });
            let Some(wish) = wish else { continue };
            let bit = 1 << i;
            if wish.active {
                track.sending |= bit;
                if before & bit == 0 {
                    source.request_keyframe();
                }
            } else {
                track.sending &= !bit;
            }
            self.stats.paused[i] = !wish.active;
        }
        self.stats.layer_changes += 1;
        true
    }

    /// Drain the connection; returns its next timeout.
    pub fn poll(&mut self) -> Option<Instant> {
        let Publisher {
            peer, video, stats, ..
        } = self;
        let next = peer.poll(|_, e| match e {
            Event::Connected => stats.connected = true,
            Event::KeyframeRequest(k) => {
                let Some(track) = video.iter_mut().find(|v| v.mid == k.mid) else {
                    return;
                };
                let layer = match k.rid {
                    Some(rid) => track.layers.iter().position(|(r, _)| *r == Some(rid)),
                    None => Some(0),
                };
                if let Some(l) = layer.filter(|l| *l < track.layers.len()) {
                    track.layers[l].1.request_keyframe();
                    stats.keyframe_requests[l] += 1;
                    stats.last_keyframe_request = Some(Instant::now());
                }
            }
            _ => {}
        });
        stats.send_drops = peer.send_drops;
        next
    }

    /// When the next frame or audio packet is due.
    pub fn next_media_at(&self) -> Option<Instant> {
        let video = self
            .video
            .iter()
            .map(|v| v.start + v.interval * v.next_tick as u32);
        let audio = self
            .audio
            .iter()
            .map(|a| a.start + AUDIO_INTERVAL * a.next_tick as u32);
        video.chain(audio).min()
    }

    /// Send every frame and audio packet due by `now`, draining after each.
    pub fn send_due_media(&mut self, now: Instant) {
        let connected = self.peer.rtc.as_ref().is_some_and(|r| r.is_connected());
        for i in 0..self.video.len() {
            let track = &mut self.video[i];
            let due = ticks_due(now, track.start, track.interval);
            let Some(tick) = next_tick(&mut track.next_tick, due, &mut self.stats.frames_skipped)
            else {
                continue;
            };
            if connected {
                self.send_frame(i, tick, now);
            }
        }
        for i in 0..self.audio.len() {
            let track = &mut self.audio[i];
            let due = ticks_due(now, track.start, AUDIO_INTERVAL);
            let mut skipped = 0;
            let Some(tick) = next_tick(&mut track.next_tick, due, &mut skipped) else {
                continue;
            };
            if connected {
                self.send_audio(i, tick, now);
            }
        }
    }

    fn send_frame(&mut self, track: usize, tick: u64, now: Instant) {
        let Some(pt) = self.vp8 else { return };
        let sent_us = unix_micros();
        let Publisher {
            peer,
            video,
            stats,
            scratch,
            ..
        } = self;
        let track = &mut video[track];
        let rtc = peer.rtc.as_mut().expect("a publisher has a connection");
        for (i, (rid, source)) in track.layers.iter_mut().enumerate() {
            if track.sending & (1 << i) == 0 {
                continue; // paused by dynacast
            }
            let mut api = rtc.direct_api();
            let Some(tx) = api.stream_tx_by_mid(track.mid, *rid) else {
                continue;
            };
            let l = usize::from(source.index());
            stats.rtx[l] = tx.rtx().is_some();
            let sent = source.next_frame(tick, sent_us, scratch, |p| {
                tx.write_rtp(p.to_write(pt, now).nackable(true))
            });
            stats.frames_sent[l] += 1;
            stats.keyframes_sent[l] += u64::from(sent.keyframe);
            stats.video_packets[l] += sent.packets as u64;
            stats.video_bytes[l] += sent.bytes as u64;
        }
        self.poll();
    }

    fn send_audio(&mut self, track: usize, tick: u64, now: Instant) {
        let Some(pt) = self.opus else { return };
        let sent_us = unix_micros();
        let Publisher {
            peer,
            audio,
            stats,
            scratch,
            ..
        } = self;
        let track = &mut audio[track];
        let rtc = peer.rtc.as_mut().expect("a publisher has a connection");
        let mut api = rtc.direct_api();
        let Some(tx) = api.stream_tx_by_mid(track.mid, None) else {
            return;
        };
        let ext = track.source.extensions();
        let packet = track.source.next_packet(tick, sent_us, scratch);
        tx.write_rtp(packet.to_write(pt, now).ext_vals(ext));
        stats.audio_packets += 1;
        self.poll();
    }
}

/// How many periods have started between `start` and `now`.
fn ticks_due(now: Instant, start: Instant, period: Duration) -> u64 {
    let elapsed = now.saturating_duration_since(start);
    (elapsed.as_nanos() / period.as_nanos().max(1)) as u64 + 1
}

/// The tick to send now, if one is due (`due` ticks have started), skipping
/// ticks more than [`MAX_CATCH_UP`] behind; advances `next`.
fn next_tick(next: &mut u64, due: u64, skipped: &mut u64) -> Option<u64> {
    if *next >= due {
        return None;
    }
    if due - *next > MAX_CATCH_UP {
        *skipped += due - 1 - *next;
        *next = due - 1;
    }
    let tick = *next;
    *next += 1;
    Some(tick)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ticks_follow_the_clock() {
        let start = Instant::now();
        let p = Duration::from_millis(20);
        assert_eq!(ticks_due(start, start, p), 1, "tick 0 is due at the start");
        assert_eq!(ticks_due(start + Duration::from_millis(19), start, p), 1);
        assert_eq!(ticks_due(start + Duration::from_millis(20), start, p), 2);
    }

    #[test]
    fn late_wakeups_catch_up_a_little_then_skip() {
        let mut next = 0;
        let mut skipped = 0;
        assert_eq!(next_tick(&mut next, 1, &mut skipped), Some(0));
        assert_eq!(next_tick(&mut next, 1, &mut skipped), None);
        // Two ticks behind: both are sent, one per call.
        assert_eq!(next_tick(&mut next, 3, &mut skipped), Some(1));
        assert_eq!(next_tick(&mut next, 3, &mut skipped), Some(2));
        // Far behind: jump to the latest tick.
        assert_eq!(next_tick(&mut next, 20, &mut skipped), Some(19));
        assert_eq!(skipped, 16);
        assert_eq!(next, 20);
    }
}
