//! storm: N users log in to one room at once. Every client is connected
//! first (not timed; long-polling has nothing to connect), then all send
//! their login together. A client is done when the room size it last heard
//! is N and the size in its login answer plus the joins it saw after it
//! also make N (so no join notice was missed). Reports the time until the
//! last client is done, and the frames the server sent on the way. Against
//! a cluster (`--url` repeated) the users go to the instances in turn.

use std::io;
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use tokio::sync::{Barrier, Semaphore};

use super::nick;
use crate::adapters::{self, Env};
use crate::args::Args;
use crate::event::Event;
use crate::report::Report;
use crate::stats::Snapshot;

/// The room every user joins.
const ROOM: &str = "storm";

#[derive(Default)]
struct Shared {
    done: AtomicUsize,
    failed: AtomicUsize,
    frames: AtomicU64,
    last_done_us: AtomicU64,
}

/// Runs the scenario.
pub async fn run(env: Arc<Env>, args: &Args, report: &mut Report) -> io::Result<()> {
    let n = args.users.max(1);
    let gate = Arc::new(Semaphore::new(args.concurrency.max(1)));
    let opening: Vec<_> = (0..n)
        .map(|i| {
            let (env, gate) = (env.clone(), gate.clone());
            tokio::spawn(async move {
                let _permit = gate.acquire_owned().await;
                adapters::open(&env, i, ROOM).await
            })
        })
        .collect();
    let mut conns = Vec::with_capacity(n);
    for task in opening {
        conns.push(task.await.map_err(io::Error::other)??);
    }
    let shared = Arc::new(Shared::default());
    let barrier = Arc::new(Barrier::new(n + 1));
    let mut tasks = Vec::with_capacity(n);
    let start = Arc::new(std::sync::OnceLock::<Instant>::new());
    for (i, conn) in conns.into_iter().enumerate() {
        let (shared, barrier, start) = (shared.clone(), barrier.clone(), start.clone());
        tasks.push(tokio::spawn(async move {
            barrier.wait().await;
            let (mut rx, _tx) = match conn.login(&nick(i), ROOM).await {
                Ok(halves) => halves,
                Err(err) => {
                    if shared.failed.fetch_add(1, Ordering::Relaxed) == 0 {
                        eprintln!("storm: client {i}: {err}");
                    }
                    return;
                }
            };
            let (mut known, mut latest, mut welcomed, mut done) = (0u64, 0u64, false, false);
            let mut events = Vec::with_capacity(256);
            while rx.recv(&mut events).await.is_ok() {
                shared
                    .frames
                    .fetch_add(events.len() as u64, Ordering::Relaxed);
                for event in &events {
                    match *event {
                        Event::Welcome { count } => {
                            welcomed = true;
                            known = count;
                            latest = count;
                        }
                        Event::Joined { count } if welcomed => {
                            known += 1;
                            latest = count;
                        }
                        Event::Left { count } if welcomed => {
                            known = known.saturating_sub(1);
                            latest = count;
                        }
                        // A batch restates membership as a set; that every
                        // roster comes out exact is checked by Parley's own
                        // test (a_crowd_arriving_and_leaving_at_once...).
                        Event::Presence { count } if welcomed => {
                            known = count;
                            latest = count;
                        }
                        _ => {}
                    }
                }
                events.clear();
                if !done && latest == n as u64 && known == n as u64 {
                    done = true;
                    // unwrap: set before the barrier opened.
                    let at = start.get().unwrap().elapsed().as_micros() as u64;
                    shared.last_done_us.fetch_max(at, Ordering::Relaxed);
                    shared.done.fetch_add(1, Ordering::Relaxed);
                }
            }
            if !done {
                shared.failed.fetch_add(1, Ordering::Relaxed);
            }
        }));
    }
    let before = Snapshot::take(&args.server_pids);
    let _ = start.set(Instant::now());
    barrier.wait().await;
    let deadline = Instant::now() + Duration::from_secs_f64(args.deadline_secs);
    while shared.done.load(Ordering::Relaxed) + shared.failed.load(Ordering::Relaxed) < n
        && Instant::now() < deadline
    {
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
    let after = Snapshot::take(&args.server_pids);
    let done = shared.done.load(Ordering::Relaxed);
    let complete = done == n;
    let secs = if complete {
        shared.last_done_us.load(Ordering::Relaxed) as f64 / 1e6
    } else {
        after.since(&before).wall_s
    };
    for task in &tasks {
        task.abort();
    }
    let usage = after.since(&before);
    let frames = shared.frames.load(Ordering::Relaxed);
    report.add("users", n);
    report.add("complete", u8::from(complete));
    report.add("users_done", done);
    report.add("failed", shared.failed.load(Ordering::Relaxed));
    report.num("storm_s", secs, 3);
    report.add("frames", frames);
    report.num("frames_per_s", frames as f64 / usage.wall_s.max(1e-9), 0);
    report.num("server_cpu_s", usage.server_cpu_s, 2);
    if usage.server_cpu_each_s.len() > 1 {
        for (i, cpu_s) in usage.server_cpu_each_s.iter().enumerate() {
            report.num(&format!("server_cpu_s_{}", i + 1), *cpu_s, 2);
        }
    }
    report.num("gen_cpu_pct", usage.gen_cpu_pct(), 0);
    Ok(())
}
