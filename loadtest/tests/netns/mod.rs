//! A network namespace of a test's own, joined to the host by a veth pair,
//! with a `tbf` rate limit on what the host sends into it (the downlink of
//! whatever runs inside). Names are unique per run; everything is removed
//! when the [`Netns`] is dropped, whatever happened. A bot joins from inside
//! with [`Netns::join_bot`]: a thread entered into the namespace runs it, so
//! its sockets live there.
//!
//! Needs root and `ip`/`tc`. Without them the tests fail with a message
//! saying so, unless `RELAIS_SKIP_NETNS=1` asks them to skip.

use std::net::{IpAddr, Ipv4Addr};
use std::process::Command;
use std::sync::atomic::{AtomicU32, Ordering};
use std::time::Duration;

use relais_loadtest::{Bot, BotHandle, JoinOptions};
use tokio::sync::oneshot;

static NEXT: AtomicU32 = AtomicU32::new(0);

/// Run a command; its stderr on failure.
fn run(args: &[&str]) -> Result<(), String> {
    let out = Command::new(args[0])
        .args(&args[1..])
        .output()
        .map_err(|e| format!("{}: {e}", args.join(" ")))?;
    if out.status.success() {
        Ok(())
    } else {
        Err(format!(
            "{}: {}",
            args.join(" "),
            String::from_utf8_lossy(&out.stderr).trim()
        ))
    }
}

pub struct Netns {
    pub name: String,
    /// The host's end of the veth pair (the rate limit sits on it).
    pub host_if: String,
    pub host_ip: IpAddr,
    pub ns_ip: IpAddr,
}

impl Netns {
    /// A fresh namespace, or `None` when `RELAIS_SKIP_NETNS=1` and namespaces
    /// are unavailable. Panics with the reason otherwise.
    pub fn create_or_skip() -> Option<Netns> {
        match Netns::create() {
            Ok(n) => Some(n),
            Err(e) if std::env::var("RELAIS_SKIP_NETNS").as_deref() == Ok("1") => {
                eprintln!("skipped (RELAIS_SKIP_NETNS=1): {e}");
                None
            }
            Err(e) => panic!(
                "this test needs network namespaces (root, iproute2): {e}\n\
                 set RELAIS_SKIP_NETNS=1 to skip it"
            ),
        }
    }

    pub fn create() -> Result<Netns, String> {
        let pid = std::process::id();
        let n = NEXT.fetch_add(1, Ordering::Relaxed);
        let tag = format!("{}{}", pid % 100_000, n);
        // A /30 picked from the pid and the counter, unlikely to meet another run's.
        let third = ((pid.wrapping_mul(7) + n * 13) % 250 + 1) as u8;
        let fourth = ((pid / 250 + n) % 60 * 4) as u8;
        let host_ip = Ipv4Addr::new(10, 213, third, fourth + 1);
        let ns_ip = Ipv4Addr::new(10, 213, third, fourth + 2);
        let ns = Netns {
            name: format!("relais-t{tag}"),
            host_if: format!("rlh{tag}"),
            host_ip: IpAddr::V4(host_ip),
            ns_ip: IpAddr::V4(ns_ip),
        };
        run(&["ip", "netns", "add", &ns.name])?;
        // From here on, Drop cleans up whatever was made.
        let peer_if = format!("rln{tag}");
        let (h, p) = (format!("{host_ip}/30"), format!("{ns_ip}/30"));
        run(&[
            "ip",
            "link",
            "add",
            &ns.host_if,
            "type",
            "veth",
            "peer",
            "name",
            &peer_if,
        ])?;
        run(&["ip", "link", "set", &peer_if, "netns", &ns.name])?;
        run(&["ip", "addr", "add", &h, "dev", &ns.host_if])?;
        run(&["ip", "link", "set", &ns.host_if, "up"])?;
        run(&["ip", "-n", &ns.name, "addr", "add", &p, "dev", &peer_if])?;
        run(&["ip", "-n", &ns.name, "link", "set", &peer_if, "up"])?;
        run(&["ip", "-n", &ns.name, "link", "set", "lo", "up"])?;
        Ok(ns)
    }

    /// Limit what the host sends into the namespace to `kbit_per_s`
    /// (`tbf`, 50 ms of queue), replacing any earlier limit.
    pub fn cap_downlink(&self, kbit_per_s: u64) {
        self.cap_downlink_with_queue(kbit_per_s, 50);
    }

    /// [`Netns::cap_downlink`] with `queue_ms` of queue: a long one is a
    /// bufferbloated link, which delays before it drops.
    pub fn cap_downlink_with_queue(&self, kbit_per_s: u64, queue_ms: u64) {
        let burst = (kbit_per_s * 1000 / 8 / 50).max(6400);
        run(&[
            "tc",
            "qdisc",
            "replace",
            "dev",
            &self.host_if,
            "root",
            "tbf",
            "rate",
            &format!("{kbit_per_s}kbit"),
            "burst",
            &burst.to_string(),
            "latency",
            &format!("{queue_ms}ms"),
        ])
        .expect("tc tbf");
    }

    /// Remove the downlink limit.
    pub fn lift_cap(&self) {
        let _ = run(&["tc", "qdisc", "del", "dev", &self.host_if, "root"]);
    }

    /// Join a bot from inside the namespace (its sockets bound to the
    /// namespace's address). The bot runs on a thread of its own until the
    /// returned [`Inside`] is dropped.
    pub async fn join_bot(&self, ws_url: &str, opts: JoinOptions) -> (BotHandle, Inside) {
        let path = format!("/var/run/netns/{}", self.name);
        let url = ws_url.to_string();
        let opts = opts.bind_ip(self.ns_ip);
        let (tx, rx) = oneshot::channel();
        let (stop_tx, stop_rx) = oneshot::channel::<()>();
        let thread = std::thread::spawn(move || {
            let file = std::fs::File::open(&path).expect("namespace file");
            nix::sched::setns(&file, nix::sched::CloneFlags::CLONE_NEWNET)
                .expect("enter the namespace");
            let rt = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
                .expect("runtime");
            rt.block_on(async move {
                let joined = Bot::join(&url, opts).await;
                let ok = joined.is_ok();
                let _ = tx.send(joined);
                if ok {
                    let _ = stop_rx.await;
                }
            });
        });
        let bot = tokio::time::timeout(Duration::from_secs(20), rx)
            .await
            .expect("the bot inside joins in time")
            .expect("the thread answers")
            .expect("the bot inside joins");
        (
            bot,
            Inside {
                stop: Some(stop_tx),
                thread: Some(thread),
            },
        )
    }
}

impl Drop for Netns {
    fn drop(&mut self) {
        // Deleting one end of a veth pair deletes both; the namespace goes last.
        let _ = run(&["ip", "link", "del", &self.host_if]);
        let _ = run(&["ip", "netns", "del", &self.name]);
    }
}

/// A bot's thread inside a namespace; dropping it stops the thread.
pub struct Inside {
    stop: Option<oneshot::Sender<()>>,
    thread: Option<std::thread::JoinHandle<()>>,
}

impl Drop for Inside {
    fn drop(&mut self) {
        self.stop.take();
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}
