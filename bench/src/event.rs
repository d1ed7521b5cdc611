//! What a client of any protocol sees, reduced to what the scenarios count:
//! a login answer with the room's size, someone joining or leaving, a chat
//! message (with the benchmark's marker when it carries one), or the end.
//! Also the marker itself, and the clock every latency is measured on.
//! Parsing here is substring search, not JSON decoding, so the generator
//! spends its time reading sockets rather than building trees.

use std::sync::OnceLock;
use std::time::Instant;

/// One thing a client received.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Event {
    /// The answer to this client's own login: the room's size including it.
    Welcome { count: u64 },
    /// Someone else logged in; the room's size after it.
    Joined { count: u64 },
    /// Someone left; the room's size after it.
    Left { count: u64 },
    /// Several arrivals and departures in one frame (Parley batches them in
    /// large rooms); the room's size after them. Its changes are set
    /// operations that may repeat what the login answer already counted, so
    /// the size is taken as it is rather than counted up.
    Presence { count: u64 },
    /// A chat message, with its marker if the benchmark sent it.
    Message(Option<Marker>),
    /// The server refused a request of this client's (an `error` frame):
    /// for a sender under load, a message not logged (`rate_limited` when
    /// the backplane's queue is full), whose deliveries count as lost.
    Refused,
    /// The server ended the connection.
    Closed,
    /// Anything else (acks, typing, errors).
    Other,
}

/// What the benchmark writes into each message it sends: which step of a
/// run, which sender, which message of that sender, and when it was
/// scheduled (microseconds on [`now_us`]'s clock), so a receiver can measure
/// latency from the schedule rather than from the actual send.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Marker {
    /// The step of the run (sweeps reuse one room for several steps).
    pub step: u32,
    /// The sender's index.
    pub sender: u32,
    /// The message's number at that sender.
    pub seq: u32,
    /// The scheduled send time, in microseconds since the process started.
    pub sched_us: u64,
}

impl Marker {
    /// The message text carrying this marker. Nicknames cannot hold `@` in
    /// either server's frames here, so the first `@` of a frame starts it.
    pub fn encode(&self) -> String {
        format!(
            "@{}:{}:{}:{}",
            self.step, self.sender, self.seq, self.sched_us
        )
    }

    /// Finds and decodes a marker anywhere in a frame.
    pub fn find(frame: &str) -> Option<Marker> {
        let start = frame.find('@')? + 1;
        let mut parts = frame[start..].splitn(4, ':');
        let step = parts.next()?.parse().ok()?;
        let sender = parts.next()?.parse().ok()?;
        let seq = parts.next()?.parse().ok()?;
        let rest = parts.next()?;
        let digits = rest
            .find(|c: char| !c.is_ascii_digit())
            .unwrap_or(rest.len());
        let sched_us = rest[..digits].parse().ok()?;
        Some(Marker {
            step,
            sender,
            seq,
            sched_us,
        })
    }
}

/// The unsigned integer that follows `key` (e.g. `"count":`) in `frame`.
pub fn number_after(frame: &str, key: &str) -> Option<u64> {
    let start = frame.find(key)? + key.len();
    let rest = &frame[start..];
    let digits = rest
        .find(|c: char| !c.is_ascii_digit())
        .unwrap_or(rest.len());
    rest[..digits].parse().ok()
}

fn epoch() -> Instant {
    static EPOCH: OnceLock<Instant> = OnceLock::new();
    *EPOCH.get_or_init(Instant::now)
}

/// Microseconds since the process's first call; monotonic.
pub fn now_us() -> u64 {
    epoch().elapsed().as_micros() as u64
}

/// The [`now_us`] clock's reading at `at`.
pub fn instant_us(at: Instant) -> u64 {
    at.saturating_duration_since(epoch()).as_micros() as u64
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn markers_survive_json_framing() {
        let marker = Marker {
            step: 3,
            sender: 7,
            seq: 42,
            sched_us: 123_456,
        };
        let frame = format!(
            r#"{{"type":"message","id":1,"ts":9,"nick":"u7","text":"{}"}}"#,
            marker.encode()
        );
        assert_eq!(Marker::find(&frame), Some(marker));
        assert_eq!(Marker::find(r#"{"type":"message","text":"hi"}"#), None);
    }

    #[test]
    fn numbers_are_read_after_their_key() {
        let frame = r#"42["login",{"numUsers":17}]"#;
        assert_eq!(number_after(frame, "\"numUsers\":"), Some(17));
        assert_eq!(number_after(frame, "\"count\":"), None);
    }
}
