//! The floor under a forwarded packet on this machine: what SRTP encryption
//! and the send system call cost alone, measured in the same run as the
//! `worker` bench so the two can be compared as a ratio.
//!
//! - `aes_128_gcm_seal`: AEAD seal of a 1,200-byte and a 100-byte payload
//!   (aws-lc-rs, the backend str0m uses here).
//! - `send`: 1,200-byte datagrams through the core's own batch sender, to
//!   loopback receivers: `sendto` one by one, `sendmmsg` 32 destinations per
//!   call, and GSO runs of 5 datagrams to each destination (a frame per
//!   subscriber). On loopback the receiver's kernel work is charged to the
//!   sender, as it is to a real server's NIC driver only in part.

use std::net::{SocketAddr, UdpSocket};
use std::time::{Duration, Instant};

use aws_lc_rs::aead::{Aad, LessSafeKey, Nonce, UnboundKey, AES_128_GCM};
use criterion::{criterion_group, criterion_main, BenchmarkId, Criterion, Throughput};
use relais_sfu::socket::{bind_media_socket, gso_supported, BatchSender};

fn seal(c: &mut Criterion) {
    let key = LessSafeKey::new(UnboundKey::new(&AES_128_GCM, &[7u8; 16]).unwrap());
    let mut group = c.benchmark_group("aes_128_gcm_seal");
    for size in [1200usize, 100] {
        let mut buf = vec![0u8; size];
        group.throughput(Throughput::Elements(1));
        group.bench_function(BenchmarkId::from_parameter(size), |b| {
            let mut n = 0u64;
            b.iter(|| {
                n += 1;
                let mut iv = [0u8; 12];
                iv[4..].copy_from_slice(&n.to_be_bytes());
                let nonce = Nonce::assume_unique_for_key(iv);
                let aad = Aad::from([0u8; 12]);
                key.seal_in_place_separate_tag(nonce, aad, &mut buf)
                    .unwrap()
            })
        });
    }
    group.finish();
}

/// Receivers with large buffers, drained between timed sends.
struct Receivers {
    sockets: Vec<UdpSocket>,
    addrs: Vec<SocketAddr>,
}

impl Receivers {
    fn new(n: usize) -> Self {
        let sockets: Vec<UdpSocket> = (0..n)
            .map(|_| bind_media_socket("127.0.0.1:0".parse().unwrap()).unwrap())
            .collect();
        let addrs = sockets.iter().map(|s| s.local_addr().unwrap()).collect();
        Receivers { sockets, addrs }
    }

    /// Read everything waiting; returns the datagrams read.
    fn drain(&self) -> usize {
        let mut buf = [0u8; 2048];
        let mut n = 0;
        for s in &self.sockets {
            while s.recv_from(&mut buf).is_ok() {
                n += 1;
            }
        }
        n
    }
}

fn send(c: &mut Criterion) {
    const DESTINATIONS: usize = 32;
    const RUN: usize = 5;
    let sender = bind_media_socket("127.0.0.1:0".parse().unwrap()).unwrap();
    let receivers = Receivers::new(DESTINATIONS);
    let payload = vec![0x5au8; 1200];
    let mut group = c.benchmark_group("send_1200_bytes");
    group.throughput(Throughput::Elements(1));
    group.sample_size(20);
    group.measurement_time(Duration::from_secs(3));

    // One round: RUN datagrams to each destination, destination by destination.
    let round: Vec<(SocketAddr, &[u8])> = receivers
        .addrs
        .iter()
        .flat_map(|a| std::iter::repeat_n((*a, payload.as_slice()), RUN))
        .collect();
    let timed_rounds = |b: &mut criterion::Bencher, mut send_round: Box<dyn FnMut() -> usize>| {
        b.iter_custom(|iters| {
            let mut timed = Duration::ZERO;
            let mut sent = 0u64;
            while sent < iters {
                let start = Instant::now();
                let n = send_round();
                timed += start.elapsed();
                assert_eq!(receivers.drain(), n, "every datagram arrived");
                sent += n as u64;
            }
            timed.mul_f64(iters as f64 / sent as f64)
        })
    };
    group.bench_function("sendto", |b| {
        let (sender, round) = (&sender, &round);
        timed_rounds(
            b,
            Box::new(move || {
                for (to, data) in round {
                    sender.send_to(data, to).unwrap();
                }
                round.len()
            }),
        )
    });
    group.bench_function("sendmmsg_32_destinations", |b| {
        let (sender, round) = (&sender, &round);
        let mut batch = BatchSender::new(false);
        // Interleave destinations, as a fan-out without GSO sends them.
        let interleaved: Vec<(SocketAddr, &[u8])> = (0..RUN)
            .flat_map(|i| (0..DESTINATIONS).map(move |d| round[d * RUN + i]))
            .collect();
        timed_rounds(
            b,
            Box::new(move || batch.send(sender, interleaved.iter().copied()).sent),
        )
    });
    if gso_supported(&sender) {
        group.bench_function("gso_runs_of_5", |b| {
            let (sender, round) = (&sender, &round);
            let mut batch = BatchSender::new(true);
            timed_rounds(
                b,
                Box::new(move || batch.send(sender, round.iter().copied()).sent),
            )
        });
    }
    group.finish();
}

criterion_group!(benches, seal, send);
criterion_main!(benches);
