//! What the tests' proxy daemons (nginx, Apache) share: waiting until one
//! listens on its port, and reading the logs it wrote to its prefix
//! directory, to show when it fails.

use std::path::Path;
use std::process::Child;
use std::time::Instant;

use super::browser::{POLL, WAIT};

/// Waits until `child` (called `name` in messages) accepts connections on
/// `port`; panics with the logs in `dir` if it exits first or never does.
pub async fn wait_listening(name: &str, child: &mut Child, port: u16, dir: &Path) {
    let deadline = Instant::now() + WAIT;
    loop {
        if let Some(exit) = child
            .try_wait()
            .unwrap_or_else(|e| panic!("poll {name}: {e}"))
        {
            panic!("{name} exited ({exit}) before it listened:\n{}", logs(dir));
        }
        if tokio::net::TcpStream::connect(("127.0.0.1", port))
            .await
            .is_ok()
        {
            return;
        }
        assert!(
            Instant::now() < deadline,
            "{name} did not listen on port {port}:\n{}",
            logs(dir)
        );
        tokio::time::sleep(POLL).await;
    }
}

/// The daemon's stderr and error log in `dir`, one after the other.
pub fn logs(dir: &Path) -> String {
    ["stderr.log", "error.log"]
        .iter()
        .map(|name| std::fs::read_to_string(dir.join(name)).unwrap_or_default())
        .collect::<Vec<_>>()
        .join("\n")
}
