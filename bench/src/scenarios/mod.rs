//! The scenarios, one file each, and what they share: logging a client in
//! and waiting for the server's answer.

pub mod fanout;
pub mod hold;
pub mod soak;
pub mod storm;
pub mod sweep;

use std::io;
use std::time::Duration;

use crate::adapters::{self, Env, Rx, Tx};
use crate::event::Event;

/// How long one client may take to connect and log in.
pub const LOGIN_TIMEOUT: Duration = Duration::from_secs(60);

/// Connects client `index`, logs it in as `nick` in `room` and waits for
/// the answer; returns both halves and the room's size it reported.
pub async fn login(env: &Env, index: usize, nick: &str, room: &str) -> io::Result<(Rx, Tx, u64)> {
    let attempt = async {
        let conn = adapters::open(env, index, room).await?;
        let (mut rx, tx) = conn.login(nick, room).await?;
        let mut events = Vec::new();
        loop {
            rx.recv(&mut events).await?;
            if let Some(count) = events.iter().find_map(|e| match e {
                Event::Welcome { count } => Some(*count),
                _ => None,
            }) {
                return Ok((rx, tx, count));
            }
            events.clear();
        }
    };
    tokio::time::timeout(LOGIN_TIMEOUT, attempt)
        .await
        .map_err(|_| io::Error::new(io::ErrorKind::TimedOut, "no answer to the login"))?
}

/// The nickname of client `index` (letters and digits: valid everywhere).
pub fn nick(index: usize) -> String {
    format!("u{index}")
}
