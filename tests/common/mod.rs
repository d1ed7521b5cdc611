//! Shared test harness: starts the real server on port 0 in a thread of its
//! own (with its own actix system, as the binary runs it) and gives tests
//! real clients over real sockets: WebSocket (`ws`) and long-polling
//! (`poll`, and `redis::round_robin` across instances), which share their
//! waiting helpers through `inbox::Inbox`. For the abuse suite it also
//! runs the real binary as a process (`process`), writes raw WebSocket
//! frames (`raw`), keeps two bystanders chatting (`bystanders`) and
//! computes the documented memory bound (`bound`). Each integration test
//! binary includes this module; not every binary uses every helper.
#![allow(dead_code)]

pub mod apache;
pub mod bound;
pub mod browser;
pub mod bystanders;
pub mod daemon;
pub mod inbox;
pub mod nginx;
pub mod order;
pub mod poll;
pub mod process;
pub mod raw;
pub mod redis;
pub mod ws;

use std::sync::mpsc;
use std::thread;

use parley::{Config, Server, Stopper};

/// A running server, stopped when dropped.
pub struct TestServer {
    /// The port it listens on (127.0.0.1).
    pub port: u16,
    stopper: Stopper,
    system: actix_rt::System,
    thread: Option<thread::JoinHandle<std::io::Result<()>>>,
}

/// Per-address limits lifted for tests that do not name them: every test
/// client comes from 127.0.0.1, so one test's clients would otherwise share
/// one address's allowance. Tests of those limits pass their own values.
const LOOSE_PER_ADDRESS: [(&str, &str); 7] = [
    ("--address-rate-burst", "1000000"),
    ("--address-rate-per-sec", "1000000"),
    ("--max-websockets-per-ip", "1000000"),
    ("--connect-burst", "1000000"),
    ("--connect-per-sec", "1000000"),
    ("--room-rate-burst", "1000000"),
    ("--room-rate-per-sec", "1000000"),
];

/// Starts a server with the given extra command-line arguments.
pub fn start(args: &[&str]) -> TestServer {
    let mut argv: Vec<String> = ["parley", "--bind", "127.0.0.1", "--workers", "1"]
        .iter()
        .map(|s| s.to_string())
        .collect();
    argv.extend(args.iter().map(|s| s.to_string()));
    // Port 0 unless the test names one (to restart on the same port).
    if !args.contains(&"--port") {
        argv.extend(["--port".to_string(), "0".to_string()]);
    }
    // Memory only unless the test asks for a data directory (its own).
    if !args.contains(&"--data-dir") {
        argv.extend(["--data-dir".to_string(), "none".to_string()]);
    }
    for (flag, value) in LOOSE_PER_ADDRESS {
        if !args.contains(&flag) {
            argv.extend([flag.to_string(), value.to_string()]);
        }
    }
    let _ = env_logger::builder().is_test(true).try_init();
    let config = Config::parse_args(argv).expect("test arguments parse");
    let (tx, rx) = mpsc::channel();
    let thread = thread::spawn(move || {
        let system = actix_rt::System::new();
        system.block_on(async move {
            let server = Server::bind(&config)?;
            tx.send((server.port(), server.stopper(), actix_rt::System::current()))
                .expect("test is waiting");
            server.run().await
        })
    });
    let (port, stopper, system) = rx.recv().expect("server started");
    TestServer {
        port,
        stopper,
        system,
        thread: Some(thread),
    }
}

/// A port on 127.0.0.1 that was free a moment ago, for a helper process
/// (chromedriver, nginx) that must be told its port.
pub fn free_port() -> u16 {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").expect("bind a probe socket");
    listener.local_addr().expect("probe address").port()
}

impl TestServer {
    /// `http://127.0.0.1:PORT{path}`.
    pub fn url(&self, path: &str) -> String {
        format!("http://127.0.0.1:{}{path}", self.port)
    }

    /// The WebSocket endpoint.
    pub fn ws_url(&self) -> String {
        format!("ws://127.0.0.1:{}/ws", self.port)
    }

    /// Stops gracefully (as on SIGTERM) and waits until the server has exited.
    pub async fn stop(mut self) {
        self.stopper.stop().await;
        if let Some(thread) = self.thread.take() {
            tokio::task::spawn_blocking(move || thread.join())
                .await
                .expect("join task")
                .expect("server thread")
                .expect("server exits cleanly");
        }
    }

    /// The value of one metric line (`name{labels}`) from `/metrics`.
    pub async fn metric(&self, series: &str) -> f64 {
        let body = reqwest::get(self.url("/metrics"))
            .await
            .unwrap()
            .text()
            .await
            .unwrap();
        body.lines()
            .find_map(|line| {
                line.strip_prefix(series)
                    .and_then(|rest| rest.strip_prefix(' '))
            })
            .unwrap_or_else(|| panic!("no metric {series} in:\n{body}"))
            .trim()
            .parse()
            .unwrap()
    }
}

impl Drop for TestServer {
    fn drop(&mut self) {
        if self.thread.is_some() {
            self.system.stop();
        }
    }
}

impl TestServer {
    /// Polls `/metrics` until `series` equals `expected`. Gauges and counters
    /// are updated just after frames are handed out, so a test that has just
    /// seen a frame may read the previous value; this waits for the new one.
    /// The bound is a hang guard, not a timing assertion.
    pub async fn wait_metric(&self, series: &str, expected: f64) {
        let deadline = tokio::time::Instant::now() + inbox::PATIENCE;
        loop {
            let value = self.metric(series).await;
            if value == expected {
                return;
            }
            assert!(
                tokio::time::Instant::now() < deadline,
                "{series} stayed at {value}, expected {expected}"
            );
            tokio::time::sleep(std::time::Duration::from_millis(20)).await;
        }
    }
}
