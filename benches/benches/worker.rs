//! The whole forwarding path of one worker, without the socket: an SRTP
//! datagram from a publisher comes in (decrypt, parse, keyframe and layer
//! checks, every subscriber's forwarder and rewriting, the str0m write, SRTP
//! encryption per subscriber), the timers run and datagrams come out. Reported per
//! forwarded packet, against 10 to 350 subscribers of a simulcast publisher
//! (three layers and audio; subscribers take the high layer), with downlink
//! estimation on (the server's default and the test world's) and off. The
//! send system call comes on top: see the `floor` bench.
//!
//! Timing starts after 10 s of virtual time: by then the estimates have
//! settled and str0m no longer pads to probe. After the 2 s this bench used
//! to wait, about 40% of the datagrams were padding (`benches/instructions`
//! counts them), which inflated the per-packet figure with estimation on.
//!
//! The world is the core's own virtual-clock test world: real str0m peers,
//! connected by ICE and DTLS, no network.

#[path = "../../sfu/tests/support/mod.rs"]
#[allow(unused_imports)]
mod support;

use std::sync::atomic::Ordering::Relaxed;
use std::time::{Duration, Instant};

use criterion::{criterion_group, criterion_main, BenchmarkId, Criterion, Throughput};
use support::World;

fn forward(c: &mut Criterion) {
    // The test world's default (downlink estimation on), and the server's.
    forward_group(c, "worker_forward_per_packet", true, &[10, 100, 350]);
    forward_group(c, "worker_forward_per_packet_bwe_off", false, &[100, 350]);
}

fn forward_group(c: &mut Criterion, name: &str, subscriber_bwe: bool, sizes: &[usize]) {
    let mut group = c.benchmark_group(name);
    // Capturing the publisher's packets and keeping the world alive take far
    // longer than the timed part: keep the timed totals small.
    group.sample_size(10);
    group.measurement_time(Duration::from_secs(1));
    group.warm_up_time(Duration::from_millis(200));
    group.throughput(Throughput::Elements(1));
    for &subscribers in sizes {
        let (mut w, publisher) =
            World::webinar(subscribers, subscriber_bwe, Duration::from_secs(10));
        group.bench_function(BenchmarkId::from_parameter(subscribers), |b| {
            b.iter_custom(|iters| {
                let mut timed = Duration::ZERO;
                let mut forwarded = 0u64;
                let mut rounds = 0u32;
                while forwarded < iters {
                    // One frame per layer and audio, captured untimed.
                    let datagrams = w.capture_publisher(publisher, Duration::from_millis(35));
                    let before = w.metrics.rtp_packets_forwarded.load(Relaxed);
                    let start = Instant::now();
                    std::hint::black_box(w.forward_captured(&datagrams, false));
                    timed += start.elapsed();
                    // Deliver to the subscribers, untimed: lost packets would
                    // bring NACK storms that no real call has.
                    w.pump();
                    forwarded += w.metrics.rtp_packets_forwarded.load(Relaxed) - before;
                    rounds += 1;
                    assert!(
                        rounds < 100 || forwarded > 0,
                        "packets are forwarded while timed"
                    );
                    if rounds.is_multiple_of(20) {
                        // Keep ICE, RTCP and timers going, untimed.
                        w.run(Duration::from_millis(10));
                    }
                }
                timed.mul_f64(iters as f64 / forwarded as f64)
            })
        });
    }
    group.finish();
}

criterion_group!(benches, forward);
criterion_main!(benches);
