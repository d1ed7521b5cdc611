//! soak: `--minutes` of churn on both transports while the server's memory
//! and open files are watched. `--soak-ws` WebSocket and `--soak-poll`
//! long-polling users visit `--soak-rooms` rooms: join, chat, rename, and
//! leave, drop or get taken over, then come back with a resume
//! (`soak/worker.rs`, which also checks every id, replay and ack); every
//! `--stuck-every-secs` a reader that stops reading joins and must be cut
//! (`soak/stuck.rs`). Every `--sample-secs` the server's VmRSS
//! (/proc/PID/status) and open descriptors (/proc/PID/fd) are read, with its
//! own connection gauge from /metrics, and written to `--csv`. The report
//! gives both curves after `--warmup-secs`: first, min, median, max, last
//! and the least-squares slope per 10 minutes, and the churn's counts.
//! `bench/soak.sh` starts the server and runs this.

mod client;
mod stuck;
mod worker;

use std::io::{self, Write};
use std::sync::atomic::{AtomicI64, AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use self::client::Transport;
use self::worker::Worker;
use crate::adapters::Env;
use crate::args::Args;
use crate::report::Report;

/// How many errors are printed in full (the rest are only counted).
const ERRORS_SHOWN: u64 = 20;

/// The run's counters, shared by every client.
#[derive(Default)]
pub struct Counts {
    joins: AtomicU64,
    resumes: AtomicU64,
    takeovers: AtomicU64,
    leaves: AtomicU64,
    renames: AtomicU64,
    join_retries: AtomicU64,
    said: AtomicU64,
    acked: AtomicU64,
    resent: AtomicU64,
    rate_limited: AtomicU64,
    delivered: AtomicU64,
    gaps: AtomicU64,
    stuck_cut: AtomicU64,
    errors: AtomicU64,
    ws_open: AtomicI64,
    poll_open: AtomicI64,
    stuck_open: AtomicI64,
}

impl Counts {
    /// Counts an error and prints the first few.
    fn error(&self, what: &str) {
        if self.errors.fetch_add(1, Ordering::Relaxed) < ERRORS_SHOWN {
            eprintln!("soak: error: {what}");
        }
    }
}

/// A small deterministic random sequence (xorshift64*), one per client, so
/// a run's churn can be repeated.
pub struct Rng(u64);

impl Rng {
    /// A sequence from `seed`.
    pub fn new(seed: u64) -> Rng {
        Rng(seed.wrapping_mul(0x9E37_79B9_7F4A_7C15) | 1)
    }

    /// A number in `0..n` (n > 0).
    pub fn below(&mut self, n: u64) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_F491_4F6C_DD1D) % n
    }
}

/// One reading of the server.
#[derive(Debug, Clone, Copy)]
struct Sample {
    t_s: f64,
    rss_kib: u64,
    fds: u64,
    server_conns: u64,
    /// History held, backplane and mirrors together.
    history_bytes: u64,
    /// Heap blocks the server holds, by its allocator (0 when the server
    /// does not report it): flat while RSS grows means the allocator, not
    /// the program, keeps the memory.
    heap_allocated: u64,
    /// What the server's allocator keeps resident.
    heap_resident: u64,
}

/// The server's open descriptors.
fn open_fds(pid: u32) -> u64 {
    std::fs::read_dir(format!("/proc/{pid}/fd")).map_or(0, |d| d.count() as u64)
}

/// What each reading takes from /metrics: connections, history bytes,
/// jemalloc's allocated and resident bytes.
const SERVER_SERIES: [&str; 4] = [
    "parley_connections",
    "parley_history_bytes",
    "parley_heap_allocated_bytes",
    "parley_heap_resident_bytes",
];

/// The sums of the series named `names` (all their labels) in /metrics,
/// in that order; zeros if it cannot be read.
async fn metrics(env: &Env, names: &[&str]) -> Vec<u64> {
    let url = format!("{}/metrics", env.url(0).base);
    let text = match env.http[0].get(url).send().await {
        Ok(response) => response.text().await.unwrap_or_default(),
        Err(_) => String::new(),
    };
    let sum = |name: &str| {
        text.lines()
            .filter(|l| l.starts_with(name) && l[name.len()..].starts_with(['{', ' ']))
            .filter_map(|l| l.rsplit(' ').next()?.parse::<f64>().ok())
            .sum::<f64>() as u64
    };
    names.iter().map(|name| sum(name)).collect()
}

/// Runs the scenario.
pub async fn run(env: Arc<Env>, args: &Args, report: &mut Report) -> io::Result<()> {
    let pid = *args
        .server_pids
        .first()
        .ok_or_else(|| io::Error::other("soak needs --server-pid"))?;
    let rooms = args.soak_rooms.max(1);
    let run_for = Duration::from_secs_f64(args.minutes * 60.0);
    let started = Instant::now();
    let deadline = started + run_for;
    let counts = Arc::new(Counts::default());
    let mut csv = match &args.csv {
        Some(path) => Some(std::fs::File::create(path)?),
        None => None,
    };
    if let Some(file) = csv.as_mut() {
        writeln!(file, "t_s,rss_kib,fds,server_conns,ws_open,poll_open,stuck_open,joins,acked,delivered,errors,history_bytes,heap_allocated,heap_resident")?;
    }

    let users = args.soak_ws + args.soak_poll;
    let mut tasks = Vec::new();
    for index in 0..users {
        let transport = if index < args.soak_ws {
            Transport::Ws
        } else {
            Transport::Poll
        };
        let worker = Worker {
            index,
            transport,
            env: env.clone(),
            counts: counts.clone(),
            rng: Rng::new(index as u64 + 1),
            deadline,
            rooms,
        };
        tasks.push(tokio::spawn(async move {
            // Spread the first joins over two seconds.
            tokio::time::sleep(Duration::from_millis(
                2000 * index as u64 / users.max(1) as u64,
            ))
            .await;
            worker.run().await;
        }));
    }
    let stuck = {
        let (env, counts, every) = (env.clone(), counts.clone(), args.stuck_every_secs);
        tokio::spawn(async move {
            let mut n = 0;
            let mut spawned = Vec::new();
            // The last one is still looked at before the run ends.
            while Instant::now() + stuck::LOOK_AFTER + Duration::from_secs(20) < deadline {
                tokio::time::sleep(Duration::from_secs_f64(every)).await;
                let index = users + n;
                spawned.push(tokio::spawn(stuck::run(
                    env.clone(),
                    counts.clone(),
                    index,
                    n,
                    rooms,
                )));
                n += 1;
            }
            for task in spawned {
                let _ = task.await;
            }
        })
    };

    let mut samples = Vec::new();
    let every = Duration::from_secs_f64(args.sample_secs);
    let mut next = started;
    while next <= deadline {
        tokio::time::sleep_until(next.into()).await;
        let Some(proc) = crate::stats::read(Some(pid)) else {
            return Err(io::Error::other("the server is gone"));
        };
        let read = metrics(&env, &SERVER_SERIES).await;
        let sample = Sample {
            t_s: started.elapsed().as_secs_f64(),
            rss_kib: proc.rss_kib,
            fds: open_fds(pid),
            server_conns: read[0],
            history_bytes: read[1],
            heap_allocated: read[2],
            heap_resident: read[3],
        };
        let c = &counts;
        let line = format!(
            "{:.0},{},{},{},{},{},{},{},{},{},{},{},{},{}",
            sample.t_s,
            sample.rss_kib,
            sample.fds,
            sample.server_conns,
            c.ws_open.load(Ordering::Relaxed),
            c.poll_open.load(Ordering::Relaxed),
            c.stuck_open.load(Ordering::Relaxed),
            c.joins.load(Ordering::Relaxed),
            c.acked.load(Ordering::Relaxed),
            c.delivered.load(Ordering::Relaxed),
            c.errors.load(Ordering::Relaxed),
            sample.history_bytes,
            sample.heap_allocated,
            sample.heap_resident,
        );
        eprintln!("soak: {line}");
        if let Some(file) = csv.as_mut() {
            writeln!(file, "{line}")?;
        }
        samples.push(sample);
        next += every;
    }
    // Visits end at the deadline; a visit in progress finishes its message.
    for task in tasks {
        if tokio::time::timeout(Duration::from_secs(60), task)
            .await
            .is_err()
        {
            counts.error("a client did not finish within 60 s of the end");
        }
    }
    let _ = tokio::time::timeout(Duration::from_secs(120), stuck).await;
    // At rest: every user gone, every lease lapsed. What the server still
    // holds then, compared between a short soak and a long one, tells
    // memory kept by bounded maps and pools from memory that leaks.
    tokio::time::sleep(Duration::from_secs_f64(args.rest_secs)).await;
    let rest = metrics(&env, &SERVER_SERIES).await;
    let rest_buckets = metrics(&env, &["parley_rate_buckets"]).await;

    let kept: Vec<Sample> = samples
        .iter()
        .copied()
        .filter(|s| s.t_s >= args.warmup_secs)
        .collect();
    let kept = if kept.len() >= 2 {
        kept
    } else {
        samples.clone()
    };
    report.num("minutes", args.minutes, 1);
    report.add("ws_users", args.soak_ws);
    report.add("poll_users", args.soak_poll);
    report.add("rooms", rooms);
    report.add("samples", kept.len());
    curve(report, "rss_mib", &kept, |s| s.rss_kib as f64 / 1024.0);
    curve(report, "fds", &kept, |s| s.fds as f64);
    curve(report, "server_conns", &kept, |s| s.server_conns as f64);
    curve(report, "history_mib", &kept, |s| {
        s.history_bytes as f64 / 1048576.0
    });
    curve(report, "heap_allocated_mib", &kept, |s| {
        s.heap_allocated as f64 / 1048576.0
    });
    curve(report, "heap_resident_mib", &kept, |s| {
        s.heap_resident as f64 / 1048576.0
    });
    let rest_rss = crate::stats::read(Some(pid)).map_or(0, |p| p.rss_kib);
    report.num("rest_rss_mib", rest_rss as f64 / 1024.0, 2);
    report.add("rest_server_conns", rest[0]);
    report.num("rest_history_mib", rest[1] as f64 / 1048576.0, 3);
    report.num("rest_heap_allocated_mib", rest[2] as f64 / 1048576.0, 3);
    report.num("rest_heap_resident_mib", rest[3] as f64 / 1048576.0, 3);
    report.add("rest_rate_buckets", rest_buckets[0]);
    let c = &counts;
    for (key, value) in [
        ("joins", &c.joins),
        ("resumes", &c.resumes),
        ("takeovers", &c.takeovers),
        ("leaves", &c.leaves),
        ("renames", &c.renames),
        ("join_retries", &c.join_retries),
        ("said", &c.said),
        ("acked", &c.acked),
        ("resent", &c.resent),
        ("rate_limited", &c.rate_limited),
        ("delivered", &c.delivered),
        ("stuck_cut", &c.stuck_cut),
        ("gaps", &c.gaps),
        ("errors", &c.errors),
    ] {
        report.add(key, value.load(Ordering::Relaxed));
    }
    Ok(())
}

/// Adds a curve's first, min, median, max and last values and its slope
/// per 10 minutes (least squares over the samples).
fn curve(report: &mut Report, name: &str, samples: &[Sample], value: impl Fn(&Sample) -> f64) {
    let values: Vec<f64> = samples.iter().map(&value).collect();
    let mut sorted = values.clone();
    sorted.sort_by(f64::total_cmp);
    let n = values.len() as f64;
    let mean_t = samples.iter().map(|s| s.t_s).sum::<f64>() / n;
    let mean_v = values.iter().sum::<f64>() / n;
    let (mut cov, mut var) = (0.0, 0.0);
    for (s, v) in samples.iter().zip(&values) {
        cov += (s.t_s - mean_t) * (v - mean_v);
        var += (s.t_s - mean_t).powi(2);
    }
    let slope = if var > 0.0 { cov / var * 600.0 } else { 0.0 };
    let pick = |v: Option<&f64>| v.copied().unwrap_or(0.0);
    report.num(&format!("{name}_first"), pick(values.first()), 1);
    report.num(&format!("{name}_min"), pick(sorted.first()), 1);
    report.num(
        &format!("{name}_median"),
        pick(sorted.get(sorted.len() / 2)),
        1,
    );
    report.num(&format!("{name}_max"), pick(sorted.last()), 1);
    report.num(&format!("{name}_last"), pick(values.last()), 1);
    report.num(&format!("{name}_slope_per_10min"), slope, 2);
}
