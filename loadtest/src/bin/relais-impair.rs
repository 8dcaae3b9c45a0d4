//! `relais-impair`: a UDP proxy that impairs the media path between clients
//! and a Relais server (loss, delay, jitter, reordering, a rate cap). Start
//! the server advertising the proxy's address (`relais --public-ip`, with
//! the proxy listening on the media port the server advertises) or point
//! one client at it. See `docs/load-testing.md`.

use std::net::SocketAddr;
use std::process::ExitCode;
use std::time::Duration;

use clap::Parser;
use relais_loadtest::impair::{Impairment, Proxy, ProxyConfig};

/// Impair UDP between clients and a server.
#[derive(Debug, Parser)]
#[command(name = "relais-impair", version)]
struct Args {
    /// Address clients send to.
    #[arg(long)]
    listen: SocketAddr,
    /// The server's media address (host:port).
    #[arg(long)]
    server: SocketAddr,
    /// Loss in percent, each direction.
    #[arg(long, default_value_t = 0.0)]
    loss: f64,
    /// One-way delay in ms, each direction (a round trip gets twice this).
    #[arg(long, default_value_t = 0.0)]
    delay_ms: f64,
    /// Extra random delay, uniform from 0 to this many ms, order kept.
    #[arg(long, default_value_t = 0.0)]
    jitter_ms: f64,
    /// Percent of datagrams held back by --reorder-gap-ms so later ones overtake.
    #[arg(long, default_value_t = 0.0)]
    reorder: f64,
    #[arg(long, default_value_t = 10.0)]
    reorder_gap_ms: f64,
    /// Rate cap towards clients (downlink), kbit/s.
    #[arg(long)]
    down_kbps: Option<u64>,
    /// Rate cap towards the server (uplink), kbit/s.
    #[arg(long)]
    up_kbps: Option<u64>,
    /// With a rate cap: the longest a datagram waits before it is dropped, ms.
    #[arg(long, default_value_t = 100.0)]
    queue_ms: f64,
    /// Seed of the random decisions (same seed, same traffic: same losses).
    #[arg(long, default_value_t = 1)]
    seed: u64,
    /// Print counters every this many seconds (0: never).
    #[arg(long, default_value_t = 5.0)]
    stats_every: f64,
}

fn ms(v: f64) -> Duration {
    Duration::from_secs_f64(v.clamp(0.0, 60_000.0) / 1000.0)
}

impl Args {
    fn impairment(&self, kbps: Option<u64>) -> Impairment {
        let mut i = Impairment::default()
            .loss(self.loss / 100.0)
            .delay(ms(self.delay_ms))
            .jitter(ms(self.jitter_ms))
            .reorder(self.reorder / 100.0, ms(self.reorder_gap_ms))
            .rate(kbps.map(|k| k * 1000));
        i.queue = ms(self.queue_ms);
        i
    }
}

#[tokio::main(flavor = "current_thread")]
async fn main() -> ExitCode {
    let a = Args::parse();
    let config = ProxyConfig {
        listen: a.listen,
        server: a.server,
        up: a.impairment(a.up_kbps),
        down: a.impairment(a.down_kbps),
        seed: a.seed,
    };
    let proxy = match Proxy::start(config).await {
        Ok(p) => p,
        Err(e) => {
            eprintln!("relais-impair: cannot listen on {}: {e}", a.listen);
            return ExitCode::FAILURE;
        }
    };
    eprintln!(
        "relais-impair: {} -> {}: loss {}%, delay {} ms + jitter {} ms, reorder {}%, down {} kbit/s, up {} kbit/s, seed {}",
        proxy.local_addr(),
        a.server,
        a.loss,
        a.delay_ms,
        a.jitter_ms,
        a.reorder,
        a.down_kbps.map_or("unlimited".into(), |k| k.to_string()),
        a.up_kbps.map_or("unlimited".into(), |k| k.to_string()),
        a.seed
    );
    let every = (a.stats_every > 0.0).then(|| Duration::from_secs_f64(a.stats_every));
    loop {
        tokio::select! {
            _ = tokio::signal::ctrl_c() => break,
            _ = async {
                match every {
                    Some(d) => tokio::time::sleep(d).await,
                    None => std::future::pending().await,
                }
            } => {
                let s = proxy.stats();
                eprintln!(
                    "clients {} | up: passed {} lost {} overflowed {} | down: passed {} lost {} overflowed {}",
                    s.clients, s.up.passed, s.up.lost, s.up.overflowed,
                    s.down.passed, s.down.lost, s.down.overflowed
                );
            }
        }
    }
    ExitCode::SUCCESS
}
