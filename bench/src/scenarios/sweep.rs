//! sweep: fanout steps on one room (or `--rooms`) at rising offered rates (each
//! `--sweep-factor` times the last) until a step's p99 latency passes
//! `--p99-limit-ms` or any delivery is lost; reports the highest rate
//! sustained. Every step is also printed on stderr, generator CPU
//! included, so a step limited by the generator rather than the server can
//! be seen.

use std::io;
use std::sync::Arc;
use std::time::Duration;

use super::fanout::{Room, Step};
use crate::adapters::Env;
use crate::args::Args;
use crate::report::Report;

/// Pause between steps, so the last one's stragglers are not counted.
const BETWEEN_STEPS: Duration = Duration::from_millis(500);

/// Runs the scenario.
pub async fn run(env: Arc<Env>, args: &Args, report: &mut Report) -> io::Result<()> {
    let mut room = Room::setup(env, args).await?;
    let recipients = room.recipients();
    let mut offered = args.sweep_start;
    let mut best: Option<Step> = None;
    let mut failure: Option<(Step, &str)> = None;
    for step_no in 1..=args.sweep_steps {
        let step = room
            .step(step_no, offered / recipients, args.secs, &args.server_pids)
            .await;
        let verdict = if step.lost() > 0 || step.closed > 0 {
            Some("loss")
        } else if step.p99_ms > args.p99_limit_ms {
            Some("p99")
        } else {
            None
        };
        eprintln!(
            "sweep step {step_no}: offered {:.0}/s delivered {:.0}/s lost {} (refused {} messages) p99 {:.1} ms server {:.0}% gen {:.0}% {}",
            offered,
            step.delivered_per_s(),
            step.lost(),
            step.refused,
            step.p99_ms,
            step.usage.server_cpu_pct(),
            step.usage.gen_cpu_pct(),
            verdict.unwrap_or("ok")
        );
        if let Some(reason) = verdict {
            failure = Some((step, reason));
            break;
        }
        best = Some(step);
        offered *= args.sweep_factor;
        tokio::time::sleep(BETWEEN_STEPS).await;
    }
    report.add("clients", room.clients());
    report.add("rooms", args.rooms.max(1));
    report.num(
        "sustained_msgs_per_s",
        best.as_ref().map_or(0.0, |s| s.rate),
        0,
    );
    match &best {
        Some(step) => {
            report.num("sustained_offered_per_s", step.rate * recipients, 0);
            report.num("sustained_delivered_per_s", step.delivered_per_s(), 0);
            report.num("sustained_p99_ms", step.p99_ms, 2);
            report.num(
                "sustained_server_cpu_us_per_delivery",
                step.server_us_per_delivery(),
                3,
            );
            report.num("sustained_gen_cpu_pct", step.usage.gen_cpu_pct(), 0);
        }
        None => report.add("sustained_delivered_per_s", 0),
    }
    match &failure {
        Some((step, reason)) => {
            report.num("failed_offered_per_s", step.rate * recipients, 0);
            report.add("failed_on", reason);
            report.num("failed_p99_ms", step.p99_ms, 2);
            report.add("failed_lost", step.lost());
            report.add("failed_refused", step.refused);
            report.num("failed_server_cpu_pct", step.usage.server_cpu_pct(), 0);
            report.num("failed_gen_cpu_pct", step.usage.gen_cpu_pct(), 0);
        }
        None => report.add("failed_on", "none"),
    }
    room.close();
    Ok(())
}
