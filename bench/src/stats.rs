//! Resource use from /proc: a process's CPU seconds (user + system, every
//! thread) from /proc/PID/stat and its resident memory from
//! /proc/PID/status, and the bytes it has written (to sockets included)
//! from /proc/PID/io. The generator samples the server and itself the same
//! way, so its own CPU can show whether it, rather than the server, was
//! the limit. A server may be several processes (a cluster's instances and
//! its Redis): their readings are summed, and each one's CPU is kept too.

use std::fs;
use std::time::Instant;

/// One reading of one process.
#[derive(Debug, Clone, Copy)]
pub struct Proc {
    /// CPU seconds used so far.
    pub cpu_s: f64,
    /// Resident set size, KiB.
    pub rss_kib: u64,
    /// Bytes written so far through write(2) and its kin, sockets included
    /// (`wchar`; 0 when /proc/PID/io cannot be read).
    pub written: u64,
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
    let written = fs::read_to_string(format!("{dir}/io"))
        .ok()
        .and_then(|io| {
            io.lines()
                .find_map(|line| line.strip_prefix("wchar:"))
                .and_then(|v| v.trim().parse().ok())
        })
        .unwrap_or(0);
    Some(Proc {
        cpu_s: (utime + stime) / ticks,
        rss_kib,
        written,
    })
}

/// The server's processes' and the generator's readings at one moment.
#[derive(Debug, Clone)]
pub struct Snapshot {
    at: Instant,
    servers: Vec<Option<Proc>>,
    generator: Option<Proc>,
}

/// What happened between two snapshots.
#[derive(Debug, Clone)]
pub struct Usage {
    /// Wall-clock seconds.
    pub wall_s: f64,
    /// Server CPU seconds, all its processes together (0 without a server
    /// pid, or when one of them could not be read at either end).
    pub server_cpu_s: f64,
    /// Each server process's CPU seconds, in the order of the pids.
    pub server_cpu_each_s: Vec<f64>,
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
    /// Reads the server's processes and the generator now.
    pub fn take(server_pids: &[u32]) -> Snapshot {
        Snapshot {
            at: Instant::now(),
            servers: server_pids.iter().map(|&p| read(Some(p))).collect(),
            generator: read(None),
        }
    }

    /// The server's resident memory, all its processes together, KiB (0 if
    /// any is unknown).
    pub fn server_rss_kib(&self) -> u64 {
        self.servers
            .iter()
            .map(|p| p.map(|p| p.rss_kib))
            .sum::<Option<u64>>()
            .unwrap_or(0)
    }

    /// Bytes the server's processes wrote, all together, since `earlier`
    /// (0 if any is unknown).
    pub fn server_written_since(&self, earlier: &Snapshot) -> u64 {
        self.servers
            .iter()
            .zip(&earlier.servers)
            .map(|(now, then)| Some(now.as_ref()?.written.saturating_sub(then.as_ref()?.written)))
            .sum::<Option<u64>>()
            .unwrap_or(0)
    }

    /// The usage from `earlier` to this snapshot.
    pub fn since(&self, earlier: &Snapshot) -> Usage {
        let cpu = |a: Option<Proc>, b: Option<Proc>| match (a, b) {
            (Some(a), Some(b)) => Some((a.cpu_s - b.cpu_s).max(0.0)),
            _ => None,
        };
        let each: Vec<Option<f64>> = self
            .servers
            .iter()
            .zip(&earlier.servers)
            .map(|(&now, &then)| cpu(now, then))
            .collect();
        Usage {
            wall_s: self.at.duration_since(earlier.at).as_secs_f64(),
            server_cpu_s: each.iter().copied().sum::<Option<f64>>().unwrap_or(0.0),
            server_cpu_each_s: each.iter().map(|c| c.unwrap_or(0.0)).collect(),
            gen_cpu_s: cpu(self.generator, earlier.generator).unwrap_or(0.0),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn several_pids_are_summed_and_kept_apart() {
        let me = std::process::id();
        let before = Snapshot::take(&[me, me]);
        let mut spin = 0u64;
        while before.at.elapsed().as_millis() < 50 {
            spin = spin.wrapping_add(1);
        }
        std::hint::black_box(spin);
        let usage = Snapshot::take(&[me, me]).since(&before);
        assert_eq!(usage.server_cpu_each_s.len(), 2);
        let each = usage.server_cpu_each_s[0];
        assert!((usage.server_cpu_s - 2.0 * each).abs() < 0.02, "{usage:?}");
        assert_eq!(Snapshot::take(&[]).server_rss_kib(), 0);
    }

    #[test]
    fn an_unreadable_pid_counts_as_unknown() {
        let pids = [std::process::id(), u32::MAX];
        let before = Snapshot::take(&pids);
        let usage = Snapshot::take(&pids).since(&before);
        assert_eq!(usage.server_cpu_s, 0.0);
        assert_eq!(usage.server_cpu_each_s[1], 0.0);
        assert_eq!(before.server_rss_kib(), 0);
    }
}
