//! The one byte bound on what waits for a member's client, whatever the
//! transport. A [`Backlog`] is shared by the hub that queues the room's
//! frames for the member ([`crate::delivery::hub`], which reserves their
//! bytes first) and by the transport that hands them to the client and
//! releases the bytes once the client has them: a WebSocket's writer as it
//! takes frames, a polling session as its client acknowledges them. A
//! reservation that would pass the limit marks the reader dropped instead,
//! which is the single "too slow" rule of both transports. The hub and the
//! transport may run on different threads: the count is atomic.
//!
//! A WebSocket's encoded frames wait in the same allocation
//! ([`Waiting`], used by [`crate::delivery::outbox`]): one allocation per
//! connection rather than two, which is 32 bytes of every idle WebSocket.
//! A polling session keeps its frames in its actor and leaves it empty.

use std::collections::VecDeque;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::task::Waker;

use bytes::Bytes;

#[derive(Debug, Default)]
struct Counter {
    pending: AtomicUsize,
    dropped: AtomicBool,
    waiting: Mutex<Waiting>,
}

/// A WebSocket's encoded frames not yet taken by its writer, and the
/// writer's waker.
#[derive(Debug, Default)]
pub(crate) struct Waiting {
    /// The frames, oldest first.
    pub(crate) frames: VecDeque<Bytes>,
    /// Who to wake when frames are queued.
    pub(crate) writer: Option<Waker>,
}

/// Bytes queued for one member and not yet taken by its client.
#[derive(Debug, Clone, Default)]
pub(crate) struct Backlog {
    counter: Arc<Counter>,
}

impl Backlog {
    /// Bytes queued and not yet taken.
    pub(crate) fn pending(&self) -> usize {
        self.counter.pending.load(Ordering::Relaxed)
    }

    /// Reserves `len` bytes unless that would pass `limit`. An empty
    /// backlog takes any one frame, so a single large frame (a resume
    /// welcome with a long history) cannot get its reader dropped on every
    /// attempt.
    pub(crate) fn try_reserve(&self, len: usize, limit: usize) -> bool {
        self.counter
            .pending
            .fetch_update(Ordering::Relaxed, Ordering::Relaxed, |pending| {
                (pending == 0 || pending + len <= limit).then_some(pending + len)
            })
            .is_ok()
    }

    /// Records `len` bytes queued, unconditionally: the transport's own
    /// replies to its client (errors, pongs, the close), which the client's
    /// own rate limit bounds.
    pub(crate) fn add(&self, len: usize) {
        self.counter.pending.fetch_add(len, Ordering::Relaxed);
    }

    /// Releases `len` bytes the client has taken. Saturating: a WebSocket's
    /// encoded chunks carry frame headers that were never reserved.
    pub(crate) fn release(&self, len: usize) {
        let _ = self
            .counter
            .pending
            .fetch_update(Ordering::Relaxed, Ordering::Relaxed, |p| {
                Some(p.saturating_sub(len))
            });
    }

    /// Marks the reader as dropped for not reading.
    pub(crate) fn drop_reader(&self) {
        self.counter.dropped.store(true, Ordering::Relaxed);
    }

    /// Whether the reader was dropped.
    pub(crate) fn is_dropped(&self) -> bool {
        self.counter.dropped.load(Ordering::Relaxed)
    }

    /// The frames waiting for a WebSocket's writer.
    pub(crate) fn waiting(&self) -> &Mutex<Waiting> {
        &self.counter.waiting
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_empty_backlog_takes_one_frame_of_any_size() {
        let backlog = Backlog::default();
        assert!(backlog.try_reserve(5000, 1000));
        assert!(!backlog.try_reserve(1, 1000));
        backlog.release(4500);
        assert!(backlog.try_reserve(500, 1000));
        assert!(!backlog.try_reserve(1, 1000));
        assert_eq!(backlog.pending(), 1000);
    }

    #[test]
    fn releases_saturate_and_own_replies_always_count() {
        let backlog = Backlog::default();
        backlog.add(10);
        backlog.release(25);
        assert_eq!(backlog.pending(), 0);
        backlog.add(2000);
        assert_eq!(backlog.pending(), 2000);
        assert!(!backlog.try_reserve(1, 1000), "own replies count too");
        assert!(!backlog.is_dropped());
        backlog.drop_reader();
        assert!(backlog.clone().is_dropped(), "clones share the state");
    }
}
