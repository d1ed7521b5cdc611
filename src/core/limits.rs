//! The numeric limits the room core enforces, in one struct built from the
//! configuration. Transport-level limits (frame bytes, outbox bytes, timing)
//! are here too so that the welcome can announce them and the docs can cite
//! one place.

use std::time::Duration;

use crate::protocol::AnnouncedLimits;

/// Limits in force for a server.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Limits {
    /// Longest message, in characters.
    pub max_message_chars: usize,
    /// Longest nickname, in characters.
    pub max_nick_chars: usize,
    /// Largest client frame, in bytes (WebSocket message or HTTP body).
    pub max_frame_bytes: usize,
    /// Messages kept per room.
    pub history_size: usize,
    /// Bytes of history kept per room (`core/history.rs` counts them); the
    /// log tail kept for catching up is bounded by the same figure.
    pub max_room_history_bytes: usize,
    /// Bytes of history kept across all rooms by each holder (the
    /// in-memory backplane, this instance's mirrors); past it the least
    /// recently active rooms lose their oldest messages first.
    pub max_history_bytes: usize,
    /// Messages shown to a new (not resuming) joiner.
    pub history_on_join: usize,
    /// Rooms held at once (empty rooms are evicted, oldest first, past it).
    pub max_rooms: usize,
    /// Participants per room.
    pub max_room_members: usize,
    /// Frames a connection may send in a burst.
    pub rate_burst: u32,
    /// Frames per second a connection may sustain.
    pub rate_per_sec: u32,
    /// Bytes queued for one slow reader before it is dropped.
    pub max_outbox_bytes: usize,
    /// Longest a long-poll waits before answering empty. Under the idle
    /// timeouts of common proxies (nginx 60 s, IIS ARR 120 s, Azure 230 s).
    pub poll_wait: Duration,
    /// A polling session not polled for this long ends and its user leaves.
    /// Must exceed `poll_wait` plus a client's reconnect backoff, so that a
    /// live client is never expired between two polls.
    pub session_grace: Duration,
    /// Longest a frame to a connection receiving a fast stream waits, so
    /// that several leave in one write (`delivery/coalesce.rs`); zero sends
    /// every frame at once.
    pub coalesce: Duration,
}

impl Default for Limits {
    fn default() -> Self {
        Limits {
            max_message_chars: 2000,
            max_nick_chars: 24,
            max_frame_bytes: 64 * 1024,
            history_size: 500,
            max_room_history_bytes: 256 * 1024,
            max_history_bytes: 64 * 1024 * 1024,
            history_on_join: 50,
            max_rooms: 1000,
            max_room_members: 20_000,
            rate_burst: 20,
            rate_per_sec: 10,
            max_outbox_bytes: 1024 * 1024,
            poll_wait: Duration::from_secs(25),
            session_grace: Duration::from_secs(45),
            coalesce: Duration::from_millis(20),
        }
    }
}

impl Limits {
    /// The part of the limits a client needs to know.
    pub(crate) fn announced(&self) -> AnnouncedLimits {
        AnnouncedLimits {
            max_message_chars: self.max_message_chars,
            max_nick_chars: self.max_nick_chars,
            max_frame_bytes: self.max_frame_bytes,
            rate_burst: self.rate_burst,
            rate_per_sec: self.rate_per_sec,
        }
    }

    /// How often, at most, a polling session's polls renew its lease: a
    /// third of the grace, at least a second. Each renewal is a backplane
    /// call (a Redis round trip), so thousands of busy pollers must not
    /// renew on every poll.
    pub(crate) fn poll_renewal(&self) -> Duration {
        (self.session_grace / 3).max(Duration::from_secs(1))
    }

    /// The lease a poll renews: the grace, plus the renewal period it may
    /// have skipped, so a session ends between one grace and that much
    /// more after its last poll, never sooner.
    pub(crate) fn poll_lease(&self) -> Duration {
        self.session_grace + self.poll_renewal()
    }
}
