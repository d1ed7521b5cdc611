//! parley-bench: a load generator that drives Parley (WebSocket or
//! long-polling) or a Socket.IO 4 chat server through the same scenarios
//! and prints one `result key=value ...` line per run (plus a readable
//! table on stderr); `summarize` turns many such lines into the comparison
//! table. This file only wires: parse the command line, raise the open
//! file limit, run the scenario, print.
//!
//! Layout: `args.rs` (command line), `net.rs` (sockets and source
//! addresses), `event.rs` (what clients see, the latency marker),
//! `adapters/` (one file per protocol), `scenarios/` (one file per
//! scenario), `stats.rs` (/proc readings), `report.rs` and `summary.rs`;
//! `delay.rs` is the delaying TCP proxy of the cluster cases.

mod adapters;
mod args;
mod delay;
mod event;
mod net;
mod report;
mod scenarios;
mod stats;
mod summary;

use std::io::Read;
use std::process::ExitCode;
use std::sync::Arc;

use clap::Parser;

use crate::adapters::Env;
use crate::args::{Args, Command, Scenario};
use crate::net::{ServerUrl, SourceAddrs};
use crate::report::Report;

/// Raises the soft open-file limit to the hard one (each client is a file).
fn raise_file_limit() {
    let mut limit = libc::rlimit {
        rlim_cur: 0,
        rlim_max: 0,
    };
    // SAFETY: both calls get a pointer to a live rlimit of the right type.
    unsafe {
        if libc::getrlimit(libc::RLIMIT_NOFILE, &mut limit) == 0 {
            limit.rlim_cur = limit.rlim_max;
            libc::setrlimit(libc::RLIMIT_NOFILE, &limit);
        }
    }
}

fn summarize(files: &[std::path::PathBuf]) -> std::io::Result<String> {
    let mut text = String::new();
    if files.is_empty() {
        std::io::stdin().read_to_string(&mut text)?;
    }
    for file in files {
        text.push_str(&std::fs::read_to_string(file)?);
        text.push('\n');
    }
    Ok(summary::table(&text))
}

async fn run(args: &Args) -> Result<Report, String> {
    let urls = args
        .urls
        .iter()
        .map(|url| ServerUrl::parse(url))
        .collect::<Result<Vec<_>, _>>()?;
    let env = Env::new(
        args.target,
        urls,
        SourceAddrs::new(args.source_addrs),
        args.read_buffer,
    )
    .map_err(|e| e.to_string())?;
    let env = Arc::new(env);
    let label = args.label.as_deref().unwrap_or(args.scenario.name());
    let mut report = Report::new(label, args.target.name(), args.scenario.name());
    report.add("run", args.run);
    let outcome = match args.scenario {
        Scenario::Hold => scenarios::hold::run(env, args, &mut report).await,
        Scenario::Fanout => scenarios::fanout::run(env, args, &mut report).await,
        Scenario::Sweep => scenarios::sweep::run(env, args, &mut report).await,
        Scenario::Storm => scenarios::storm::run(env, args, &mut report).await,
        Scenario::Soak => scenarios::soak::run(env, args, &mut report).await,
    };
    outcome.map_err(|e| format!("{} {}: {e}", args.target.name(), label))?;
    Ok(report)
}

#[tokio::main]
async fn main() -> ExitCode {
    let args = Args::parse();
    if let Some(Command::Summarize { files }) = &args.command {
        return match summarize(files) {
            Ok(table) => {
                print!("{table}");
                ExitCode::SUCCESS
            }
            Err(err) => {
                eprintln!("parley-bench: {err}");
                ExitCode::FAILURE
            }
        };
    }
    if let Some(Command::DelayProxy {
        listen,
        to,
        round_trip_ms,
    }) = &args.command
    {
        let one_way = std::time::Duration::from_secs_f64(round_trip_ms.max(0.0) / 2000.0);
        return match delay::serve(*listen, *to, one_way) {
            Ok(()) => ExitCode::SUCCESS,
            Err(err) => {
                eprintln!("parley-bench: delay-proxy: {err}");
                ExitCode::FAILURE
            }
        };
    }
    raise_file_limit();
    match run(&args).await {
        Ok(report) => {
            eprint!("{}", report.table());
            println!("{}", report.line());
            ExitCode::SUCCESS
        }
        Err(err) => {
            eprintln!("parley-bench: {err}");
            ExitCode::FAILURE
        }
    }
}
