//! Resource use from /proc: a process's CPU seconds (user + system, every
//! thread) from /proc/PID/stat and its resident memory from
//! /proc/PID/status. The generator samples the server and itself the same
//! way, so its own CPU can show whether it, rather than the server, was
//! the limit.

use std::fs;
use std::time::Instant;

/// One reading of one process.
#[derive(Debug, Clone, Copy)]
pub struct Proc {
    /// CPU seconds used so far.
    pub cpu_s: f64,
    /// Resident set size, KiB.
    pub rss_kib: u64,
}

/// Reads process `pid` (`None`: this process); `None` if it is gone.
pub fn read(pid: Option<u32>) -> Option<Proc> {
    let dir = pid.map_or_else(|| "/proc/self".to_string(), |p| format!("/proc/{p}"));
    let stat = fs::read_to_string(format!("{dir}/stat")).ok()?;
    // The command name is in parentheses and may hold spaces: the numbered
    // fields start after the last ')' (field 3, state, is index 0 there).
    let fields: Vec<&str> = stat[stat.rfind(')')? + 1..].split_whitespace().collect();
    let utime: f64 = fields.get(11)?.parse().ok()?;
    let stime: f64 = fields.get(12)?.parse().ok()?;
    // SAFETY: sysconf has no preconditions.
    let ticks = unsafe { libc::sysconf(libc::_SC_CLK_TCK) }.max(1) as f64;
    let status = fs::read_to_string(format!("{dir}/status")).ok()?;
    let rss_kib = status
        .lines()
        .find_map(|line| line.strip_prefix("VmRSS:"))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
        .unwrap_or(0);
    Some(Proc {
        cpu_s: (utime + stime) / ticks,
        rss_kib,
    })
}

/// The server's and the generator's readings at one moment.
#[derive(Debug, Clone, Copy)]
pub struct Snapshot {
    at: Instant,
    server: Option<Proc>,
    generator: Option<Proc>,
}

/// What happened between two snapshots.
#[derive(Debug, Clone, Copy)]
pub struct Usage {
    /// Wall-clock seconds.
    pub wall_s: f64,
    /// Server CPU seconds (0 without a server pid).
    pub server_cpu_s: f64,
    /// Generator CPU seconds.
    pub gen_cpu_s: f64,
}

impl Usage {
    /// The generator's CPU as a percentage of one core.
    pub fn gen_cpu_pct(&self) -> f64 {
        100.0 * self.gen_cpu_s / self.wall_s.max(1e-9)
    }

    /// The server's CPU as a percentage of one core.
    pub fn server_cpu_pct(&self) -> f64 {
        100.0 * self.server_cpu_s / self.wall_s.max(1e-9)
    }
}

impl Snapshot {
    /// Reads both processes now.
    pub fn take(server_pid: Option<u32>) -> Snapshot {
        Snapshot {
            at: Instant::now(),
            server: server_pid.and_then(|p| read(Some(p))),
            generator: read(None),
        }
    }

    /// The server's resident memory, KiB (0 if unknown).
    pub fn server_rss_kib(&self) -> u64 {
        self.server.map_or(0, |p| p.rss_kib)
    }

    /// The usage from `earlier` to this snapshot.
    pub fn since(&self, earlier: &Snapshot) -> Usage {
        let cpu = |a: Option<Proc>, b: Option<Proc>| match (a, b) {
            (Some(a), Some(b)) => (a.cpu_s - b.cpu_s).max(0.0),
            _ => 0.0,
        };
        Usage {
            wall_s: self.at.duration_since(earlier.at).as_secs_f64(),
            server_cpu_s: cpu(self.server, earlier.server),
            gen_cpu_s: cpu(self.generator, earlier.generator),
        }
    }
}
