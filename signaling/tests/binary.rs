//! The `relais` binary itself: `--help`, `token`, and a clean exit (status 0)
//! on SIGTERM. What clients are told at shutdown is tested in-process (rooms.rs).

use std::io::{BufRead, BufReader, Read, Write};
use std::net::{TcpListener, TcpStream};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use relais_signaling::auth::verify;
use relais_signaling::protocol::{Role, RoomMode};

const RELAIS: &str = env!("CARGO_BIN_EXE_relais");

#[test]
fn help_explains_every_flag() {
    let out = Command::new(RELAIS).arg("--help").output().unwrap();
    assert!(out.status.success());
    let help = String::from_utf8(out.stdout).unwrap();
    for flag in [
        "--listen",
        "RELAIS_LISTEN",
        "--media-port",
        "RELAIS_MEDIA_PORT",
        "--public-ip",
        "RELAIS_PUBLIC_IP",
        "--workers",
        "RELAIS_WORKERS",
        "--secret",
        "RELAIS_SECRET",
        "--max-participants",
        "--max-tracks",
        "--max-messages-per-sec",
        "--room-grace-secs",
        "--log",
        "token",
    ] {
        assert!(help.contains(flag), "--help lacks {flag}:\n{help}");
    }
}

#[test]
fn token_prints_a_token_the_server_accepts() {
    let out = Command::new(RELAIS)
        .args([
            "token",
            "--room",
            "R",
            "--identity",
            "I",
            "--name",
            "Ida",
            "--role",
            "presenter",
            "--mode",
            "webinar",
            "--secret",
            "S",
        ])
        .env_remove("RELAIS_SECRET")
        .output()
        .unwrap();
    assert!(out.status.success());
    let token = String::from_utf8(out.stdout).unwrap();
    let claims = verify("S", token.trim(), "R").expect("a valid token");
    assert_eq!(claims.sub, "I");
    assert_eq!(claims.name.as_deref(), Some("Ida"));
    assert_eq!(claims.role, Some(Role::Presenter));
    assert_eq!(claims.mode, Some(RoomMode::Webinar));
    assert!(verify("other", token.trim(), "R").is_err());
}

fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

fn get(port: u16, path: &str) -> Option<String> {
    let mut s = TcpStream::connect(("127.0.0.1", port)).ok()?;
    s.set_read_timeout(Some(Duration::from_secs(5))).ok()?;
    write!(s, "GET {path} HTTP/1.0\r\nHost: x\r\n\r\n").ok()?;
    let mut body = String::new();
    s.read_to_string(&mut body).ok()?;
    Some(body)
}

#[cfg(unix)]
#[test]
fn sigterm_exits_cleanly_in_development_mode() {
    let port = free_port();
    let mut child = Command::new(RELAIS)
        .args([
            "--listen",
            &format!("127.0.0.1:{port}"),
            "--media-port",
            "0",
            "--workers",
            "2",
        ])
        .env_remove("RELAIS_SECRET")
        .env("RELAIS_LOG", "info")
        .env("NO_COLOR", "1")
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let started = Instant::now();
    while get(port, "/healthz").is_none_or(|r| !r.ends_with("ok")) {
        assert!(
            started.elapsed() < Duration::from_secs(20),
            "the server never became healthy"
        );
        std::thread::sleep(Duration::from_millis(50));
    }
    let status = Command::new("kill")
        .args(["-TERM", &child.id().to_string()])
        .status()
        .unwrap();
    assert!(status.success());
    let deadline = Instant::now() + Duration::from_secs(20);
    let exit = loop {
        if let Some(exit) = child.try_wait().unwrap() {
            break exit;
        }
        assert!(Instant::now() < deadline, "no exit after SIGTERM");
        std::thread::sleep(Duration::from_millis(50));
    };
    assert!(exit.success(), "exit status {exit:?}");
    let log: Vec<String> = BufReader::new(child.stdout.take().unwrap())
        .lines()
        .map_while(Result::ok)
        .collect();
    let log = log.join("\n");
    assert!(log.contains("DEVELOPMENT MODE"), "{log}");
    assert!(log.contains("shutting down"), "{log}");
    assert!(log.contains("stopped"), "{log}");
}
