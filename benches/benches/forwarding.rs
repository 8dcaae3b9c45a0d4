//! The per-packet decisions of the forwarding path: for one incoming packet,
//! every subscriber's forwarder decides and rewrites; the layer selector runs
//! when layers or requests change.
//!
//! Criterion was chosen for statistics over noisy runs (these machines are
//! shared): it reports a confidence interval, not one timing.

use std::hint::black_box;
use std::time::{Duration, Instant};

use criterion::{criterion_group, criterion_main, BenchmarkId, Criterion, Throughput};
use relais_sfu::api::{LayerRequest, Quality};
use relais_sfu::codec::Codec;
use relais_sfu::forwarder::{Forwarder, Incoming};
use relais_sfu::layer_selector::{select_layer, LayerView};

fn packet(seq: u64, at: Instant, key: bool) -> Incoming {
    Incoming {
        layer: 2,
        seq,
        timestamp: (seq as u32) * 300,
        arrival: at,
        starts_keyframe: key,
        clock_rate: 90_000,
        picture_id: Some((seq / 10 % 32768) as u16),
        tl0_pic_idx: Some((seq / 10 % 256) as u8),
        temporal: None,
        starts_frame: key,
        marker: false,
        spatial: None,
        dd: None,
    }
}

fn fan_out(c: &mut Criterion) {
    let mut group = c.benchmark_group("forward_one_packet");
    for subscribers in [1usize, 50, 350] {
        group.throughput(Throughput::Elements(subscribers as u64));
        group.bench_with_input(
            BenchmarkId::from_parameter(subscribers),
            &subscribers,
            |b, &n| {
                let t0 = Instant::now();
                let mut forwarders: Vec<Forwarder> =
                    (0..n).map(|_| Forwarder::new(Some(2))).collect();
                for f in &mut forwarders {
                    f.forward(&packet(1, t0, true));
                }
                let mut seq = 2;
                b.iter(|| {
                    let p = packet(seq, t0 + Duration::from_millis(seq), false);
                    seq += 1;
                    let mut passed = 0u32;
                    for f in &mut forwarders {
                        if let Some(rw) = f.forward(black_box(&p)) {
                            passed += rw.seq as u32 & 1;
                        }
                    }
                    black_box(passed)
                });
            },
        );
    }
    group.finish();
}

fn keyframe_detection(c: &mut Criterion) {
    let mut vp8 = vec![
        0x90, 0xe0, 0x81, 0x23, 7, 0x40, 0x00, 0, 0, 0x9d, 0x01, 0x2a, 0x80, 0x02, 0x68, 0x01,
    ];
    vp8.resize(1100, 0);
    c.bench_function("vp8_starts_keyframe", |b| {
        b.iter(|| Codec::Vp8.starts_keyframe(black_box(&vp8)))
    });
}

fn layer_selection(c: &mut Criterion) {
    let layers = [
        LayerView {
            active: true,
            width: 320,
            height: 180,
        },
        LayerView {
            active: true,
            width: 640,
            height: 360,
        },
        LayerView {
            active: false,
            width: 1280,
            height: 720,
        },
    ];
    let requests = [
        LayerRequest::Quality(Quality::High),
        LayerRequest::Quality(Quality::Low),
        LayerRequest::MaxSize {
            width: 700,
            height: 400,
        },
        LayerRequest::Off,
    ];
    c.bench_function("select_layer", |b| {
        let mut i = 0;
        b.iter(|| {
            i += 1;
            select_layer(black_box(requests[i % 4]), black_box(&layers))
        })
    });
}

criterion_group!(benches, fan_out, keyframe_detection, layer_selection);
criterion_main!(benches);
