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

/// A publisher and `subscribers` receivers, connected and forwarding, with
/// or without downlink estimation for the subscribers.
fn world(subscribers: usize, subscriber_bwe: bool) -> (World, usize) {
    let mut w = World::new();
    w.worker.set_subscriber_bwe(subscriber_bwe);
    let publisher = w.join(true);
    // Everyone joins before the publisher publishes (the test world answers
    // offers only for clients it already knows).
    for _ in 0..subscribers {
        w.join(false);
    }
    w.publish(publisher).expect("publish accepted");
    w.run(Duration::from_secs(10));
    let forwarded = w.metrics.rtp_packets_forwarded.load(Relaxed);
    assert!(
        forwarded > subscribers as u64 * 50,
        "media flows to every subscriber before timing ({forwarded} forwarded)"
    );
    (w, publisher)
}

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
        let (mut w, publisher) = world(subscribers, subscriber_bwe);
        group.bench_function(BenchmarkId::from_parameter(subscribers), |b| {
            b.iter_custom(|iters| {
                let mut timed = Duration::ZERO;
                let mut forwarded = 0u64;
                let mut rounds = 0u32;
                while forwarded < iters {
                    // One frame per layer and audio, captured untimed.
                    let datagrams = w.capture_publisher(publisher, Duration::from_millis(35));
                    let now = w.now;
                    let before = w.metrics.rtp_packets_forwarded.load(Relaxed);
                    let start = Instant::now();
                    for (from, data) in &datagrams {
                        w.worker.handle_datagram(now, *from, data);
                    }
                    // Drain the written peers, run the timers that are due
                    // and drain again, as two turns of the worker thread's
                    // loop do: str0m releases written media on a timeout,
                    // which either the drain or the timers give it.
                    std::hint::black_box(w.worker.outbox().len());
                    w.worker.handle_timeout(now);
                    std::hint::black_box(w.worker.outbox().len());
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
