//! Write coalescing: frames to a busy connection are held back briefly and
//! written together. Most of what a delivery costs the server is the write
//! itself (the system call and the TCP send path, on loopback also the
//! receiver's side of it), whatever the frame's size, and waking the task
//! that writes is most of the rest; several frames per wakeup and per write
//! cost little more than one (measured in docs/BENCHMARKS.md, "CPU per
//! delivery and write coalescing").
//!
//! The rule, per connection: a connection is busy while its frames come
//! less than a quarter of the window apart (more than 200 a second with
//! the default 20 ms). A quiet connection's frame is written at once, so
//! it keeps its latency, whatever else the server is doing; holding it
//! would batch nothing. A busy connection's frames wait in its outbox, and
//! its writer is woken at the flush, one window after the first frame
//! held, to write everything queued in one go: about one write per window
//! however fast frames come, and no frame waits longer than the window.
//! Frames keep their order: they are queued at once; only the writer's
//! wakeup waits. Pure: no actix; the caller passes the clock
//! ([`crate::delivery::hub`] keeps one per connection).

use std::time::{Duration, Instant};

/// What [`Coalescing::offer`] decided for frames just queued.
#[derive(Debug, PartialEq, Eq)]
pub(crate) enum Offer {
    /// Wake the writer now.
    Now,
    /// Hold it: the connection needs a flush.
    Hold,
    /// Already waiting for a flush.
    Held,
}

/// When a connection counts as quiet again, and whether it waits for a
/// flush.
#[derive(Debug)]
pub(crate) struct Coalescing {
    /// A quarter of a window after its last frame.
    quiet_from: Instant,
    held: bool,
}

impl Coalescing {
    /// A connection that has had no frame yet.
    pub(crate) fn new(now: Instant) -> Self {
        Coalescing {
            quiet_from: now,
            held: false,
        }
    }

    /// Decides for frames queued at `now`, with a window of `window`.
    pub(crate) fn offer(&mut self, now: Instant, window: Duration) -> Offer {
        let busy = now < self.quiet_from;
        self.quiet_from = now + window / 4;
        if self.held {
            Offer::Held
        } else if busy {
            self.held = true;
            Offer::Hold
        } else {
            Offer::Now
        }
    }

    /// The flush: true when frames were held, and the writer is to be
    /// woken now.
    pub(crate) fn release(&mut self) -> bool {
        std::mem::replace(&mut self.held, false)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const WINDOW: Duration = Duration::from_millis(20);

    fn ms(start: Instant, ms: u64) -> Instant {
        start + Duration::from_millis(ms)
    }

    #[test]
    fn frames_a_quarter_window_apart_are_written_at_once() {
        let start = Instant::now();
        let mut c = Coalescing::new(start);
        for at in [0, 5, 10, 30, 100] {
            assert_eq!(c.offer(ms(start, at), WINDOW), Offer::Now, "at {at} ms");
        }
    }

    #[test]
    fn closer_frames_wait_for_one_flush() {
        let start = Instant::now();
        let mut c = Coalescing::new(start);
        assert_eq!(c.offer(start, WINDOW), Offer::Now);
        assert_eq!(c.offer(ms(start, 2), WINDOW), Offer::Hold);
        assert_eq!(c.offer(ms(start, 4), WINDOW), Offer::Held);
        // However long the wait, a frame queued while held waits for the
        // flush rather than waking the writer a second time.
        assert_eq!(c.offer(ms(start, 15), WINDOW), Offer::Held);
        assert!(c.release());
        // Still busy after the flush: the next frame waits for another.
        assert_eq!(c.offer(ms(start, 17), WINDOW), Offer::Hold);
        assert!(c.release());
        // Quiet again: at once.
        assert_eq!(c.offer(ms(start, 40), WINDOW), Offer::Now);
    }

    #[test]
    fn a_flush_with_nothing_held_is_nothing() {
        let start = Instant::now();
        let mut c = Coalescing::new(start);
        assert!(!c.release());
        assert_eq!(c.offer(start, WINDOW), Offer::Now);
    }

    #[test]
    fn a_zero_window_never_holds() {
        let start = Instant::now();
        let mut c = Coalescing::new(start);
        for _ in 0..5 {
            assert_eq!(c.offer(start, Duration::ZERO), Offer::Now);
        }
    }
}
