//! Last-N video, audio top-N and dynacast on a virtual clock, judged by the
//! packets subscribers really receive and publishers really send.

mod support;

use std::time::{Duration, Instant};

use relais_sfu::api::*;
use relais_sfu::ids::{ParticipantId, TrackId};
use support::room_media::Dynacast;
use support::*;

fn ms(n: u64) -> Duration {
    Duration::from_millis(n)
}

/// `n` clients on one worker, each publishing simulcast video and audio.
fn meeting(n: usize, policy: MediaPolicy) -> (World, Vec<TrackId>, Vec<TrackId>) {
    let mut w = World::new();
    // Downlink estimation stays off here, as it is by default: these tests
    // judge which tracks flow, and with it on str0m's pacer queues what was
    // already forwarded behind an estimate that starts low (see
    // docs/media-quality.md), so a paused track trickles on for seconds.
    w.worker.set_subscriber_bwe(false);
    w.set_policy(policy);
    let clients: Vec<usize> = (0..n).map(|_| w.join(true)).collect();
    let (mut video, mut audio) = (Vec::new(), Vec::new());
    for c in clients {
        let answer = w.publish(c).unwrap();
        video.push(track_of(&answer, MediaKind::Video).id);
        audio.push(track_of(&answer, MediaKind::Audio).id);
    }
    (w, video, audio)
}

/// New packets `c` received of `track` since `since`. Repeats of packets
/// received before (str0m pads a probing downlink with retransmissions of
/// sent packets, which a receiver discards) are not new media.
fn got_since(w: &World, c: usize, track: TrackId, since: Instant) -> usize {
    let rx = w.received_on(c, track);
    let newest_before = rx.iter().filter(|r| r.at < since).map(|r| r.seq).max();
    rx.iter()
        .filter(|r| r.at >= since && newest_before.is_none_or(|n| r.seq > n))
        .count()
}

/// Which of `tracks` reached `c` since `since` (their indexes).
fn flowing(w: &World, c: usize, tracks: &[TrackId], since: Instant) -> Vec<usize> {
    (0..tracks.len())
        .filter(|&i| got_since(w, c, tracks[i], since) > 0)
        .collect()
}

/// Run until `who` is the dominant speaker; the time it became so.
fn until_speaker(w: &mut World, dc: &mut Dynacast, c: usize) -> Instant {
    let who = w.client(c).id;
    for _ in 0..50 {
        w.run_dynacast(ms(100), dc);
        let last = w.seen.iter().rev().find_map(|e| match e {
            CoreEvent::ActiveSpeaker { participant, .. } => Some(*participant),
            _ => None,
        });
        if last == Some(Some(who)) {
            return w.now;
        }
    }
    panic!("{who} never became the speaker");
}

fn last_n(limit: usize) -> MediaPolicy {
    MediaPolicy {
        last_n: limit,
        audio_top_n: 0,
        ..MediaPolicy::default()
    }
}

#[test]
fn with_last_n_2_a_subscriber_gets_video_of_the_two_latest_speakers_and_a_swap_starts_on_a_keyframe(
) {
    let (mut w, video, _) = meeting(5, last_n(2));
    let mut dc = Dynacast::default();
    let observer = 4;
    w.clients[0].voice_level = -20;
    until_speaker(&mut w, &mut dc, 0);
    w.clients[0].voice_level = -127;
    w.clients[1].voice_level = -20;
    until_speaker(&mut w, &mut dc, 1);
    w.clients[1].voice_level = -127;
    w.run_dynacast(ms(3000), &mut dc);

    let since = w.now - ms(1000);
    assert_eq!(
        flowing(&w, observer, &video, since),
        [0, 1],
        "the observer sees the two latest speakers"
    );
    assert_eq!(
        flowing(&w, 0, &video, since),
        [1, 2],
        "a speaker does not count itself: the other speaker, then the first to arrive"
    );
    assert_eq!(
        w.last_n_paused(observer),
        Some(vec![video[2], video[3]]),
        "the observer is told which tracks last-N pauses"
    );
    // Nobody receives p4's camera (client 3): dynacast stops all its layers.
    assert_eq!(w.publisher_layers(video[3]).last(), Some(&0));
    let sent = dc.sent(w.client(3).id);
    w.run_dynacast(ms(500), &mut dc);
    assert_eq!(dc.sent(w.client(3).id), sent, "client 3 sends no video");

    // Client 3 speaks: it replaces client 0 for the observer, resumes at
    // the publisher, and its first packet is a keyframe.
    w.clients[3].voice_level = -20;
    let changed = until_speaker(&mut w, &mut dc, 3);
    w.run_dynacast(ms(2000), &mut dc);
    let rx: Vec<_> = w
        .received_on(observer, video[3])
        .into_iter()
        .filter(|r| r.at >= changed)
        .collect();
    assert!(!rx.is_empty(), "the new speaker's video arrives");
    assert!(rx[0].keyframe, "and starts with a keyframe");
    let delay = rx[0].at - changed;
    eprintln!("last-N promotion: first keyframe {delay:?} after the speaker change");
    assert!(delay <= ms(100), "promotion took {delay:?}");
    let since = w.now - ms(1000);
    assert_eq!(flowing(&w, observer, &video, since), [1, 3]);
    assert_eq!(w.last_n_paused(observer), Some(vec![video[0], video[2]]));
    let layer_paused = w.seen.iter().any(|e| {
        matches!(e, CoreEvent::LayerSwitched { participant, track, layer: None }
            if *participant == w.client(observer).id && *track == video[0])
    });
    assert!(layer_paused, "layer_changed null for the demoted track");
}

#[test]
fn a_pinned_track_keeps_flowing_outside_last_n_and_bad_pins_are_refused() {
    let (mut w, video, audio) = meeting(5, last_n(1));
    let mut dc = Dynacast::default();
    let observer = 4;
    w.clients[0].voice_level = -20;
    until_speaker(&mut w, &mut dc, 0);
    w.pin(observer, video[3], true).unwrap();
    w.run_dynacast(ms(3000), &mut dc);
    let since = w.now - ms(1000);
    assert_eq!(flowing(&w, observer, &video, since), [0, 3]);
    assert_eq!(w.last_n_paused(observer), Some(vec![video[1], video[2]]));

    // Unpinned, it stops.
    w.pin(observer, video[3], false).unwrap();
    w.run_dynacast(ms(1000), &mut dc);
    let since = w.now - ms(500);
    assert_eq!(flowing(&w, observer, &video, since), [0]);

    // Audio, one's own track and unknown tracks cannot be pinned.
    let refused = w.pin(observer, audio[0], true);
    assert!(matches!(refused, Err(SfuError::Rejected(_))), "{refused:?}");
    assert_eq!(
        w.pin(observer, video[4], true),
        Err(SfuError::UnknownTrack(video[4]))
    );
    let nowhere = TrackId {
        owner: ParticipantId(99),
        index: 1,
    };
    assert_eq!(
        w.pin(observer, nowhere, true),
        Err(SfuError::UnknownTrack(nowhere))
    );
    // Everyone else is unharmed.
    w.run_dynacast(ms(500), &mut dc);
    assert!(got_since(&w, observer, video[0], w.now - ms(300)) > 0);
}

#[test]
fn audio_top_n_forwards_only_the_loudest_without_gaps() {
    let policy = MediaPolicy {
        last_n: 0,
        audio_top_n: 2,
        audio_top_n_above: 3,
        dynacast: false,
    };
    let (mut w, _, audio) = meeting(5, policy);
    let observer = 4;
    w.clients[0].voice_level = -20;
    w.clients[1].voice_level = -30;
    w.run(ms(3000));
    let since = w.now - ms(1000);
    assert_eq!(flowing(&w, observer, &audio, since), [0, 1]);
    let silenced = w.metrics.snapshot().audio_silenced;
    assert_eq!(
        silenced, 3,
        "the gauge counts the three voices not forwarded"
    );

    // Client 1 stops, client 2 speaks: after the swap delay, 2 replaces 1.
    w.clients[1].voice_level = -127;
    w.clients[2].voice_level = -25;
    w.run(ms(3000));
    let since = w.now - ms(1000);
    assert_eq!(flowing(&w, observer, &audio, since), [0, 2]);
    assert_eq!(flowing(&w, 2, &audio, since), [0], "2 does not hear itself");

    // Each forwarded stream is continuous: no sequence gap across pauses.
    for c in [0, 1, 2] {
        let rx = w.received_on(observer, audio[c]);
        assert!(!rx.is_empty());
        for pair in rx.windows(2) {
            assert_eq!(pair[1].seq, pair[0].seq + 1, "audio of {c} has a gap");
        }
    }

    // Below the threshold every voice is forwarded.
    w.set_policy(MediaPolicy {
        audio_top_n_above: 20,
        ..policy
    });
    w.run(ms(1000));
    let since = w.now - ms(500);
    assert_eq!(flowing(&w, observer, &audio, since), [0, 1, 2, 3]);
}

#[test]
fn dynacast_stops_the_layers_nobody_needs_and_resumes_them_with_a_keyframe() {
    let mut w = World::new();
    let publisher = w.join(true);
    let a = w.join(true);
    let b = w.join(true);
    let video = track_of(&w.publish(publisher).unwrap(), MediaKind::Video).id;
    let mut dc = Dynacast::default();
    w.run_dynacast(ms(500), &mut dc);
    for c in [a, b] {
        w.ask(c, video, LayerRequest::Quality(Quality::Low));
    }
    w.run_dynacast(ms(1500), &mut dc);
    assert!(
        w.publisher_layers(video).is_empty(),
        "nothing is paused within the hold-off"
    );
    w.run_dynacast(ms(1000), &mut dc);
    assert_eq!(w.publisher_layers(video), [0b001], "only q is needed");
    let paused = w.metrics.snapshot().dynacast_paused_layers;
    assert_eq!(paused, 2, "the gauge counts h and f");
    let pid = w.client(publisher).id;
    let before = dc.sent(pid);
    let plis = w.client(publisher).keyframe_requests.len();
    w.run_dynacast(ms(2000), &mut dc);
    let after = dc.sent(pid);
    assert!(after[0] > before[0]);
    assert_eq!(
        (after[1], after[2]),
        (before[1], before[2]),
        "h and f stopped"
    );
    let asked: Vec<_> = w.client(publisher).keyframe_requests[plis..].to_vec();
    assert!(
        asked
            .iter()
            .all(|k| k.1.map(|r| r.to_string()) == Some("q".into())),
        "no keyframe is asked of a paused layer: {asked:?}"
    );
    for c in [a, b] {
        assert!(
            got_since(&w, c, video, w.now - ms(500)) > 0,
            "low still flows"
        );
    }

    // B asks for high again: the layers resume at once, B switches on a keyframe.
    let asked_at = w.now;
    w.ask(b, video, LayerRequest::Quality(Quality::High));
    w.run_dynacast(ms(1500), &mut dc);
    assert_eq!(w.publisher_layers(video), [0b001, 0b111]);
    assert_eq!(w.metrics.snapshot().dynacast_paused_layers, 0);
    let high: Vec<_> = w
        .received_on(b, video)
        .into_iter()
        .filter(|r| r.at >= asked_at && r.layer == 2)
        .collect();
    assert!(!high.is_empty(), "B gets the high layer");
    assert!(high[0].keyframe);
    let delay = high[0].at - asked_at;
    eprintln!("dynacast resume: f back at the subscriber {delay:?} after it asked");
    assert!(delay <= ms(100), "the high layer came back after {delay:?}");
}

#[test]
fn dynacast_counts_the_subscribers_of_every_worker() {
    let mut w = World::with_workers(2);
    let publisher = w.join_on(0, true);
    let near = w.join_on(0, false);
    let far = w.join_on(1, false);
    let video = track_of(&w.publish(publisher).unwrap(), MediaKind::Video).id;
    let mut dc = Dynacast::default();
    w.ask(near, video, LayerRequest::Quality(Quality::Low));
    w.run_dynacast(ms(4000), &mut dc);
    assert!(
        w.publisher_layers(video).is_empty(),
        "the far subscriber still wants f"
    );
    w.ask(far, video, LayerRequest::Quality(Quality::Low));
    w.run_dynacast(ms(3000), &mut dc);
    assert_eq!(w.publisher_layers(video), [0b001]);

    // The far subscriber asks for high: its worker tells the publisher's.
    let asked_at = w.now;
    w.ask(far, video, LayerRequest::Quality(Quality::High));
    w.run_dynacast(ms(1500), &mut dc);
    assert_eq!(w.publisher_layers(video), [0b001, 0b111]);
    let high: Vec<_> = w
        .received_on(far, video)
        .into_iter()
        .filter(|r| r.at >= asked_at && r.layer == 2)
        .collect();
    assert!(!high.is_empty() && high[0].keyframe);
    let delay = high[0].at - asked_at;
    eprintln!("dynacast resume across workers: {delay:?}");
    assert!(delay <= ms(100), "f reached the far worker after {delay:?}");

    // The far subscriber leaves its worker: only q is left.
    let id = w.client(far).id;
    w.call_on(1, |reply| Command::RemoveParticipant {
        participant: id,
        reply,
    });
    w.run_dynacast(ms(3000), &mut dc);
    assert_eq!(w.publisher_layers(video), [0b001, 0b111, 0b001]);
}

#[test]
fn the_speaker_of_a_room_over_two_workers_is_judged_from_every_voice() {
    let mut w = World::with_workers(2);
    let a = w.join_on(0, true);
    let b = w.join_on(1, true);
    w.publish(a).unwrap();
    w.publish(b).unwrap();
    w.run(ms(500));
    w.clients[b].voice_level = -20;
    w.run(ms(2000));
    let b_id = w.client(b).id;
    let announced = w
        .seen
        .iter()
        .filter(
            |e| matches!(e, CoreEvent::ActiveSpeaker { participant: Some(p), .. } if *p == b_id),
        )
        .count();
    assert_eq!(announced, 2, "both workers know that b speaks");
}

#[test]
fn last_n_and_dynacast_cut_the_traffic_of_a_twelve_person_meeting() {
    let (mut w, video, _) = meeting(12, last_n(0));
    let mut dc = Dynacast::default();
    w.run_dynacast(ms(3000), &mut dc);
    // Video packets per second sent by the publishers and received by the
    // subscribers, over 2 s.
    let rates = |w: &mut World, dc: &mut Dynacast| {
        let sent = |dc: &Dynacast, w: &World| -> u64 {
            w.clients
                .iter()
                .map(|c| dc.sent(c.id).iter().sum::<u64>())
                .sum()
        };
        let before = sent(dc, w);
        let from = w.now;
        w.run_dynacast(ms(2000), dc);
        let received = w
            .clients
            .iter()
            .flat_map(|c| &c.received)
            .filter(|r| r.at > from && r.layer != 255)
            .count() as u64;
        ((sent(dc, w) - before) / 2, received / 2)
    };
    let (in_all, out_all) = rates(&mut w, &mut dc);
    w.set_policy(last_n(3));
    w.run_dynacast(ms(3000), &mut dc);
    let (in_last_n, out_last_n) = rates(&mut w, &mut dc);
    eprintln!(
        "12 people, video packets/s: everyone's camera {in_all} sent, {out_all} received; \
         last-N 3 with dynacast {in_last_n} sent, {out_last_n} received"
    );
    // Nobody spoke: everyone sees the first cameras to arrive (three, not
    // counting their own); the other eight stop at their publishers.
    let since = w.now - ms(1000);
    assert_eq!(flowing(&w, 11, &video, since), [0, 1, 2]);
    assert_eq!(flowing(&w, 0, &video, since), [1, 2, 3]);
    for (c, camera) in video.iter().enumerate().skip(4) {
        assert_eq!(w.publisher_layers(*camera).last(), Some(&0), "camera {c}");
    }
    // Each subscriber gets 3 cameras of 11; 4 cameras of 12 are sent.
    assert!(
        out_last_n * 100 < out_all * 30,
        "{out_all} -> {out_last_n} received"
    );
    assert!(
        in_last_n * 100 < in_all * 36,
        "{in_all} -> {in_last_n} sent"
    );
}
