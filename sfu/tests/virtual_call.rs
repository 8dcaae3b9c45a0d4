//! Whole calls through one sans-IO worker on a virtual clock: real str0m
//! peers on both sides, a simulated network, no sockets and no sleeping.

mod support;

use std::time::Duration;

use relais_sfu::api::*;
use relais_sfu::ids::TrackId;
use support::*;

fn secs(s: u64) -> Duration {
    Duration::from_secs(s)
}

#[test]
fn simulcast_publisher_reaches_two_subscribers_at_the_layers_they_asked_for() {
    let mut w = World::new();
    let publisher = w.join(true);
    let low = w.join(true);
    let high = w.join(true);
    let answer = w.publish(publisher).unwrap();
    assert_eq!(
        answer.tracks.len(),
        2,
        "a video and an audio track: {:?}",
        answer.tracks
    );
    let video = track_of(&answer, MediaKind::Video);
    let audio = track_of(&answer, MediaKind::Audio);
    assert_eq!(video.layers, 3);
    assert_eq!(video.codec, "VP8");
    w.subscribe(low, video.id, LayerRequest::Quality(Quality::Low))
        .unwrap();
    w.run(secs(3));

    let got_low = w.received_on(low, video.id);
    let got_high = w.received_on(high, video.id);
    assert!(
        got_low.len() > 100,
        "low subscriber got {} video packets",
        got_low.len()
    );
    assert!(
        got_high.len() > 100,
        "high subscriber got {} video packets",
        got_high.len()
    );
    assert!(
        got_low.iter().all(|r| r.layer == 0),
        "only layer 0 reaches the low subscriber"
    );
    assert!(
        got_high.iter().all(|r| r.layer == 2),
        "only layer 2 reaches the high subscriber"
    );
    assert!(
        got_low[0].keyframe && got_high[0].keyframe,
        "each stream starts at a keyframe"
    );
    for c in [low, high] {
        let audio_rx = w.received_on(c, audio.id);
        assert!(audio_rx.len() > 100, "audio packets: {}", audio_rx.len());
        assert!(audio_rx.iter().all(|r| r.layer == 255));
    }
    assert!(w.metrics.snapshot().rtp_packets_forwarded > 400);
}

#[test]
fn switching_layers_lands_on_a_keyframe_after_a_pli_and_keeps_the_stream_continuous() {
    let mut w = World::new();
    let publisher = w.join(true);
    let sub = w.join(true);
    let video = track_of(&w.publish(publisher).unwrap(), MediaKind::Video);
    let ask = |w: &mut World, q: Quality| {
        w.subscribe(sub, video.id, LayerRequest::Quality(q))
            .unwrap()
    };
    w.run(secs(2));
    let plis_before = w.client(publisher).keyframe_requests.len();
    ask(&mut w, Quality::Low);
    w.run(secs(2));
    ask(&mut w, Quality::Medium);
    w.run(secs(2));
    ask(&mut w, Quality::High);
    w.run(secs(2));

    let rx = w.received_on(sub, video.id);
    // Layers seen, in order, with the first packet of each run.
    let mut runs: Vec<(u8, bool)> = Vec::new();
    for r in &rx {
        if runs.last().map(|l| l.0) != Some(r.layer) {
            runs.push((r.layer, r.keyframe));
        }
    }
    let layers: Vec<u8> = runs.iter().map(|r| r.0).collect();
    assert_eq!(
        layers,
        [2, 0, 1, 2],
        "high, then down to low, up to medium and high"
    );
    assert!(
        runs.iter().all(|r| r.1),
        "every switch lands on a keyframe: {runs:?}"
    );
    let plis: Vec<_> = w.client(publisher).keyframe_requests[plis_before..]
        .iter()
        .map(|k| k.1.map(|r| r.to_string()))
        .collect();
    for rid in ["q", "h", "f"] {
        assert!(
            plis.contains(&Some(rid.to_string())),
            "the publisher saw a PLI for {rid}: {plis:?}"
        );
    }
    // One SSRC, sequence numbers without gaps or repeats, timestamps that never go back.
    assert!(rx.iter().all(|r| r.ssrc == rx[0].ssrc), "stable SSRC");
    assert!(rx.iter().all(|r| r.picture_id.is_some()), "VP8 picture ids");
    assert_gapless(&rx);
}

#[test]
fn a_paused_subscription_stops_and_resumes_on_a_keyframe() {
    let mut w = World::new();
    let publisher = w.join(true);
    let sub = w.join(true);
    let video = track_of(&w.publish(publisher).unwrap(), MediaKind::Video);
    w.run(secs(1));
    w.subscribe(sub, video.id, LayerRequest::Off).unwrap();
    w.run(Duration::from_millis(100));
    let paused_at = w.received_on(sub, video.id).len();
    w.run(secs(1));
    assert_eq!(
        w.received_on(sub, video.id).len(),
        paused_at,
        "nothing flows while off"
    );
    w.subscribe(
        sub,
        video.id,
        LayerRequest::MaxSize {
            width: 640,
            height: 360,
        },
    )
    .unwrap();
    w.run(secs(1));
    let rx = w.received_on(sub, video.id);
    assert!(rx.len() > paused_at + 50);
    let resumed = &rx[paused_at..];
    assert!(
        resumed[0].keyframe && resumed.iter().all(|r| r.layer == 1),
        "640x360 is layer 1"
    );
    assert_eq!(
        resumed[0].seq,
        rx[paused_at - 1].seq + 1,
        "no gap across the pause"
    );
}

#[test]
fn a_leaving_publisher_leaves_nothing_behind() {
    let mut w = World::new();
    let publisher = w.join(true);
    let sub = w.join(true);
    let answer = w.publish(publisher).unwrap();
    w.run(secs(1));
    assert_eq!(w.worker.snapshot().tracks.len(), 2);
    let id = w.client(publisher).id;
    w.call(|reply| Command::RemoveParticipant {
        participant: id,
        reply,
    });
    w.run(Duration::from_millis(200));
    let gone: Vec<_> = w
        .seen
        .iter()
        .filter_map(|e| match e {
            CoreEvent::TrackUnpublished { track, .. } => Some(*track),
            _ => None,
        })
        .collect();
    for (_, t) in &answer.tracks {
        assert!(gone.contains(&t.id), "{} unpublished", t.id);
    }
    let snap = w.worker.snapshot();
    assert_eq!(snap.participants, vec![w.client(sub).id]);
    assert!(snap.tracks.is_empty() && snap.subscriptions.is_empty());
    assert_eq!(
        snap.peers, 1,
        "only the subscriber's receiving connection remains"
    );
    // The subscriber was offered the stopped lines.
    let offers = w
        .seen
        .iter()
        .filter(|e| matches!(e, CoreEvent::SubscriberOffer { .. }))
        .count();
    assert!(offers >= 2, "a new offer removed the lines");
    // The ended lines stay in the offer as inactive, never with port 0: a
    // port-0 line heading the BUNDLE group makes Chromium drop the transport.
    let last_offer = w
        .seen
        .iter()
        .rev()
        .find_map(|e| match e {
            CoreEvent::SubscriberOffer { sdp, .. } => Some(sdp.clone()),
            _ => None,
        })
        .unwrap();
    assert!(
        !last_offer.contains("m=audio 0 ") && !last_offer.contains("m=video 0 "),
        "{last_offer}"
    );
    assert!(last_offer.contains("a=inactive"), "{last_offer}");
}

#[test]
fn garbage_offers_and_answers_get_errors_and_the_stream_keeps_flowing() {
    let mut w = World::new();
    let publisher = w.join(true);
    let sub = w.join(true);
    let video = track_of(&w.publish(publisher).unwrap(), MediaKind::Video);
    w.run(secs(1));
    let before = w.received_on(sub, video.id).len();
    let sub_id = w.client(sub).id;
    for sdp in ["", "v=0\r\nthis is not sdp", &"a".repeat(100_000)] {
        let sdp = sdp.to_string();
        let r = w.call(|reply| Command::PublishOffer {
            participant: sub_id,
            sdp,
            sources: vec![],
            reply,
        });
        match r {
            Err(SfuError::BadSdp(msg)) => {
                assert!(!msg.contains("Offset") && msg.len() < 120, "{msg}")
            }
            other => panic!("{other:?}"),
        }
    }
    let r = w.call(|reply| Command::SubscriberAnswer {
        participant: sub_id,
        sdp: "nonsense".into(),
        reply,
    });
    assert_eq!(r, Err(SfuError::NoPendingOffer));
    let bogus = relais_sfu::TrackId {
        owner: relais_sfu::ParticipantId(99),
        index: 1,
    };
    let r = w.subscribe(sub, bogus, LayerRequest::Off);
    assert_eq!(r, Err(SfuError::UnknownTrack(bogus)));
    // Garbage datagrams from anywhere are dropped.
    for junk in [
        &b""[..],
        &[0u8; 3][..],
        &[0x80; 400][..],
        &[0x16, 0xfe, 0xfd, 0, 0][..],
    ] {
        w.worker
            .handle_datagram(w.now, "10.9.9.9:1".parse().unwrap(), junk);
    }
    w.run(secs(1));
    assert!(
        w.received_on(sub, video.id).len() > before + 50,
        "the stream kept flowing"
    );
    assert_eq!(w.worker.snapshot().participants.len(), 2);
}

#[test]
fn a_participant_that_may_not_publish_is_refused_then_promoted() {
    let mut w = World::new();
    let _host = w.join(true);
    let attendee = w.join(false);
    assert_eq!(
        w.publish(attendee).unwrap_err(),
        SfuError::PublishNotAllowed
    );
    let id = w.client(attendee).id;
    let permissions = Permissions {
        can_publish: true,
        can_subscribe: true,
    };
    w.call(|reply| Command::SetPermissions {
        participant: id,
        permissions,
        reply,
    })
    .unwrap();
    let published_at = w.now;
    let answer = w.publish(attendee).unwrap();
    w.run(secs(1));
    let video = track_of(&answer, MediaKind::Video).id;
    let rx = w.received_on(0, video);
    assert!(rx.len() > 50, "the host receives the promoted attendee");
    // A new subscriber gets a keyframe promptly: the SFU asks on its behalf
    // as soon as its connection is up (virtual time, so deterministic).
    let first = rx[0].at - published_at;
    assert!(
        rx[0].keyframe && first < Duration::from_millis(250),
        "first video after {first:?}"
    );
    // Demotion ends its tracks and its publishing connection.
    let permissions = Permissions {
        can_publish: false,
        can_subscribe: true,
    };
    w.call(|reply| Command::SetPermissions {
        participant: id,
        permissions,
        reply,
    })
    .unwrap();
    assert!(w.worker.snapshot().tracks.is_empty());
}

#[test]
fn loss_on_both_legs_is_repaired_by_nack_and_rtx() {
    loss_on_both_legs_repaired(true);
}

/// Without downlink estimation (the default) written media is released by
/// `Rtc::release_written` rather than a full timeout (a patch of ours in
/// vendor/str0m), and drained without walking for events: NACKs must still
/// be answered.
#[test]
fn loss_on_both_legs_is_repaired_without_downlink_estimation() {
    loss_on_both_legs_repaired(false);
}

fn loss_on_both_legs_repaired(subscriber_bwe: bool) {
    let mut w = World::new();
    w.worker.set_subscriber_bwe(subscriber_bwe);
    let publisher = w.join(true);
    let sub = w.join(true);
    let video = track_of(&w.publish(publisher).unwrap(), MediaKind::Video);
    w.run(secs(1));
    // Every 10th media datagram is lost from the publisher to the SFU, and
    // every 10th from the SFU to the subscriber.
    let (pub_addr, sub_addr) = (w.client(publisher).addr, w.client(sub).sub_addr);
    w.loss = vec![(pub_addr, 10), (sub_addr, 10)];
    let start = w.received_on(sub, video.id).last().unwrap().seq;
    w.run(secs(4));
    w.loss.clear();
    w.run(secs(1));
    let mut seqs: Vec<u64> = w
        .received_on(sub, video.id)
        .iter()
        .map(|r| r.seq)
        .filter(|s| *s > start)
        .collect();
    seqs.sort_unstable();
    seqs.dedup();
    let (first, last) = (seqs[0], *seqs.last().unwrap());
    let expected = (last - first + 1) as usize;
    let missing = expected - seqs.len();
    // Under 10% loss the downlink estimate falls and the subscriber may be
    // moved to a smaller layer (fewer packets a frame).
    assert!(expected > 350, "enough packets to measure: {expected}");
    assert!(w.lost > 100, "the network lost {} datagrams", w.lost);
    eprintln!(
        "loss test: lost {} datagrams; {missing} of {expected} missing after repair",
        w.lost
    );
    assert!(
        missing * 100 < expected,
        "after NACK/RTX at most 1% missing; missing {missing} of {expected}"
    );
}

#[test]
fn a_peer_that_vanishes_is_dropped_and_the_others_are_told() {
    let mut w = World::new();
    let publisher = w.join(true);
    let sub = w.join(true);
    w.publish(publisher).unwrap();
    w.run(secs(1));
    let (addr, id) = (w.client(publisher).addr, w.client(publisher).id);
    w.gone.push(addr);
    w.run(secs(45));
    let failed = w.seen.iter().any(
        |e| matches!(e, CoreEvent::ParticipantFailed { participant, .. } if *participant == id),
    );
    assert!(failed, "the vanished publisher was reported failed");
    let snap = w.worker.snapshot();
    assert_eq!(snap.participants, vec![w.client(sub).id]);
    assert!(snap.tracks.is_empty() && snap.subscriptions.is_empty());
    assert_eq!(
        snap.routes, 1,
        "only the subscriber's address is still routed"
    );
}

#[test]
fn the_dominant_speaker_follows_the_voice_without_flicker() {
    let mut w = World::new();
    let a = w.join(true);
    let b = w.join(true);
    w.publish(a).unwrap();
    w.publish(b).unwrap();
    let speakers = |w: &World| -> Vec<Option<relais_sfu::ParticipantId>> {
        w.seen
            .iter()
            .filter_map(|e| match e {
                CoreEvent::ActiveSpeaker { participant, .. } => Some(*participant),
                _ => None,
            })
            .collect()
    };
    w.clients[a].voice_level = -20;
    w.run(secs(2));
    assert_eq!(speakers(&w), vec![Some(w.client(a).id)]);
    // B speaks up briefly, then for real.
    w.clients[b].voice_level = -15;
    w.run(Duration::from_millis(200));
    w.clients[b].voice_level = -127;
    w.run(secs(1));
    assert_eq!(
        speakers(&w).len(),
        1,
        "a 200 ms interjection does not switch"
    );
    w.clients[a].voice_level = -127;
    w.clients[b].voice_level = -25;
    w.run(secs(2));
    assert_eq!(
        speakers(&w),
        vec![Some(w.client(a).id), Some(w.client(b).id)]
    );
    let id = w.client(b).id;
    w.call(|reply| Command::RemoveParticipant {
        participant: id,
        reply,
    });
    assert_eq!(speakers(&w).last(), Some(&None), "the speaker left");
}

#[test]
fn a_renegotiation_that_stops_a_line_ends_its_track() {
    let mut w = World::new();
    let publisher = w.join(true);
    let sub = w.join(true);
    let answer = w.publish(publisher).unwrap();
    w.run(secs(1));
    let audio = track_of(&answer, MediaKind::Audio).id;
    // The publisher stops its audio line and offers again.
    let mid = w.client(publisher).audio_mid.unwrap();
    let rtc = w.clients[publisher].publish.as_mut().unwrap();
    let mut api = rtc.sdp_api();
    api.set_direction(mid, str0m::media::Direction::Inactive);
    let (offer, pending) = api.apply().unwrap();
    let id = w.client(publisher).id;
    let sdp = offer.to_sdp_string();
    let reply = w
        .call(|reply| Command::PublishOffer {
            participant: id,
            sdp,
            sources: vec![],
            reply,
        })
        .unwrap();
    let rtc = w.clients[publisher].publish.as_mut().unwrap();
    rtc.sdp_api()
        .accept_answer(
            pending,
            str0m::change::SdpAnswer::from_sdp_string(&reply.sdp).unwrap(),
        )
        .unwrap();
    assert!(
        reply.tracks.iter().all(|(_, t)| t.id != audio),
        "the answer no longer lists audio"
    );
    assert!(!w.worker.snapshot().tracks.contains(&audio));
    assert!(w
        .seen
        .iter()
        .any(|e| matches!(e, CoreEvent::TrackUnpublished { track, .. } if *track == audio)));
    let before = w
        .received_on(sub, track_of(&answer, MediaKind::Video).id)
        .len();
    w.run(secs(1));
    let video = track_of(&answer, MediaKind::Video).id;
    assert!(
        w.received_on(sub, video).len() > before + 50,
        "video goes on"
    );
}

#[test]
fn h264_simulcast_switches_at_idr_frames() {
    let mut w = World::new();
    let publisher = w.join(true);
    let sub = w.join(true);
    w.clients[publisher].codec = str0m::format::Codec::H264;
    let video = track_of(&w.publish(publisher).unwrap(), MediaKind::Video);
    assert_eq!((video.codec.as_str(), video.layers), ("H264", 3));
    w.run(secs(1));
    w.subscribe(sub, video.id, LayerRequest::Quality(Quality::Low))
        .unwrap();
    w.run(secs(1));
    let rx = w.received_on(sub, video.id);
    let mut runs: Vec<(u8, bool)> = Vec::new();
    for r in &rx {
        if runs.last().map(|l| l.0) != Some(r.layer) {
            runs.push((r.layer, r.keyframe));
        }
    }
    assert_eq!(
        runs,
        [(2, true), (0, true)],
        "high first, then low, each from an IDR"
    );
    assert_gapless(&rx);
}

#[test]
fn a_webinar_spread_over_two_workers_reaches_every_attendee_with_one_relay() {
    let mut w = World::with_workers(2);
    let presenter = w.join_on(0, true);
    let attendees: Vec<usize> = (0..6).map(|i| w.join_on(i % 2, false)).collect();
    let answer = w.publish(presenter).unwrap();
    let video = track_of(&answer, MediaKind::Video).id;
    let audio = track_of(&answer, MediaKind::Audio).id;
    w.run(secs(2));
    for &a in &attendees {
        let rx = w.received_on(a, video);
        assert!(
            rx.len() > 100,
            "attendee on worker {} got {} video packets",
            w.client(a).worker,
            rx.len()
        );
        assert!(rx[0].keyframe && rx.iter().all(|r| r.layer == 2));
        assert!(w.received_on(a, audio).len() > 50);
    }
    // An attendee on the other worker gets the room's tracks in one offer.
    let far_id = w.client(attendees[1]).id;
    let first_offer = w.seen.iter().find_map(|e| match e {
        CoreEvent::SubscriberOffer {
            participant,
            tracks,
            ..
        } if *participant == far_id => Some(tracks.len()),
        _ => None,
    });
    assert_eq!(first_offer, Some(2), "video and audio in the first offer");
    // Only the presenter's worker announces the tracks to signaling.
    let published = w
        .seen
        .iter()
        .filter(|e| matches!(e, CoreEvent::TrackPublished { .. }))
        .count();
    assert_eq!(published, 2);
    // An attendee on worker 1 asks for the low layer: the PLI goes to the
    // publisher through worker 0.
    let far = attendees[1];
    assert_eq!(w.client(far).worker, 1);
    let plis_before = w.client(presenter).keyframe_requests.len();
    w.subscribe(far, video, LayerRequest::Quality(Quality::Low))
        .unwrap();
    w.run(secs(1));
    let rx = w.received_on(far, video);
    assert_eq!(
        rx.last().unwrap().layer,
        0,
        "the far attendee switched to low"
    );
    let plis = &w.client(presenter).keyframe_requests[plis_before..];
    assert!(
        plis.iter()
            .any(|k| k.1.map(|r| r.to_string()) == Some("q".into())),
        "{plis:?}"
    );
    // The presenter leaves: every worker forgets the tracks.
    let pid = w.client(presenter).id;
    w.call_on(0, |reply| Command::RemoveParticipant {
        participant: pid,
        reply,
    });
    w.run(Duration::from_millis(200));
    assert!(w.worker.snapshot().tracks.is_empty());
    assert!(
        w.extra[0].snapshot().tracks.is_empty(),
        "the relayed tracks are gone on worker 1"
    );
    assert!(w.extra[0].snapshot().subscriptions.is_empty());
}

#[test]
fn a_request_for_a_track_not_yet_relayed_to_the_attendees_worker_is_applied_when_it_arrives() {
    // Signaling announces a track as soon as the publisher's worker has it;
    // an attendee on another worker may ask for a layer before the relay
    // reaches its worker. The request waits there instead of failing.
    let mut w = World::with_workers(2);
    let presenter = w.join_on(0, true);
    let far = w.join_on(1, false);
    let near = w.join_on(0, false);
    let presenter_id = w.client(presenter).id;
    // The track the presenter's first publish will make (the video line is
    // offered first).
    let video = TrackId {
        owner: presenter_id,
        index: 1,
    };
    w.subscribe(far, video, LayerRequest::Quality(Quality::Low))
        .expect("a track not known yet on this worker is accepted");
    let answer = w.publish(presenter).unwrap();
    assert_eq!(track_of(&answer, MediaKind::Video).id, video);
    w.run(secs(2));
    let rx = w.received_on(far, video);
    assert!(rx.len() > 50, "far attendee got {} packets", rx.len());
    assert!(
        rx.iter().all(|r| r.layer == 0),
        "the early request (low) holds from the first packet"
    );
    let rx = w.received_on(near, video);
    assert!(rx.len() > 50 && rx.iter().all(|r| r.layer == 2));
    // On the publisher's own worker, an unknown track is still an error.
    let near_id = w.client(near).id;
    let bogus = TrackId {
        owner: near_id,
        index: 9,
    };
    let refused = w.subscribe(near, bogus, LayerRequest::Quality(Quality::Low));
    assert!(refused.is_err(), "own or unknown track: {refused:?}");
}
