//! What bots cost: an in-process server, one publisher (three layers and
//! audio) and N viewers at the low layer for D seconds; prints the CPU time
//! of the server's media threads (`relais-media-*`) and of everything else
//! in the process (the bots, and signaling, which is idle once joined), read
//! from `/proc/self/task/*/stat`. Linux only.
//!
//! `cargo run --release -p relais-loadtest --example fanout_cost -- 100 10`

use std::time::{Duration, Instant};

use futures_util::future::join_all;
use relais_loadtest::protocol::Quality;
use relais_loadtest::{Bot, JoinOptions, PublishOptions};
use relais_signaling::{start, ServerConfig};

/// CPU seconds of the media threads and of the rest of the process.
fn cpu_split() -> (f64, f64) {
    let tick = 100.0; // USER_HZ on Linux
    let (mut media, mut rest) = (0.0, 0.0);
    let Ok(tasks) = std::fs::read_dir("/proc/self/task") else {
        return (0.0, 0.0);
    };
    for task in tasks.flatten() {
        let Ok(stat) = std::fs::read_to_string(task.path().join("stat")) else {
            continue;
        };
        // pid (comm) state ... utime stime are fields 14 and 15.
        let Some((head, tail)) = stat.rsplit_once(')') else {
            continue;
        };
        let fields: Vec<&str> = tail.split_whitespace().collect();
        let cpu = fields
            .get(11..13)
            .map(|f| f.iter().filter_map(|v| v.parse::<f64>().ok()).sum::<f64>())
            .unwrap_or(0.0)
            / tick;
        if head.contains("relais-media") {
            media += cpu;
        } else {
            rest += cpu;
        }
    }
    (media, rest)
}

#[tokio::main(flavor = "multi_thread", worker_threads = 2)]
async fn main() -> anyhow::Result<()> {
    let mut args = std::env::args().skip(1);
    let viewers: usize = args.next().map(|a| a.parse()).transpose()?.unwrap_or(50);
    let seconds: u64 = args.next().map(|a| a.parse()).transpose()?.unwrap_or(10);

    let server = start(ServerConfig::default()).await?;
    let url = server.ws_url();
    let publisher = Bot::join(&url, JoinOptions::new("cost", "pub")).await?;
    let video = publisher
        .publish(PublishOptions::camera_and_mic())
        .await?
        .video
        .expect("a video track");
    let started = Instant::now();
    let mut bots = Vec::new();
    for chunk in (0..viewers).collect::<Vec<_>>().chunks(25) {
        let joined = join_all(chunk.iter().map(|i| {
            Bot::join(
                &url,
                JoinOptions::new("cost", format!("v{i}")).log_capacity(0),
            )
        }))
        .await;
        for b in joined {
            bots.push(b?);
        }
    }
    join_all(bots.iter().map(|b| b.subscribe(&video, Quality::Low))).await;
    println!("{viewers} viewers joined in {:?}", started.elapsed());
    tokio::time::sleep(Duration::from_secs(2)).await;

    let (media0, rest0) = cpu_split();
    let mut packets0 = 0;
    for b in &bots {
        packets0 += b.receipts().await.values().map(|r| r.packets).sum::<u64>();
    }
    let t0 = Instant::now();
    tokio::time::sleep(Duration::from_secs(seconds)).await;
    let elapsed = t0.elapsed().as_secs_f64();
    let (media1, rest1) = cpu_split();
    let mut packets1 = 0;
    let mut lost = 0;
    for b in &bots {
        for r in b.receipts().await.values() {
            packets1 += r.packets;
            lost += r.lost();
        }
    }
    let received = (packets1 - packets0) as f64;
    println!(
        "over {elapsed:.1} s: viewers received {:.0} packets/s (video and audio) in all; {lost} lost in all",
        received / elapsed
    );
    println!(
        "server media threads: {:.1}% of one core; the rest (bots + signaling): {:.1}% of one core, {:.2} µs per received packet",
        100.0 * (media1 - media0) / elapsed,
        100.0 * (rest1 - rest0) / elapsed,
        1e6 * (rest1 - rest0) / received.max(1.0),
    );
    join_all(bots.iter().map(|b| b.leave())).await;
    publisher.leave().await?;
    server.shutdown().await;
    Ok(())
}
