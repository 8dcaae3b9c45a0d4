//! Synthetic media that looks real to an SFU: simulcast VP8 frames paced for
//! a bitrate and Opus-sized audio, as RTP writes for str0m's
//! [`StreamTx::write_rtp`](str0m::rtp::StreamTx::write_rtp).
//!
//! A source builds each packet in a caller-owned scratch buffer; the only
//! allocation per packet is the `Arc<[u8]>` that str0m takes as payload.

use std::sync::Arc;
use std::time::{Duration, Instant};

use relais_signaling::protocol::Source;
use str0m::media::Pt;
use str0m::rtp::{ExtensionValues, RtpWrite, SeqNo};

use crate::pacer::FramePacer;
use crate::tag::{Tag, AUDIO_LAYER, TAG_LEN};
use crate::vp8;

/// The rids of simulcast layers, lowest first.
pub const RIDS: [&str; 3] = ["q", "h", "f"];
/// Largest RTP payload a video packet carries, in bytes.
pub const MAX_PAYLOAD: usize = 1100;
/// The Opus TOC byte of audio payloads: CELT fullband, 20 ms, one frame.
pub const OPUS_TOC: u8 = 0xf8;

/// One simulcast layer (or the only layer, without simulcast).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct LayerOptions {
    pub width: u16,
    pub height: u16,
    pub bitrate_bps: u64,
}

/// The video track of a publish.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct VideoOptions {
    /// One to three layers, lowest first; more than one publishes simulcast
    /// with rids [`RIDS`].
    pub layers: Vec<LayerOptions>,
    pub fps: u32,
    /// A keyframe at least this often (and on every PLI or FIR).
    pub keyframe_interval: Duration,
    /// `Camera` or `Screen`.
    pub source: Source,
    /// Temporal layers in each simulcast layer: 3 sends VP8 L1T3 as
    /// Chromium does when the web client asks for it (cameras), 1 none.
    pub temporal_layers: u8,
}

impl Default for VideoOptions {
    /// A camera: 320x180 @ 150 kbit/s, 640x360 @ 500 kbit/s, 1280x720 @ 1.5
    /// Mbit/s, 30 fps, three temporal layers (L1T3), a keyframe every 3 s.
    fn default() -> Self {
        VideoOptions {
            layers: vec![
                LayerOptions {
                    width: 320,
                    height: 180,
                    bitrate_bps: 150_000,
                },
                LayerOptions {
                    width: 640,
                    height: 360,
                    bitrate_bps: 500_000,
                },
                LayerOptions {
                    width: 1280,
                    height: 720,
                    bitrate_bps: 1_500_000,
                },
            ],
            fps: 30,
            keyframe_interval: Duration::from_secs(3),
            source: Source::Camera,
            temporal_layers: 3,
        }
    }
}

impl VideoOptions {
    /// The default layers for a screen share, without temporal layers (the
    /// web client asks for L1T3 on cameras only).
    pub fn screen() -> Self {
        VideoOptions {
            source: Source::Screen,
            temporal_layers: 1,
            ..Self::default()
        }
    }

    /// Only the lowest `n` of the layers (at least one).
    pub fn with_layers(mut self, n: usize) -> Self {
        self.layers.truncate(n.max(1));
        self
    }

    pub fn frame_interval(&self) -> Duration {
        Duration::from_secs(1) / self.fps.max(1)
    }
}

/// The audio track of a publish.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct AudioOptions {
    /// Bytes of each 20 ms payload.
    pub payload_bytes: usize,
    /// Audio level sent in the RFC 6464 extension, in dBov (-127: silence).
    pub level_dbov: i8,
    /// `Microphone` or `ScreenAudio`.
    pub source: Source,
}

impl Default for AudioOptions {
    fn default() -> Self {
        AudioOptions {
            payload_bytes: 80,
            level_dbov: -127,
            source: Source::Microphone,
        }
    }
}

/// What [`crate::BotHandle::publish`] publishes.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct PublishOptions {
    pub video: Option<VideoOptions>,
    pub audio: Option<AudioOptions>,
}

impl PublishOptions {
    /// A camera in three simulcast layers and a microphone.
    pub fn camera_and_mic() -> Self {
        PublishOptions {
            video: Some(VideoOptions::default()),
            audio: Some(AudioOptions::default()),
        }
    }

    pub fn audio_only() -> Self {
        PublishOptions {
            video: None,
            audio: Some(AudioOptions::default()),
        }
    }

    pub fn video_only(video: VideoOptions) -> Self {
        PublishOptions {
            video: Some(video),
            audio: None,
        }
    }
}

/// What one call of [`VideoLayerSource::next_frame`] produced.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct FrameSent {
    pub packets: usize,
    /// Bytes after the payload descriptors: the frame's bitstream.
    pub bytes: usize,
    pub keyframe: bool,
}

/// One RTP packet built by a source, borrowing the scratch buffer.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Packet<'a> {
    pub payload: &'a [u8],
    /// Extended sequence number.
    pub seq: u64,
    pub timestamp: u32,
    pub marker: bool,
}

impl Packet<'_> {
    /// The write for str0m's `StreamTx::write_rtp`: the one copy of the payload.
    pub fn to_write(&self, pt: Pt, now: Instant) -> RtpWrite {
        RtpWrite::new(
            pt,
            SeqNo::from(self.seq),
            self.timestamp,
            now,
            Arc::<[u8]>::from(self.payload),
        )
        .marker(self.marker)
    }
}

/// One layer's VP8 encoder stand-in.
#[derive(Debug, Clone)]
pub struct VideoLayerSource {
    index: u8,
    width: u16,
    height: u16,
    fps: u32,
    pacer: FramePacer,
    seq: u64,
    ts_base: u32,
    picture_id: u16,
    tl0_pic_idx: u8,
    frames: u32,
    frames_since_key: u32,
    key_every: u32,
    force_key: bool,
    temporal_layers: u8,
}

impl VideoLayerSource {
    /// Layer `index` with a random first sequence number and timestamp, and
    /// `temporal_layers` temporal layers (1, or 3 for L1T3).
    pub fn new(
        index: u8,
        layer: LayerOptions,
        fps: u32,
        keyframe_interval: Duration,
        temporal_layers: u8,
    ) -> Self {
        let fps = fps.max(1);
        let key_every = (keyframe_interval.as_secs_f64() * f64::from(fps)).round() as u32;
        VideoLayerSource {
            index,
            width: layer.width,
            height: layer.height,
            fps,
            pacer: FramePacer::new(layer.bitrate_bps, fps, vp8::KEY_HEADER_LEN + TAG_LEN),
            seq: u64::from(rand::random::<u16>() & 0x3fff) + 1,
            ts_base: rand::random(),
            picture_id: rand::random::<u16>() & 0x7fff,
            tl0_pic_idx: rand::random(),
            frames: 0,
            frames_since_key: 0,
            key_every: key_every.max(1),
            // A stream starts with a keyframe.
            force_key: true,
            temporal_layers,
        }
    }

    pub fn index(&self) -> u8 {
        self.index
    }

    /// The next frame is a keyframe.
    pub fn request_keyframe(&mut self) {
        self.force_key = true;
    }

    /// Frames built so far.
    pub fn frames(&self) -> u32 {
        self.frames
    }

    /// Build the frame of clock tick `tick` (frame periods since the start;
    /// the RTP timestamp follows it) and hand its packets to `emit` in order.
    pub fn next_frame(
        &mut self,
        tick: u64,
        sent_us: u64,
        scratch: &mut Vec<u8>,
        mut emit: impl FnMut(Packet<'_>),
    ) -> FrameSent {
        let key =
            std::mem::take(&mut self.force_key) || self.frames_since_key + 1 >= self.key_every;
        self.frames_since_key = if key { 0 } else { self.frames_since_key + 1 };
        let frame_layer = vp8::FrameLayer::nth(self.frames_since_key, self.temporal_layers);
        if frame_layer.tid == 0 && self.frames > 0 {
            self.tl0_pic_idx = self.tl0_pic_idx.wrapping_add(1);
        }
        let size = self.pacer.next_frame(key);
        let per_packet = MAX_PAYLOAD - vp8::DESCRIPTOR_LEN;
        let packets = size.div_ceil(per_packet).max(1);
        let timestamp = self
            .ts_base
            .wrapping_add((tick * 90_000 / u64::from(self.fps)) as u32);
        let tag = Tag {
            layer: self.index,
            frame: self.frames,
            sent_us,
        };
        for i in 0..packets {
            let chunk = size / packets + usize::from(i < size % packets);
            scratch.clear();
            scratch.resize(vp8::DESCRIPTOR_LEN + chunk, 0);
            vp8::write_descriptor(
                scratch,
                i == 0,
                self.picture_id,
                self.tl0_pic_idx,
                frame_layer,
            );
            let mut at = vp8::DESCRIPTOR_LEN;
            if i == 0 {
                let first_part = size as u32 / 10;
                at += vp8::write_frame_header(
                    &mut scratch[at..],
                    key,
                    self.width,
                    self.height,
                    first_part,
                );
            }
            tag.write(&mut scratch[at..at + TAG_LEN]);
            emit(Packet {
                payload: scratch,
                seq: self.seq,
                timestamp,
                marker: i + 1 == packets,
            });
            self.seq += 1;
        }
        self.frames = self.frames.wrapping_add(1);
        self.picture_id = (self.picture_id + 1) & 0x7fff;
        FrameSent {
            packets,
            bytes: size,
            keyframe: key,
        }
    }
}

/// Audio packet period.
pub const AUDIO_INTERVAL: Duration = Duration::from_millis(20);

/// Opus-sized audio: one packet every 20 ms.
#[derive(Debug, Clone)]
pub struct AudioSource {
    options: AudioOptions,
    seq: u64,
    ts_base: u32,
    packets: u32,
}

impl AudioSource {
    pub fn new(options: AudioOptions) -> Self {
        AudioSource {
            options,
            seq: u64::from(rand::random::<u16>() & 0x3fff) + 1,
            ts_base: rand::random(),
            packets: 0,
        }
    }

    /// The packet of 20 ms tick `tick` (48 kHz RTP clock).
    pub fn next_packet<'a>(
        &mut self,
        tick: u64,
        sent_us: u64,
        scratch: &'a mut Vec<u8>,
    ) -> Packet<'a> {
        let len = self.options.payload_bytes.max(1 + TAG_LEN);
        scratch.clear();
        scratch.resize(len, 0);
        scratch[0] = OPUS_TOC;
        Tag {
            layer: AUDIO_LAYER,
            frame: self.packets,
            sent_us,
        }
        .write(&mut scratch[1..1 + TAG_LEN]);
        let packet = Packet {
            payload: scratch,
            seq: self.seq,
            timestamp: self.ts_base.wrapping_add((tick * 960) as u32),
            marker: false,
        };
        self.seq += 1;
        self.packets = self.packets.wrapping_add(1);
        packet
    }

    /// The RFC 6464 audio level extension values every packet carries.
    pub fn extensions(&self) -> ExtensionValues {
        let level = self.options.level_dbov;
        ExtensionValues {
            audio_level: Some(level),
            voice_activity: Some(level > -60),
            ..Default::default()
        }
    }
}

/// The tag of an audio payload made by [`AudioSource`].
pub fn read_audio_tag(payload: &[u8]) -> Option<Tag> {
    if payload.first() != Some(&OPUS_TOC) {
        return None;
    }
    Tag::read(&payload[1..]).filter(|t| t.is_audio())
}

#[cfg(test)]
mod tests {
    use super::*;
    use str0m::rtp::Vp8Descriptor;

    /// A packet copied out: payload, sequence number, timestamp, marker.
    type Copied = (Vec<u8>, u64, u32, bool);

    /// The packets of one frame, copied for inspection.
    fn frame(src: &mut VideoLayerSource, tick: u64) -> (FrameSent, Vec<Copied>) {
        let mut out = Vec::new();
        let mut scratch = Vec::new();
        let sent = src.next_frame(tick, 1_000 + tick, &mut scratch, |p| {
            out.push((p.payload.to_vec(), p.seq, p.timestamp, p.marker))
        });
        (sent, out)
    }

    #[test]
    fn frames_split_into_packets_with_start_and_marker() {
        let layer = VideoOptions::default().layers[2];
        let mut src = VideoLayerSource::new(2, layer, 30, Duration::from_secs(3), 1);
        let (first, packets) = frame(&mut src, 0);
        assert!(first.keyframe, "a stream starts with a keyframe");
        assert_eq!(first.bytes, 3 * 6250);
        assert_eq!(first.packets, 18750usize.div_ceil(MAX_PAYLOAD - 6));
        assert_eq!(packets.len(), first.packets);
        let mut bytes = 0;
        for (i, (payload, seq, ts, marker)) in packets.iter().enumerate() {
            assert!(payload.len() <= MAX_PAYLOAD);
            bytes += payload.len() - vp8::DESCRIPTOR_LEN;
            assert_eq!(
                *marker,
                i + 1 == packets.len(),
                "marker on the last packet only"
            );
            assert_eq!(*seq, packets[0].1 + i as u64);
            assert_eq!(*ts, packets[0].2);
            let d = Vp8Descriptor::parse(payload).unwrap();
            assert_eq!(d.starts_keyframe(payload), i == 0);
            let info = vp8::read(payload).unwrap();
            assert_eq!(info.starts_frame, i == 0);
            assert_eq!(info.tag.unwrap().layer, 2);
            assert_eq!(info.tag.unwrap().frame, 0);
            assert_eq!(info.tag.unwrap().sent_us, 1_000);
        }
        assert_eq!(bytes, first.bytes);
        assert_eq!(vp8::read(&packets[0].0).unwrap().size, Some((1280, 720)));

        let (second, next) = frame(&mut src, 1);
        assert!(!second.keyframe);
        let first_pid = vp8::read(&packets[0].0).unwrap().picture_id.unwrap();
        let info = vp8::read(&next[0].0).unwrap();
        assert_eq!(info.picture_id, Some((first_pid + 1) & 0x7fff));
        assert_eq!(info.tag.unwrap().frame, 1);
        assert!(!info.keyframe && info.starts_frame);
        assert_eq!(
            next[0].1,
            packets.last().unwrap().1 + 1,
            "sequence continues"
        );
        assert_eq!(
            next[0].2,
            packets[0].2.wrapping_add(3000),
            "90 kHz at 30 fps"
        );
        let tl0 = vp8::read(&packets[0].0).unwrap().tl0_pic_idx.unwrap();
        assert_eq!(info.tl0_pic_idx, Some(tl0.wrapping_add(1)));

        src.request_keyframe();
        let (third, _) = frame(&mut src, 2);
        assert!(third.keyframe, "a PLI makes the next frame a keyframe");
    }

    #[test]
    fn keyframe_every_interval() {
        let layer = VideoOptions::default().layers[0];
        let mut src = VideoLayerSource::new(0, layer, 30, Duration::from_secs(1), 1);
        let keys: Vec<u64> = (0..91).filter(|t| frame(&mut src, *t).0.keyframe).collect();
        assert_eq!(keys, vec![0, 30, 60, 90]);
    }

    #[test]
    fn l1t3_frames_follow_chromiums_pattern_and_restart_at_keyframes() {
        let layer = VideoOptions::default().layers[0];
        let mut src = VideoLayerSource::new(0, layer, 30, Duration::from_secs(3), 3);
        let mut seen = Vec::new();
        for t in 0..12 {
            if t == 9 {
                src.request_keyframe();
            }
            let (_, packets) = frame(&mut src, t);
            let p = &packets[0].0;
            let tl = relais_sfu::codec::vp8_temporal(p).unwrap();
            let tl0 = vp8::read(p).unwrap().tl0_pic_idx.unwrap();
            seen.push((tl.tid, tl.layer_sync, tl0));
        }
        let first = seen[0].2;
        let tl0 = |n: u8| first.wrapping_add(n);
        assert_eq!(
            seen,
            [
                (0, false, tl0(0)),
                (2, true, tl0(0)),
                (1, true, tl0(0)),
                (2, false, tl0(0)),
                (0, false, tl0(1)),
                (2, false, tl0(1)),
                (1, false, tl0(1)),
                (2, false, tl0(1)),
                (0, false, tl0(2)),
                // The keyframe restarts the pattern: a base-layer frame.
                (0, false, tl0(3)),
                (2, true, tl0(3)),
                (1, true, tl0(3)),
            ]
        );
    }

    #[test]
    fn bitrate_over_ten_seconds() {
        let layer = VideoOptions::default().layers[1];
        let mut src = VideoLayerSource::new(1, layer, 30, Duration::from_secs(3), 3);
        let bytes: usize = (0..300).map(|t| frame(&mut src, t).0.bytes).sum();
        let want = 500_000 / 8 * 10;
        let err = (bytes as f64 - want as f64).abs() / want as f64;
        assert!(err < 0.02, "{bytes} bytes in 10 s, want {want}");
    }

    #[test]
    fn audio_is_tagged_and_sized() {
        let mut a = AudioSource::new(AudioOptions::default());
        let mut scratch = Vec::new();
        let first = a.next_packet(0, 5, &mut scratch).seq;
        let p = a.next_packet(1, 6, &mut scratch);
        assert_eq!(p.seq, first + 1);
        assert_eq!(p.payload.len(), 80);
        let tag = read_audio_tag(p.payload).unwrap();
        assert_eq!((tag.layer, tag.frame, tag.sent_us), (AUDIO_LAYER, 1, 6));
        assert_eq!(vp8::read(p.payload).and_then(|i| i.tag), None);
    }
}
