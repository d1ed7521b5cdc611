//! hold: opens N connections (at most `--concurrency` at a time), logs each
//! in with a unique nickname in rooms of `--room-size`, and reports the
//! connect rate and the server's resident memory per connection once they
//! are all idle, then how much of that memory the server gives back once
//! they have all gone (`--settle-secs` after they close). Rooms keep the
//! login broadcasts linear in N on both servers. Each connection keeps
//! reading (and answering pings) while held. For the login cases (one big
//! room, `--room-size` at least `--conns`) it also reports each login's
//! time, from its turn to connect to its welcome (p50, p99), and the bytes
//! the server wrote per login while they came in: with the roster paged
//! and big rooms' presence counted, that should not grow with the room.

use std::io;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use hdrhistogram::Histogram;
use tokio::sync::Semaphore;

use super::{login, nick};
use crate::adapters::Env;
use crate::args::Args;
use crate::report::Report;
use crate::stats::Snapshot;

struct Counts {
    ok: AtomicUsize,
    failed: AtomicUsize,
    closed: AtomicUsize,
    /// Login times, microseconds.
    logins: std::sync::Mutex<Histogram<u64>>,
}

/// Runs the scenario.
pub async fn run(env: Arc<Env>, args: &Args, report: &mut Report) -> io::Result<()> {
    let n = args.conns;
    let room_size = args.room_size.max(1);
    let before = Snapshot::take(&args.server_pids);
    let counts = Arc::new(Counts {
        ok: AtomicUsize::new(0),
        failed: AtomicUsize::new(0),
        closed: AtomicUsize::new(0),
        // unwrap: 1 µs to 10 min at 3 significant digits is a valid range.
        logins: std::sync::Mutex::new(Histogram::new_with_bounds(1, 600_000_000, 3).unwrap()),
    });
    let gate = Arc::new(Semaphore::new(args.concurrency.max(1)));
    let start = Instant::now();
    let mut tasks = Vec::with_capacity(n);
    for i in 0..n {
        let (env, counts, gate) = (env.clone(), counts.clone(), gate.clone());
        tasks.push(tokio::spawn(async move {
            let permit = gate.acquire_owned().await;
            let began = Instant::now();
            let room = format!("h{}", i / room_size);
            let (mut rx, _tx) = match login(&env, i, &nick(i), &room).await {
                Ok((rx, tx, _)) => (rx, tx),
                Err(err) => {
                    if counts.failed.fetch_add(1, Ordering::Relaxed) == 0 {
                        eprintln!("hold: client {i}: {err}");
                    }
                    return;
                }
            };
            let took = began.elapsed().as_micros() as u64;
            // unwrap: nothing panics while this lock is held.
            counts.logins.lock().unwrap().saturating_record(took.max(1));
            counts.ok.fetch_add(1, Ordering::Relaxed);
            drop(permit);
            let mut events = Vec::new();
            while rx.recv(&mut events).await.is_ok() {
                events.clear();
            }
            counts.closed.fetch_add(1, Ordering::Relaxed);
        }));
    }
    while counts.ok.load(Ordering::Relaxed) + counts.failed.load(Ordering::Relaxed) < n {
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
    let connect_s = start.elapsed().as_secs_f64();
    let connected = Snapshot::take(&args.server_pids);
    tokio::time::sleep(Duration::from_secs_f64(args.settle_secs)).await;
    let settled = Snapshot::take(&args.server_pids);
    tokio::time::sleep(Duration::from_secs_f64(args.hold_secs)).await;
    let ok = counts.ok.load(Ordering::Relaxed);
    let closed = counts.closed.load(Ordering::Relaxed);
    for task in &tasks {
        task.abort();
    }
    // Aborting drops each client, which closes its socket.
    for task in tasks {
        let _ = task.await;
    }
    tokio::time::sleep(Duration::from_secs_f64(args.settle_secs)).await;
    let left = Snapshot::take(&args.server_pids);
    let grown_kib = settled
        .server_rss_kib()
        .saturating_sub(before.server_rss_kib());
    let login_usage = connected.since(&before);
    report.add("conns", n);
    report.add("connected", ok);
    report.add("failed", counts.failed.load(Ordering::Relaxed));
    report.num("connect_s", connect_s, 2);
    report.num("connects_per_s", ok as f64 / connect_s.max(1e-9), 0);
    {
        // unwrap: the clients' tasks are done with the lock.
        let logins = counts.logins.lock().unwrap();
        let ms = |q: f64| logins.value_at_quantile(q) as f64 / 1000.0;
        report.num("login_p50_ms", ms(0.5), 1);
        report.num("login_p99_ms", ms(0.99), 1);
        report.num("login_max_ms", logins.max() as f64 / 1000.0, 1);
    }
    report.num(
        "server_bytes_per_login",
        connected.server_written_since(&before) as f64 / ok.max(1) as f64,
        0,
    );
    report.num("rss_before_mib", before.server_rss_kib() as f64 / 1024.0, 1);
    report.num("rss_after_mib", settled.server_rss_kib() as f64 / 1024.0, 1);
    report.num(
        "rss_after_leave_mib",
        left.server_rss_kib() as f64 / 1024.0,
        1,
    );
    // Of what the connections grew, how much was given back.
    let returned_kib = settled
        .server_rss_kib()
        .saturating_sub(left.server_rss_kib());
    report.num(
        "rss_returned_pct",
        returned_kib as f64 * 100.0 / grown_kib.max(1) as f64,
        0,
    );
    report.num(
        "bytes_per_conn",
        grown_kib as f64 * 1024.0 / ok.max(1) as f64,
        0,
    );
    report.num(
        "server_cpu_us_per_connect",
        login_usage.server_cpu_s * 1e6 / ok.max(1) as f64,
        1,
    );
    report.num("gen_cpu_pct_connecting", login_usage.gen_cpu_pct(), 0);
    report.add("dropped_while_held", closed);
    Ok(())
}
