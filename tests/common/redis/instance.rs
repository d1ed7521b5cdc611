//! The real `parley` binary as a child process joined to a Redis backplane,
//! for the cluster tests that must crash an instance: [`Instance::kill`]
//! sends SIGKILL, so the instance says goodbye to nobody and its users'
//! presence leases simply lapse. Everywhere else an in-process server
//! (`common::start` with `--redis-url`) is cheaper and does as well.
//!
//! Like the SIGTERM test in `lifecycle.rs`, it passes a port that was free a
//! moment ago and polls `/healthz` until the binary answers. The binary logs
//! at `info` to a file of its own, copied to `test-artifacts/` when the test
//! fails. The process is killed on drop.

use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::time::{Instant, SystemTime, UNIX_EPOCH};

use crate::common::browser::{artifacts_dir, POLL, WAIT};

/// One running `parley` process.
pub struct Instance {
    child: Child,
    port: u16,
    log: PathBuf,
}

impl Instance {
    /// Starts `parley --bind 127.0.0.1 --port <free> --redis-url <redis_url>
    /// --lease-secs 3 --workers 1`, then `extra`, and waits until
    /// `/healthz` answers.
    pub async fn start(redis_url: &str, extra: &[&str]) -> Instance {
        let port = crate::common::free_port();
        let nanos = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .map_or(0, |d| d.as_nanos());
        let log = std::env::temp_dir().join(format!(
            "parley-instance-{}-{port}-{nanos}.log",
            std::process::id()
        ));
        let file = std::fs::File::create(&log).expect("create the instance log");
        let child = Command::new(env!("CARGO_BIN_EXE_parley"))
            .args(["--bind", "127.0.0.1", "--port", &port.to_string()])
            .args(["--redis-url", redis_url, "--workers", "1"])
            // A short lease unless the test asks for its own.
            .args(if extra.contains(&"--lease-secs") {
                &[][..]
            } else {
                &["--lease-secs", "3"][..]
            })
            .args(extra)
            .env("RUST_LOG", "info")
            .stdin(Stdio::null())
            .stdout(file.try_clone().expect("share the instance log"))
            .stderr(file)
            .spawn()
            .expect("parley starts");
        let mut instance = Instance { child, port, log };
        instance.wait_healthy().await;
        instance
    }

    /// The port it listens on (127.0.0.1).
    pub fn port(&self) -> u16 {
        self.port
    }

    /// `http://127.0.0.1:PORT{path}`.
    pub fn url(&self, path: &str) -> String {
        format!("http://127.0.0.1:{}{path}", self.port)
    }

    /// The WebSocket endpoint.
    pub fn ws_url(&self) -> String {
        format!("ws://127.0.0.1:{}/ws", self.port)
    }

    /// Kills it with SIGKILL and waits until it is gone: its sockets drop
    /// without a close frame and nothing is cleaned up in Redis.
    pub fn kill(&mut self) {
        // std's Child::kill sends SIGKILL.
        let _ = self.child.kill();
        let _ = self.child.wait();
    }

    async fn wait_healthy(&mut self) {
        let deadline = Instant::now() + WAIT;
        let healthz = self.url("/healthz");
        loop {
            if let Ok(response) = reqwest::get(&healthz).await {
                if response.status().is_success() {
                    return;
                }
            }
            if let Some(exit) = self.child.try_wait().expect("poll parley") {
                panic!("parley exited early ({exit}):\n{}", self.logs());
            }
            assert!(
                Instant::now() < deadline,
                "parley never became healthy on port {}:\n{}",
                self.port,
                self.logs()
            );
            tokio::time::sleep(POLL).await;
        }
    }

    fn logs(&self) -> String {
        std::fs::read_to_string(&self.log).unwrap_or_default()
    }
}

impl Drop for Instance {
    fn drop(&mut self) {
        self.kill();
        if std::thread::panicking() {
            let kept = artifacts_dir().join(format!("parley-{}.log", self.port));
            let _ = std::fs::write(kept, self.logs());
        }
        let _ = std::fs::remove_file(&self.log);
    }
}
