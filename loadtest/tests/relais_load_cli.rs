//! The `relais-load` binary against an in-process server: a webinar of one
//! presenter and 20 attendees, and a churn of 3 cycling bots, for a few
//! seconds each; the JSON reports are complete and plausible. No timing
//! assertions: this checks the tool, not the server.

use std::process::Command;
use std::time::Duration;

use relais_signaling::{start, ServerConfig};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn webinar_1_to_20_reports_complete_json() {
    let server = start(ServerConfig::default()).await.expect("server starts");
    let url = format!("http://{}", server.http_addr());
    let json = std::env::temp_dir().join(format!("relais-load-{}.json", std::process::id()));
    let csv = json.with_extension("csv");
    let mut tool = Command::new(env!("CARGO_BIN_EXE_relais-load"));
    tool.args([
        "webinar",
        "--url",
        &url,
        "--attendees",
        "20",
        "--ramp",
        "40",
    ])
    .args(["--duration", "4", "--quiet", "--json"])
    .arg(&json)
    // The server runs in this process: its CPU from /proc, split.
    .args(["--server-pid", &std::process::id().to_string()])
    .arg("--csv")
    .arg(&csv);
    let out = run_tool(tool).await;
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "exit {:?}\n{stdout}\n{}",
        out.status,
        String::from_utf8_lossy(&out.stderr)
    );
    let r: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(&json).expect("JSON written")).unwrap();
    for field in [
        "scenario",
        "joined",
        "failed",
        "duration_s",
        "loss_percent",
        "latency_ms",
        "freezes",
        "rx_mbps_per_subscriber",
        "forwarded_packets_per_s",
        "server_cpu_percent",
        "server_rss_bytes",
        "bot_cpu_percent",
    ] {
        assert!(r.get(field).is_some(), "{field} in {r}");
    }
    assert_eq!(r["scenario"], "webinar");
    assert_eq!(r["joined"], 21, "presenter and 20 attendees: {r}");
    assert_eq!(r["failed"], 0);
    assert_eq!(r["subscribers"], 20);
    assert!(r["loss_percent"].as_f64().unwrap() < 1.0, "{r}");
    assert!(r["packets_received"].as_u64().unwrap() > 0, "{r}");
    assert!(r["forwarded_packets_per_s"].as_f64().unwrap() > 0.0, "{r}");
    assert!(r["rx_mbps_per_subscriber"].as_f64().unwrap() > 0.0, "{r}");
    let p = &r["latency_ms"];
    assert!(p["p50"].as_f64().unwrap() <= p["p99"].as_f64().unwrap());
    assert!(p["p99"].as_f64().unwrap() <= p["max"].as_f64().unwrap());
    assert!(r["server_rss_bytes"].as_f64().unwrap() > 0.0);
    assert_eq!(r["server_cpu_source"], "proc");
    let cpu = r["server_cpu_percent"].as_f64().unwrap();
    let kernel = r["server_cpu_system_percent"].as_f64().unwrap();
    assert!(cpu > 0.0 && (0.0..=cpu).contains(&kernel), "{r}");
    // Every forwarded packet is a datagram; RTCP and repairs come on top.
    let datagrams = r["server_datagrams_per_forwarded_packet"].as_f64().unwrap();
    assert!((0.95..2.0).contains(&datagrams), "{r}");
    assert!(stdout.contains("in the kernel"), "{stdout}");
    // Each attendee's downlink estimate, from the server's room report.
    let layers = &r["subscriber_layers"];
    assert_eq!(layers["estimates"], 20, "{layers}");
    assert!(
        layers["estimate_kbps_min"].as_f64().unwrap() > 0.0,
        "{layers}"
    );
    assert!(stdout.contains("loss after retransmission"), "{stdout}");
    let lines = std::fs::read_to_string(&csv).expect("CSV written");
    assert!(lines.starts_with("t_s,joined,"));
    assert!(lines.lines().count() >= 3, "{lines}");
    let _ = std::fs::remove_file(&json);
    let _ = std::fs::remove_file(&csv);
    server.shutdown().await;
}

/// Churn counts joins over cycles apart from the bots in the room, and
/// reports each subscriber.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn churn_counts_joins_over_cycles() {
    let server = start(ServerConfig::default()).await.expect("server starts");
    let url = format!("http://{}", server.http_addr());
    let json = std::env::temp_dir().join(format!("relais-load-churn-{}.json", std::process::id()));
    let mut tool = Command::new(env!("CARGO_BIN_EXE_relais-load"));
    tool.args(["churn", "--url", &url, "--participants", "3"])
        .args(["--stay", "1", "--pause", "0.2", "--ramp", "20"])
        .args(["--duration", "4", "--quiet", "--json"])
        .arg(&json);
    let out = run_tool(tool).await;
    assert!(
        out.status.success(),
        "exit {:?}\n{}\n{}",
        out.status,
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    let r: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(&json).expect("JSON written")).unwrap();
    assert_eq!(r["scenario"], "churn");
    assert_eq!(r["target"], 4, "publisher and 3 cycling: {r}");
    let joined = r["joined"].as_u64().unwrap();
    assert!(joined > 4, "the 3 rejoined at least once: {r}");
    assert!(r["present"].as_u64().unwrap() <= 4, "{r}");
    assert_eq!(r["failed"], 0, "{r}");
    assert!(r["packets_received"].as_u64().unwrap() > 0, "{r}");
    let subs = r["per_subscriber"].as_array().expect("per_subscriber");
    assert!(subs.iter().all(|s| s["participant_id"].is_string()), "{r}");
    let _ = std::fs::remove_file(&json);
    server.shutdown().await;
}

/// Run relais-load to its end (it must end by itself within a minute).
async fn run_tool(mut tool: Command) -> std::process::Output {
    let out = tokio::task::spawn_blocking(move || tool.output());
    tokio::time::timeout(Duration::from_secs(60), out)
        .await
        .expect("the tool ends by itself")
        .expect("join")
        .expect("the tool runs")
}
