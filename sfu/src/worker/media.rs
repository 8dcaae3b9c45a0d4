//! The forwarding path: an RTP packet from a publisher goes to every
//! subscriber of its track whose forwarder lets it pass, rewritten; keyframe
//! requests go the other way, throttled.
//!
//! Per packet this path allocates nothing of its own: the payload is shared
//! (`Arc<[u8]>`) by every subscriber's send queue.

use std::time::Instant;

use str0m::media::{KeyframeRequest, KeyframeRequestKind};
use str0m::rtp::{ExtensionValues, RtpPacket, RtpWrite, Vp8Descriptor};

use crate::relay::{RelayMsg, RelayedPacket};
use crate::track::Origin;

use crate::api::{CoreEvent, LayerRequest, MediaKind, SfuError, TrackSource};
use crate::codec::{self, Codec, Spatial, Temporal};
use crate::dd_extension::DdBytes;
use crate::forwarder::Incoming;
use crate::ids::{ParticipantId, TrackId};
use crate::metrics::WorkerMetrics;
use crate::peer::{configure_forwarded_stream, PeerKey};
use crate::vp9_descriptor::Vp9Descriptor;

use super::negotiation::subscriber_pt;
use super::Worker;

impl Worker {
    pub(super) fn on_rtp(&mut self, key: PeerKey, mut packet: RtpPacket, now: Instant) {
        let Some(peer) = self.peers.get_mut(key).and_then(Option::as_mut) else {
            return;
        };
        let owner = peer.owner;
        let Some((mid, rid)) = peer
            .rtc
            .direct_api()
            .stream_rx(&packet.header.ssrc)
            .map(|s| (s.mid(), s.rid()))
        else {
            return;
        };
        let Some(track_id) = self
            .participants
            .get(&owner)
            .and_then(|p| p.track_by_mid(mid))
        else {
            return;
        };
        let Some(track) = self.tracks.get_mut(&track_id) else {
            return;
        };
        let Some(layer) = track.layer_of(rid) else {
            return;
        };
        if packet.header.payload_type != track.pt {
            // The publisher switched codec (or this is its first packet).
            let peer = self.peers[key].as_ref().expect("checked above");
            let params = peer
                .rtc
                .codec_config()
                .find(|p| p.pt() == packet.header.payload_type);
            let Some(params) = params else {
                return;
            };
            let Some(codec) = Codec::from_str0m(params.spec().codec) else {
                return;
            };
            track.codec = codec;
            track.pt = params.pt();
            track.clock_rate = params.spec().clock_rate.get();
        }
        if let (Some(level), TrackSource::Microphone) =
            (packet.header.ext_vals.audio_level, track.info.source)
        {
            if let Some(room) = self.rooms.get_mut(&track.room) {
                room.speaker.observe(owner, level, now);
            }
        }
        // AV1 without simulcast: the dependency descriptor goes with the
        // packet (moved, not copied) to be read and forwarded.
        let user_values = if track.codec == Codec::Av1 && track.rids.len() <= 1 {
            std::mem::take(&mut packet.header.ext_vals.user_values)
        } else {
            Default::default()
        };
        let m = &self.metrics;
        WorkerMetrics::add(&m.rtp_packets_received, 1);
        WorkerMetrics::add(&m.rtp_bytes_received, packet.payload.len() as u64);
        let relayed = RelayedPacket {
            track: track_id,
            layer,
            pt: track.pt,
            codec: track.codec,
            clock_rate: track.clock_rate,
            seq: *packet.seq_no,
            timestamp: packet.header.timestamp,
            marker: packet.header.marker,
            arrival: packet.timestamp,
            ext: ExtensionValues {
                audio_level: packet.header.ext_vals.audio_level,
                voice_activity: packet.header.ext_vals.voice_activity,
                video_orientation: packet.header.ext_vals.video_orientation,
                user_values,
                ..Default::default()
            },
            payload: packet.payload,
        };
        if let Some(workers) = self.room_workers.get(&track.room) {
            for &w in workers {
                self.relay_outbox
                    .push((w, RelayMsg::Packet(relayed.clone())));
            }
        }
        self.fan_out(&relayed, now);
    }

    /// Send one packet of a track (from a local publisher or relayed from
    /// another worker) to every local subscriber whose forwarder lets it pass.
    pub(super) fn fan_out(&mut self, packet: &RelayedPacket, now: Instant) {
        self.written_at = now;
        let track_id = packet.track;
        let Some(track) = self.tracks.get_mut(&track_id) else {
            return;
        };
        if packet.pt != track.pt {
            track.codec = packet.codec;
            track.pt = packet.pt;
            track.clock_rate = packet.clock_rate;
        }
        let layer = packet.layer;
        let payload = &packet.payload;
        let starts_keyframe = track.codec.starts_keyframe(payload);
        let size = (starts_keyframe && track.codec == Codec::Vp8)
            .then(|| codec::vp8_keyframe_size(payload))
            .flatten();
        let vp8 = (track.codec == Codec::Vp8)
            .then(|| Vp8Descriptor::parse(payload).ok())
            .flatten();
        let vp9 = (track.codec == Codec::Vp9)
            .then(|| Vp9Descriptor::parse(payload))
            .flatten();
        let vp9_layer = vp9.and_then(|d| d.layer);
        let temporal = match (vp8, vp9_layer) {
            (Some(_), _) => codec::vp8_temporal(payload),
            (None, Some(l)) => Some(Temporal {
                tid: l.tid,
                layer_sync: l.switching_up,
            }),
            (None, None) => None,
        };
        let mut spatial = vp9.and_then(|d| track.note_vp9(&d));
        let dd = DdBytes::of(&packet.ext).and_then(|b| track.note_dd(b));
        if dd.is_none() && track.uses_dd() {
            // An AV1 SVC packet whose layer cannot be known (its descriptor
            // missing, malformed, or before the first structure): no
            // subscriber could place it.
            return;
        }
        let mut temporal = temporal;
        let mut starts_keyframe = starts_keyframe;
        if let Some(d) = dd {
            temporal = Some(Temporal {
                tid: d.temporal,
                layer_sync: false,
            });
            spatial = Some(Spatial {
                sid: d.spatial,
                ends_layer_frame: d.end_of_frame,
            });
            starts_keyframe = d.keyframe;
        }
        let meter_layer = spatial.map_or(layer, |s| s.sid);
        let layer_started = track.note_packet(
            meter_layer,
            temporal.map(|t| t.tid),
            payload.len(),
            now,
            size,
        );
        if let Some(d) = &dd {
            track.note_dd_cost(d, payload.len(), now);
        }
        if track.silenced {
            return; // audio top-N: not among the loudest (crate::audio_top_n)
        }
        let incoming = Incoming {
            layer,
            seq: packet.seq,
            timestamp: packet.timestamp,
            arrival: packet.arrival,
            starts_keyframe,
            clock_rate: track.clock_rate,
            picture_id: vp8.and_then(|d| d.picture_id()),
            tl0_pic_idx: vp8.and_then(|d| d.tl0_pic_idx()),
            temporal,
            starts_frame: match (vp8, vp9, dd) {
                (Some(_), _, _) => codec::vp8_starts_frame(payload),
                (None, Some(d), _) => d.begins_frame,
                (None, None, Some(d)) => d.start_of_frame,
                (None, None, None) => false,
            },
            marker: packet.marker,
            spatial,
            dd,
        };
        let nackable = track.info.kind == MediaKind::Video;
        let m = &self.metrics;

        let mut forwarded = 0u64;
        let mut wanted_keyframes = 0u8;
        let mut switches = Vec::new();
        for &sub in &track.subscribers {
            let Some(p) = self.participants.get_mut(&sub) else {
                continue;
            };
            let Some(dt) = p.downtracks.get_mut(&track_id) else {
                continue;
            };
            let (Some(out_mid), Some(sub_key)) = (dt.mid, p.subscribe) else {
                continue;
            };
            if !dt.negotiated {
                continue;
            }
            let Some(sub_peer) = self.peers.get_mut(sub_key).and_then(Option::as_mut) else {
                continue;
            };
            if !sub_peer.is_connected() {
                continue;
            }
            let pt = match dt.pt {
                Some((from, to)) if from == track.pt => to,
                _ => {
                    let Some(to) = subscriber_pt(&sub_peer.rtc, out_mid, track.codec) else {
                        continue;
                    };
                    dt.pt = Some((track.pt, to));
                    to
                }
            };
            let Some(rw) = dt.forwarder.forward(&incoming) else {
                if let Some(l) = dt.forwarder.awaiting_keyframe() {
                    wanted_keyframes |= 1 << l;
                }
                continue;
            };
            if rw.switched {
                switches.push((sub, dt.forwarder.current()));
            }
            let mut write = RtpWrite::new(
                pt,
                rw.seq.into(),
                rw.timestamp,
                packet.arrival,
                payload.clone(),
            )
            .marker(rw.marker)
            .nackable(nackable)
            .ext_vals(packet.ext.clone());
            if let Some(d) = vp8 {
                let mut patch = d.patch();
                if let Some(id) = rw.picture_id {
                    patch = patch.picture_id(if id > 0x7f && !is_15_bit(payload) {
                        id & 0x7f
                    } else {
                        id
                    });
                }
                if let Some(i) = rw.tl0_pic_idx {
                    patch = patch.tl0_pic_idx(i);
                }
                if let Ok(patch) = patch.build() {
                    write = write.vp8_patch(patch);
                }
            }
            if !sub_peer.undrained {
                self.written.push(sub_key);
            }
            let result = sub_peer.write(|rtc| {
                let mut api = rtc.direct_api();
                // By SSRC (one hash lookup) once known; by mid scans every
                // stream. (`write_rtp` by SSRC is a patch of ours: it spares
                // the drain a walk for events that a write never raises.)
                let write = match dt.tx_ssrc {
                    Some(ssrc) => match api.write_rtp(ssrc, write) {
                        Ok(()) => return true,
                        Err(write) => write,
                    },
                    None => write,
                };
                match api.stream_tx_by_mid(out_mid, None) {
                    Some(stream) => {
                        configure_forwarded_stream(stream, dt.kind);
                        dt.tx_ssrc = Some(stream.ssrc());
                        stream.write_rtp(write);
                        true
                    }
                    None => false,
                }
            });
            match result {
                Ok(true) => forwarded += 1,
                Ok(false) => {}
                Err(e) => self.failed.push((sub, e)),
            }
        }
        self.writes_pending += forwarded as usize;
        WorkerMetrics::add(&m.rtp_packets_forwarded, forwarded);
        WorkerMetrics::add(&m.rtp_bytes_forwarded, forwarded * payload.len() as u64);
        for (sub, layer) in switches {
            WorkerMetrics::add(&self.metrics.layer_switches, 1);
            self.emit(CoreEvent::LayerSwitched {
                participant: sub,
                track: track_id,
                layer,
            });
        }
        if layer_started {
            self.reselect_layers(track_id, now);
        }
        for l in 0..3u8 {
            if wanted_keyframes & (1 << l) != 0 {
                self.request_keyframe(track_id, l, now);
            }
        }
    }

    /// A subscriber lost a picture: ask the publisher for a keyframe of the
    /// layer that subscriber receives (or waits for).
    pub(super) fn on_keyframe_request(&mut self, key: PeerKey, req: KeyframeRequest, now: Instant) {
        let Some(peer) = self.peer(key) else { return };
        let owner = peer.owner;
        let Some(p) = self.participants.get(&owner) else {
            return;
        };
        let Some(track) = p.downtrack_by_mid(req.mid) else {
            return;
        };
        let Some(dt) = p.downtracks.get(&track) else {
            return;
        };
        WorkerMetrics::add(&self.metrics.keyframe_requests_received, 1);
        if let Some(layer) = dt.forwarder.current().or(dt.forwarder.target()) {
            self.request_keyframe(track, layer, now);
        }
    }

    /// Send a PLI for one layer of a track to its publisher, at most once per
    /// throttle interval.
    pub(crate) fn request_keyframe(&mut self, track: TrackId, layer: u8, now: Instant) {
        let Some(t) = self.tracks.get_mut(&track) else {
            return;
        };
        // An SVC stream has one encoding: one keyframe serves every layer.
        let layer = if t.is_svc() { 0 } else { layer };
        if t.info.kind != MediaKind::Video || !t.throttle.ready(layer, now) {
            return;
        }
        let (mid, rid) = match t.origin {
            Origin::Local { mid } => (mid, t.rid_of(layer)),
            Origin::Remote { worker } => {
                // The worker with the publisher asks it (and throttles too).
                t.throttle.record(layer, now);
                self.relay_outbox
                    .push((worker, RelayMsg::KeyframeRequest { track, layer }));
                return;
            }
        };
        let Some(key) = self.participants.get(&track.owner).and_then(|p| p.publish) else {
            return;
        };
        // Before the layer's first packet str0m has no stream for it: nothing
        // is sent and the throttle stays open.
        let sent = self.mutate_peer(key, |rtc| {
            Ok(match rtc.direct_api().stream_rx_by_mid(mid, rid) {
                Some(stream) => {
                    stream.request_keyframe(KeyframeRequestKind::Pli);
                    true
                }
                None => false,
            })
        });
        if sent == Some(true) {
            if let Some(t) = self.tracks.get_mut(&track) {
                t.throttle.record(layer, now);
            }
            WorkerMetrics::add(&self.metrics.keyframe_requests_sent, 1);
        }
    }

    /// Ask for the keyframes that a participant's downtracks wait for.
    pub(crate) fn request_awaited_keyframes(&mut self, id: ParticipantId, now: Instant) {
        let Some(p) = self.participants.get(&id) else {
            return;
        };
        if !self.receiving(id) {
            // A keyframe now would reach nobody and hold back the next request.
            return;
        }
        let wanted: Vec<(TrackId, u8)> = p
            .downtracks
            .iter()
            .filter(|(_, d)| d.negotiated)
            .filter_map(|(t, d)| Some((*t, d.forwarder.awaiting_keyframe()?)))
            .collect();
        for (track, layer) in wanted {
            self.request_keyframe(track, layer, now);
        }
    }

    /// Choose again the layers of every subscriber of a track: after a
    /// subscription change, or when a layer starts or stops.
    pub(crate) fn reselect_layers(&mut self, track: TrackId, now: Instant) {
        let Some(t) = self.tracks.get(&track) else {
            return;
        };
        if t.info.kind != MediaKind::Video {
            return;
        }
        for sub in t.subscribers.clone() {
            self.reallocate(sub, now);
        }
    }

    /// Whether the participant's receiving connection is up, so that a
    /// keyframe asked for on its behalf would reach it.
    pub(super) fn receiving(&self, id: ParticipantId) -> bool {
        self.participants
            .get(&id)
            .and_then(|p| p.subscribe)
            .and_then(|k| self.peer(k))
            .is_some_and(|p| p.is_connected())
    }

    pub(crate) fn subscribe(
        &mut self,
        id: ParticipantId,
        track: TrackId,
        request: LayerRequest,
        now: Instant,
    ) -> Result<(), SfuError> {
        // Only a track of a participant on another worker can be on its way.
        let may_arrive = self.config.workers > 1
            && !self.tracks.contains_key(&track)
            && !self.participants.contains_key(&track.owner);
        let p = self
            .participants
            .get_mut(&id)
            .ok_or(SfuError::UnknownParticipant)?;
        if may_arrive {
            // Published on another worker and not relayed here yet: signaling
            // checked that it is in the room. Apply the request on arrival.
            p.keep_early_request(track, request);
            return Ok(());
        }
        let dt = p
            .downtracks
            .get_mut(&track)
            .ok_or(SfuError::UnknownTrack(track))?;
        dt.request = request;
        if dt.kind == MediaKind::Audio {
            dt.forwarder
                .set_target((request != LayerRequest::Off).then_some(0));
        }
        self.reselect_layers(track, now);
        Ok(())
    }
}

/// Whether the VP8 picture id of this payload uses 15 bits.
fn is_15_bit(payload: &[u8]) -> bool {
    payload.len() > 2 && payload[0] & 0x80 != 0 && payload[1] & 0x80 != 0 && payload[2] & 0x80 != 0
}
