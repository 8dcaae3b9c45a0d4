//! Offer and answer on both connections of a participant.
//!
//! Publishing: the client offers, the worker answers, and each new media line
//! becomes a track. Receiving: the worker offers whenever downtracks come or
//! go, one offer at a time; changes made while an offer is out wait for its
//! answer.

use std::time::Instant;

use str0m::change::{SdpAnswer, SdpOffer};
use str0m::media::{Direction, MediaChanged, Mid, Pt, Rids};

use crate::api::{
    CoreEvent, MediaKind, OfferedTrack, PeerRole, PublishAnswer, SfuError, TrackInfo, TrackSource,
};
use crate::codec::Codec;
use crate::codec_preference;
use crate::ids::{ParticipantId, TrackId};
use crate::peer::{Peer, PeerKey};
use crate::track::{order_rids, Origin, Track};

use super::Worker;

/// Largest SDP accepted, in bytes: a subscriber's answer has a media line
/// per remote track, about 2 KB each from a browser, and signaling accepts
/// SDP messages up to 512 KiB.
const MAX_SDP_BYTES: usize = 512 * 1024;

impl Worker {
    pub(crate) fn publish_offer(
        &mut self,
        id: ParticipantId,
        sdp: &str,
        sources: Vec<(String, TrackSource)>,
        now: Instant,
    ) -> Result<PublishAnswer, SfuError> {
        let participant = self
            .participants
            .get(&id)
            .ok_or(SfuError::UnknownParticipant)?;
        if !participant.permissions.can_publish {
            return Err(SfuError::PublishNotAllowed);
        }
        if sdp.len() > MAX_SDP_BYTES {
            return Err(SfuError::BadSdp(format!(
                "larger than {MAX_SDP_BYTES} bytes"
            )));
        }
        let offer = SdpOffer::from_sdp_string(sdp).map_err(|_| unparseable(sdp))?;
        let lines = sdp
            .lines()
            .filter(|l| l.starts_with("m=audio") || l.starts_with("m=video"));
        let max = self.config.max_tracks_per_participant;
        if lines.count() > max {
            return Err(SfuError::TooManyTracks(max));
        }
        let key = match participant.publish {
            Some(key) => key,
            None => {
                let peer = Peer::new(id, PeerRole::Publish, self.config.candidate, false, now)?;
                let key = self.insert_peer(peer);
                self.participants
                    .get_mut(&id)
                    .expect("checked above")
                    .publish = Some(key);
                self.update_gauges();
                key
            }
        };
        if let Some(p) = self.participants.get_mut(&id) {
            p.pending_sources = sources;
        }
        let prefer = codec_preference::offered_video_codec(sdp);
        let answer = self.mutate_peer(key, |rtc| {
            if let Some(codec) = prefer {
                rtc.prefer_codec(codec);
            }
            rtc.sdp_api()
                .accept_offer(offer)
                .map(|a| a.to_sdp_string())
                .map_err(|e| format!("offer rejected: {e}"))
        });
        let Some(answer) = answer else {
            // The offer broke the peer; report it as bad SDP, not as a failure
            // of the participant, and start the next offer on a fresh peer.
            let reason = self.take_failure(id);
            if let Some(p) = self.participants.get_mut(&id) {
                p.publish = None;
            }
            self.drop_publish_peer_tracks(id, key, now);
            return Err(SfuError::BadSdp(
                reason.unwrap_or_else(|| "offer rejected".into()),
            ));
        };
        // str0m raises MediaAdded only once DTLS is up; make the tracks now
        // from the lines of the offer, so that the reply lists every one.
        let tracks: Vec<Track> = offered_mids(sdp)
            .into_iter()
            .filter_map(|m| self.new_track(key, m))
            .collect();
        self.add_tracks(tracks, now);
        // Lines the client stopped sending on end their tracks.
        let stopped: Vec<TrackId> = match (self.peer(key), self.participants.get(&id)) {
            (Some(peer), Some(p)) => p
                .published
                .iter()
                .filter(|(mid, _)| {
                    peer.rtc.media(*mid).is_none_or(|m| {
                        !matches!(m.direction(), Direction::RecvOnly | Direction::SendRecv)
                    })
                })
                .map(|(_, t)| *t)
                .collect(),
            _ => Vec::new(),
        };
        for track in stopped {
            self.remove_track(track, now);
        }
        self.settle(now);
        let p = self
            .participants
            .get(&id)
            .ok_or(SfuError::UnknownParticipant)?;
        let tracks = p
            .published
            .iter()
            .filter_map(|(mid, t)| Some((mid.to_string(), self.tracks.get(t)?.info.clone())))
            .collect();
        Ok(PublishAnswer {
            sdp: answer,
            tracks,
        })
    }

    /// Take back a participant's pending failure: the error of an offer or
    /// answer is the client's to hear, not a reason to drop it.
    fn take_failure(&mut self, id: ParticipantId) -> Option<String> {
        let reason = self
            .failed
            .iter()
            .rev()
            .find(|(p, _)| *p == id)
            .map(|(_, r)| r.clone());
        self.failed.retain(|(p, _)| *p != id);
        reason
    }

    fn drop_publish_peer_tracks(&mut self, id: ParticipantId, key: PeerKey, now: Instant) {
        let own: Vec<TrackId> = self
            .participants
            .get(&id)
            .map(|p| p.published.iter().map(|(_, t)| *t).collect())
            .unwrap_or_default();
        for t in own {
            self.remove_track(t, now);
        }
        self.remove_peer(key);
    }

    /// A media line of a publishing connection on which the client sends:
    /// a new track, unless it is one already.
    pub(super) fn publish_line(&mut self, key: PeerKey, mid: Mid, now: Instant) {
        if let Some(track) = self.new_track(key, mid) {
            self.add_tracks(vec![track], now);
        }
    }

    /// The track a publishing line makes, if it is a new one; the participant
    /// lists it at once.
    fn new_track(&mut self, key: PeerKey, mid: Mid) -> Option<Track> {
        let peer = self.peer(key)?;
        if peer.role != PeerRole::Publish {
            return None;
        }
        let owner = peer.owner;
        let media = peer.rtc.media(mid)?;
        if !matches!(media.direction(), Direction::RecvOnly | Direction::SendRecv) {
            return None;
        }
        let params = media
            .remote_pts()
            .iter()
            .find_map(|pt| peer.rtc.codec_config().find(|p| p.pt() == *pt).cloned());
        let params = params?;
        let codec = Codec::from_str0m(params.spec().codec)?;
        let rids = match media.rids_rx() {
            Rids::Specific(rids) => order_rids(rids),
            _ => Vec::new(),
        };
        let participant = self.participants.get_mut(&owner)?;
        if participant.track_by_mid(mid).is_some() {
            return None;
        }
        let mid_text = mid.to_string();
        let kind = if codec.is_audio() {
            MediaKind::Audio
        } else {
            MediaKind::Video
        };
        let source = participant
            .pending_sources
            .iter()
            .find(|(m, s)| *m == mid_text && s.kind() == kind)
            .map(|(_, s)| *s)
            .unwrap_or(match kind {
                MediaKind::Audio => TrackSource::Microphone,
                MediaKind::Video => TrackSource::Camera,
            });
        let id = TrackId {
            owner,
            index: participant.next_track_index,
        };
        participant.next_track_index += 1;
        participant.published.push((mid, id));
        let room = participant.room;
        let info = TrackInfo {
            id,
            source,
            kind,
            codec: codec.name().to_string(),
            layers: rids.len().max(1) as u8,
            muted: false,
        };
        Some(Track::new(
            info,
            room,
            Origin::Local { mid },
            codec,
            params.pt(),
            params.spec().clock_rate.get(),
            rids,
        ))
    }

    /// A publishing line turned inactive in a renegotiation: its track ends.
    pub(super) fn on_media_changed(&mut self, key: PeerKey, changed: MediaChanged, now: Instant) {
        let Some(peer) = self.peer(key) else { return };
        if peer.role != PeerRole::Publish
            || matches!(changed.direction, Direction::RecvOnly | Direction::SendRecv)
        {
            return;
        }
        let track = self
            .participants
            .get(&peer.owner)
            .and_then(|p| p.track_by_mid(changed.mid));
        if let Some(track) = track {
            self.remove_track(track, now);
        }
    }

    /// Offer the pending changes of a participant's receiving connection, if
    /// no offer is out.
    pub(crate) fn negotiate(&mut self, id: ParticipantId, now: Instant) {
        let Some(p) = self.participants.get(&id) else {
            return;
        };
        if p.negotiation.pending.is_some() || !p.negotiation.has_changes() {
            return;
        }
        let key = match p.subscribe {
            Some(key) => key,
            None => {
                let candidate = self.config.candidate;
                let Ok(peer) =
                    Peer::new(id, PeerRole::Subscribe, candidate, self.subscriber_bwe, now)
                else {
                    return;
                };
                let key = self.insert_peer(peer);
                self.participants
                    .get_mut(&id)
                    .expect("checked above")
                    .subscribe = Some(key);
                key
            }
        };
        let p = self.participants.get_mut(&id).expect("checked above");
        let adds = std::mem::take(&mut p.negotiation.to_add);
        let stops = std::mem::take(&mut p.negotiation.to_stop);
        let kinds: Vec<(TrackId, MediaKind)> = adds
            .iter()
            .filter_map(|t| Some((*t, p.downtracks.get(t)?.kind)))
            .collect();
        let offered = self.mutate_peer(key, |rtc| {
            let mut api = rtc.sdp_api();
            let mut mids = Vec::with_capacity(kinds.len());
            for (track, kind) in &kinds {
                let kind = match kind {
                    MediaKind::Audio => str0m::media::MediaKind::Audio,
                    MediaKind::Video => str0m::media::MediaKind::Video,
                };
                let stream = track.owner.to_string();
                let mid = api.add_media(
                    kind,
                    Direction::SendOnly,
                    Some(stream),
                    Some(track.to_string()),
                    None,
                );
                mids.push(mid);
            }
            // Ended lines turn inactive rather than stopped: a stopped line
            // gets port 0, and when it heads the BUNDLE group Chromium tears
            // down the whole transport and every other track with it.
            for mid in &stops {
                api.set_direction(*mid, Direction::Inactive);
            }
            Ok((mids, api.apply()))
        });
        let Some((mids, applied)) = offered else {
            return;
        };
        let p = self.participants.get_mut(&id).expect("checked above");
        for ((track, _), mid) in kinds.iter().zip(mids) {
            if let Some(dt) = p.downtracks.get_mut(track) {
                dt.mid = Some(mid);
                p.negotiation.lines.push((mid, *track));
            }
        }
        let Some((offer, pending)) = applied else {
            return;
        };
        let added: Vec<TrackId> = kinds.iter().map(|(t, _)| *t).collect();
        p.negotiation.pending = Some((pending, added));
        let tracks = p
            .negotiation
            .lines
            .iter()
            .map(|(mid, track)| OfferedTrack {
                mid: mid.to_string(),
                track: *track,
            })
            .collect();
        self.emit(CoreEvent::SubscriberOffer {
            participant: id,
            sdp: offer.to_sdp_string(),
            tracks,
        });
    }

    pub(crate) fn subscriber_answer(
        &mut self,
        id: ParticipantId,
        sdp: &str,
        now: Instant,
    ) -> Result<(), SfuError> {
        let p = self
            .participants
            .get_mut(&id)
            .ok_or(SfuError::UnknownParticipant)?;
        if p.negotiation.pending.is_none() {
            return Err(SfuError::NoPendingOffer);
        }
        if sdp.len() > MAX_SDP_BYTES {
            return Err(SfuError::BadSdp(format!(
                "larger than {MAX_SDP_BYTES} bytes"
            )));
        }
        let answer = SdpAnswer::from_sdp_string(sdp).map_err(|_| unparseable(sdp))?;
        let key = p.subscribe.ok_or(SfuError::NoPendingOffer)?;
        let (pending, added) = p.negotiation.pending.take().expect("checked above");
        let accepted = self.mutate_peer(key, |rtc| {
            rtc.sdp_api()
                .accept_answer(pending, answer)
                .map_err(|e| format!("answer rejected: {e}"))
        });
        if accepted.is_none() {
            // str0m dropped the offer it could not match with this answer: the
            // participant stays, and its new lines go into the next offer.
            let reason = self.take_failure(id);
            if let Some(p) = self.participants.get_mut(&id) {
                for track in &added {
                    if let Some(dt) = p.downtracks.get_mut(track) {
                        if let Some(mid) = dt.mid.take() {
                            p.negotiation.lines.retain(|(m, _)| *m != mid);
                        }
                        p.negotiation.to_add.push(*track);
                    }
                }
            }
            return Err(SfuError::BadSdp(
                reason.unwrap_or_else(|| "answer rejected".into()),
            ));
        }
        self.settle(now);
        self.mark_negotiated(id, key, &added);
        self.request_awaited_keyframes(id, now);
        self.negotiate(id, now);
        Ok(())
    }

    /// After an answer: the offered downtracks whose m-line the subscriber
    /// accepted may flow.
    fn mark_negotiated(&mut self, id: ParticipantId, key: PeerKey, added: &[TrackId]) {
        let Some(peer) = self.peers.get(key).and_then(Option::as_ref) else {
            return;
        };
        let Some(p) = self.participants.get_mut(&id) else {
            return;
        };
        for track in added {
            let Some(dt) = p.downtracks.get_mut(track) else {
                continue;
            };
            let accepted = dt
                .mid
                .and_then(|mid| peer.rtc.media(mid))
                .is_some_and(|m| !m.remote_pts().is_empty());
            dt.negotiated = accepted;
            if !accepted {
                tracing::warn!(%id, %track, "subscriber accepted no codec for the track");
            }
        }
    }
}

/// The subscriber's payload type for `codec` on the m-line `mid`.
pub(crate) fn subscriber_pt(rtc: &str0m::Rtc, mid: Mid, codec: Codec) -> Option<Pt> {
    let media = rtc.media(mid)?;
    media.remote_pts().iter().copied().find(|pt| {
        rtc.codec_config()
            .find(|p| p.pt() == *pt)
            .and_then(|p| Codec::from_str0m(p.spec().codec))
            == Some(codec)
    })
}

/// The mid of every audio and video line of an SDP, in order.
fn offered_mids(sdp: &str) -> Vec<Mid> {
    let mut mids = Vec::new();
    let mut in_media = false;
    for line in sdp.lines() {
        if let Some(m) = line.strip_prefix("m=") {
            in_media = m.starts_with("audio") || m.starts_with("video");
        } else if let Some(mid) = line.strip_prefix("a=mid:") {
            if in_media {
                mids.push(Mid::from(mid.trim()));
            }
        }
    }
    mids
}

/// The error for SDP that does not parse. str0m's parser error names internal
/// offsets, which mean nothing to a client; say where the text goes wrong instead.
fn unparseable(sdp: &str) -> SfuError {
    if sdp.trim().is_empty() {
        return SfuError::BadSdp("the SDP is empty".into());
    }
    if !sdp.starts_with("v=0") {
        return SfuError::BadSdp("the SDP does not start with v=0".into());
    }
    let odd = sdp
        .lines()
        .enumerate()
        .find(|(_, l)| !l.is_empty() && (l.len() < 2 || l.as_bytes()[1] != b'='));
    match odd {
        Some((n, line)) => {
            let shown: String = line.chars().take(40).collect();
            SfuError::BadSdp(format!("line {} is not an SDP line: {shown:?}", n + 1))
        }
        None => SfuError::BadSdp("the SDP could not be parsed".into()),
    }
}
