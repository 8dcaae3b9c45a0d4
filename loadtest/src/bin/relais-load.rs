//! `relais-load`: load-test a Relais server with bots. See
//! `docs/load-testing.md` and `relais-load --help`.

use std::io::IsTerminal;
use std::process::ExitCode;

use clap::Parser;
use relais_loadtest::load::{self, Cli};

/// Each bot holds a WebSocket (and, against a remote server, a UDP socket
/// per connection): raise the open-files limit to what the system allows.
fn raise_open_files_limit() {
    use nix::sys::resource::{getrlimit, setrlimit, Resource};
    if let Ok((soft, hard)) = getrlimit(Resource::RLIMIT_NOFILE) {
        if soft < hard && setrlimit(Resource::RLIMIT_NOFILE, hard, hard).is_err() {
            eprintln!("relais-load: open files limited to {soft}; large fleets may fail to join");
        }
    }
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    raise_open_files_limit();
    let command = std::env::args().collect::<Vec<_>>().join(" ");
    let runtime = match tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
    {
        Ok(r) => r,
        Err(e) => {
            eprintln!("relais-load: cannot start the runtime: {e}");
            return ExitCode::FAILURE;
        }
    };
    let common = cli.scenario.common().clone();
    relais_loadtest::engine::set_threads(usize::from(common.bot_threads));
    let progress = !common.quiet && std::io::stderr().is_terminal();
    let result = runtime.block_on(load::run(cli.scenario, command, progress));
    runtime.shutdown_timeout(std::time::Duration::from_secs(2));
    match result {
        Ok(report) => {
            println!("{}", report.table());
            if let Err(e) = load::write_outputs(&report, &common) {
                eprintln!("relais-load: {e:#}");
                return ExitCode::FAILURE;
            }
            if report.joined == 0 {
                eprintln!("relais-load: no bot joined");
                return ExitCode::FAILURE;
            }
            ExitCode::SUCCESS
        }
        Err(e) => {
            eprintln!("relais-load: {e:#}");
            ExitCode::from(2)
        }
    }
}
