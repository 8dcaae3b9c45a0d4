//! The `worker` bench's forwarding path, counted in instructions instead of
//! timed: run under callgrind by `benches/instructions`, which collects only
//! inside `forward_round` and divides by the packets forwarded.
//!
//! Why: these machines are shared and their timings drift by 10% or more
//! between runs, so a change worth 2% cannot be seen in seconds. The
//! instructions executed for the same rounds are repeatable to a fraction of
//! a percent. They are not time (a cache miss costs no instruction), so a
//! kept change is still checked with the timed benches and `relais-load`.
//!
//! Usage: `worker_instructions [SUBSCRIBERS] [ROUNDS] [WARM-UP SECONDS] [batch|each]`
//! (default 100, 20, 10 and batch: after 10 s the estimates have settled,
//! subscribers take the high layer and str0m no longer pads to probe, as in
//! a real webinar's steady state; after 2 s about 40% of the datagrams would
//! be padding). `each` drains the subscribers after every datagram of the
//! publisher, as for a paced publisher whose packets arrive one at a time;
//! `batch` once per round, as the `worker` bench does. Prints the packets
//! forwarded and the datagrams sent inside the counted rounds.

#[path = "../../sfu/tests/support/mod.rs"]
#[allow(unused_imports)]
mod support;

use std::net::SocketAddr;
use std::sync::atomic::Ordering::Relaxed;
use std::time::Duration;

use support::World;

fn main() {
    let mut args = std::env::args().skip(1);
    let subscribers: usize = args.next().map_or(100, |a| a.parse().expect("subscribers"));
    let rounds: usize = args.next().map_or(20, |a| a.parse().expect("rounds"));
    let warmup: u64 = args
        .next()
        .map_or(10, |a| a.parse().expect("warm-up seconds"));
    let drain_each = match args.next().as_deref() {
        None | Some("batch") => false,
        Some("each") => true,
        Some(other) => panic!("drain: batch or each, not {other}"),
    };

    let (mut w, publisher) = World::webinar(subscribers, true, Duration::from_secs(warmup));

    let mut forwarded = 0;
    let mut sent = 0;
    for round in 0..rounds {
        // One frame per layer and audio, as in the `worker` bench.
        let datagrams = w.capture_publisher(publisher, Duration::from_millis(35));
        let before = w.metrics.rtp_packets_forwarded.load(Relaxed);
        sent += forward_round(&mut w, &datagrams, drain_each);
        forwarded += w.metrics.rtp_packets_forwarded.load(Relaxed) - before;
        w.pump();
        if round % 20 == 19 {
            w.run(Duration::from_millis(10));
        }
    }
    assert!(forwarded > 0, "packets are forwarded in the counted rounds");
    println!("forwarded {forwarded}");
    println!("sent {sent}");
}

/// What the `worker` bench times, in a function of its own for callgrind's
/// `--toggle-collect`.
#[inline(never)]
fn forward_round(w: &mut World, datagrams: &[(SocketAddr, Vec<u8>)], drain_each: bool) -> usize {
    w.forward_captured(datagrams, drain_each)
}
