//! The real `parley` binary as a child process, for tests that must read
//! the server's own memory: it is started on port 0 and the port is read
//! from its first log line (`parley listening on 127.0.0.1:PORT/ ...`,
//! written by `Server::build`), its standard error is drained by a thread
//! so the pipe never fills, its VmRSS and VmHWM (the peak) come from
//! /proc/PID/status, and it is killed when dropped. Linux only, as /proc is.

use std::io::{BufRead, BufReader};
use std::process::{Child, Command, Stdio};
use std::sync::mpsc;
use std::time::Duration;

/// A running `parley` process.
pub struct Process {
    /// The port it listens on (127.0.0.1).
    pub port: u16,
    /// The arguments it was started with (after the program name).
    pub args: Vec<String>,
    child: Child,
}

impl Process {
    /// Starts `parley --bind 127.0.0.1 --port 0` with `args` and waits for
    /// it to listen (a hang guard of 30 s: a debug build may be slow to
    /// start on a busy machine).
    pub fn start(args: &[String]) -> Process {
        let mut child = Command::new(env!("CARGO_BIN_EXE_parley"))
            .args(["--bind", "127.0.0.1", "--port", "0"])
            .args(args)
            // Memory only unless the test names a data directory (its own).
            .args(
                (!args.iter().any(|a| a == "--data-dir"))
                    .then_some(["--data-dir", "none"])
                    .into_iter()
                    .flatten(),
            )
            // The line with the port is logged at info.
            .env("RUST_LOG", "info")
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            .spawn()
            .expect("the parley binary starts");
        // unwrap: stderr was piped just above.
        let stderr = child.stderr.take().unwrap();
        let (tx, rx) = mpsc::channel();
        std::thread::spawn(move || {
            let mut told = false;
            for line in BufReader::new(stderr).lines().map_while(Result::ok) {
                if !told {
                    if let Some(port) = listening_port(&line) {
                        told = tx.send(port).is_ok();
                    }
                }
            }
        });
        let port = rx
            .recv_timeout(Duration::from_secs(30))
            .expect("parley logs the port it listens on");
        Process {
            port,
            args: args.to_vec(),
            child,
        }
    }

    /// The process id.
    pub fn pid(&self) -> u32 {
        self.child.id()
    }

    /// `http://127.0.0.1:PORT`.
    pub fn base(&self) -> String {
        format!("http://127.0.0.1:{}", self.port)
    }

    /// The WebSocket endpoint.
    pub fn ws_url(&self) -> String {
        format!("ws://127.0.0.1:{}/ws", self.port)
    }

    /// A field of /proc/PID/status in bytes (`VmRSS`, `VmHWM`).
    fn status_bytes(&self, field: &str) -> u64 {
        let status = std::fs::read_to_string(format!("/proc/{}/status", self.pid()))
            .expect("the server is running");
        status
            .lines()
            .find_map(|line| line.strip_prefix(field)?.strip_prefix(':'))
            .and_then(|v| v.trim().trim_end_matches("kB").trim().parse::<u64>().ok())
            .map(|kib| kib * 1024)
            .unwrap_or_else(|| panic!("no {field} in /proc/PID/status"))
    }

    /// Resident memory now, bytes.
    pub fn rss(&self) -> u64 {
        self.status_bytes("VmRSS")
    }

    /// The most resident memory the process has had, bytes.
    pub fn peak_rss(&self) -> u64 {
        self.status_bytes("VmHWM")
    }

    /// The value of one series (`name{labels}`) from `/metrics`.
    pub async fn metric(&self, series: &str) -> f64 {
        let body = reqwest::get(format!("{}/metrics", self.base()))
            .await
            .expect("/metrics answers")
            .text()
            .await
            .expect("a body");
        body.lines()
            .find_map(|line| line.strip_prefix(series)?.strip_prefix(' '))
            .unwrap_or_else(|| panic!("no metric {series}"))
            .trim()
            .parse()
            .expect("a number")
    }

    /// Whether the process is still running (it did not crash).
    pub fn alive(&mut self) -> bool {
        matches!(self.child.try_wait(), Ok(None))
    }
}

impl Drop for Process {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// The port in `parley listening on 127.0.0.1:PORT/ (...)`.
pub fn listening_port(line: &str) -> Option<u16> {
    let rest = &line[line.find("parley listening on ")? + "parley listening on ".len()..];
    let authority = rest.split('/').next()?;
    authority.rsplit(':').next()?.parse().ok()
}
