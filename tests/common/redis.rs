//! A real Redis (the Debian package's `redis-server`) for the cluster tests.
//! [`RedisServer`] runs it as a child process on a free loopback port, in a
//! temporary directory of its own, with an append-only file fsynced on
//! every write (and no RDB snapshots), so that [`RedisServer::kill`]
//! (SIGKILL) then [`RedisServer::restart`] (same port, same directory) is a
//! crash that acknowledged writes survive. It is killed and its directory
//! removed on drop; after a failed test its log is kept in
//! `test-artifacts/`. It touches nothing outside its directory.
//!
//! The rest of the harness for Parley instances sharing a Redis lives
//! beside it: [`resp`] (raw commands over TCP), [`instance`] (the `parley`
//! binary as a child process, for tests that crash one), [`round_robin`]
//! (a polling client that spreads its requests over instances) and
//! [`cluster`] (a Redis Cluster of three masters).

pub mod cluster;
pub mod instance;
pub mod resp;
pub mod round_robin;

use std::fs::OpenOptions;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Instant, SystemTime, UNIX_EPOCH};

use super::browser::{artifacts_dir, POLL, WAIT};

const REDIS_SERVER: &str = "/usr/bin/redis-server";

/// A running (or, between `kill` and `restart`, crashed) redis-server.
pub struct RedisServer {
    /// `None` while it is down.
    child: Option<Child>,
    port: u16,
    /// Its `--dir`: the append-only file and the log.
    dir: PathBuf,
}

impl RedisServer {
    /// Starts redis-server on a free port and waits until it answers PING.
    pub async fn start() -> RedisServer {
        assert!(
            Path::new(REDIS_SERVER).exists(),
            "{REDIS_SERVER} is missing: run scripts/test, which installs redis-server, \
             or install it yourself"
        );
        let port = super::free_port();
        let nanos = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .map_or(0, |d| d.as_nanos());
        let dir = std::env::temp_dir().join(format!(
            "parley-redis-{}-{port}-{nanos}",
            std::process::id()
        ));
        std::fs::create_dir_all(&dir).expect("create the redis directory");
        let mut redis = RedisServer {
            child: None,
            port,
            dir,
        };
        redis.launch().await;
        redis
    }

    /// The port it listens on (127.0.0.1).
    pub fn port(&self) -> u16 {
        self.port
    }

    /// `redis://127.0.0.1:PORT/0`, for `--redis-url`.
    pub fn url(&self) -> String {
        format!("redis://127.0.0.1:{}/0", self.port)
    }

    /// Kills it with SIGKILL (no shutdown, no final save) and waits until
    /// it is gone; its port then refuses connections.
    pub fn kill(&mut self) {
        if let Some(mut child) = self.child.take() {
            // std's Child::kill sends SIGKILL.
            let _ = child.kill();
            let _ = child.wait();
        }
    }

    /// Starts it again on the same port and directory (killing it first if
    /// it still runs), so it replays its append-only file; waits until it
    /// answers PING, which it does only once the replay is done.
    pub async fn restart(&mut self) {
        self.kill();
        self.launch().await;
    }

    /// Sends one command over a fresh connection and returns the reply.
    pub fn command(&self, args: &[&str]) -> resp::Reply {
        resp::command(self.port, args)
    }

    async fn launch(&mut self) {
        let log = OpenOptions::new()
            .create(true)
            .append(true)
            .open(self.dir.join("redis.log"))
            .expect("open redis.log");
        let child = Command::new(REDIS_SERVER)
            // An empty save list turns RDB snapshots off: what survives a
            // kill is what the append-only file holds.
            .args([
                "--save",
                "",
                "--appendonly",
                "yes",
                "--appendfsync",
                "always",
            ])
            .arg("--dir")
            .arg(&self.dir)
            .args(["--bind", "127.0.0.1", "--port", &self.port.to_string()])
            .stdin(Stdio::null())
            .stdout(log.try_clone().expect("share redis.log"))
            .stderr(log)
            .spawn()
            .unwrap_or_else(|e| panic!("cannot start {REDIS_SERVER}: {e}"));
        self.child = Some(child);
        self.wait_ready().await;
    }

    /// Waits until it answers PING (bounded), failing with its log if it
    /// exits first.
    async fn wait_ready(&mut self) {
        let deadline = Instant::now() + WAIT;
        loop {
            let child = self.child.as_mut().expect("launched");
            if let Some(exit) = child.try_wait().expect("poll redis-server") {
                panic!(
                    "redis-server exited ({exit}) before it answered:\n{}",
                    self.logs()
                );
            }
            if resp::pong(self.port) {
                return;
            }
            assert!(
                Instant::now() < deadline,
                "redis-server did not answer on port {}:\n{}",
                self.port,
                self.logs()
            );
            tokio::time::sleep(POLL).await;
        }
    }

    fn logs(&self) -> String {
        std::fs::read_to_string(self.dir.join("redis.log")).unwrap_or_default()
    }
}

impl Drop for RedisServer {
    fn drop(&mut self) {
        self.kill();
        if std::thread::panicking() {
            let kept = artifacts_dir().join(format!("redis-{}.log", self.port));
            let _ = std::fs::write(kept, self.logs());
        }
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}
