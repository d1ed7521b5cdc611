//! Write coalescing: frames to a busy connection are held back briefly and
//! written together. Most of what a delivery costs the server is the write
//! itself (the system call and the TCP send path, on loopback also the
//! receiver's side of it), whatever the frame's size, and waking the task
//! that writes is most of the rest; several frames per wakeup and per write
//! cost little more than one (measured in docs/BENCHMARKS.md, "CPU per
//! delivery and write coalescing").
//!
//! The rule, per connection: a frame that finds nothing held and no write
//! within the last window is written at once, so a quiet chat keeps its
//! latency. Any later frame waits in the connection's outbox, and the
//! writer is woken at the next flush, at most one window after the first
//! frame held, to write everything queued in one go. A connection
//! receiving more than one frame per window thus gets about one write per
//! window, and no frame waits longer than the window. Frames stay in their
//! order: they are queued at once; only the writer's wakeup is held.
//! Pure: no actix; the caller passes the clock.

use std::time::{Duration, Instant};

/// What [`Coalescing::offer`] decided for a frame just queued.
#[derive(Debug, PartialEq, Eq)]
pub enum Offer {
    /// Wake the writer now.
    Now,
    /// Hold it: the connection needs a flush.
    Hold,
    /// Already waiting for a flush.
    Held,
}

/// When one connection last had a write, and whether it waits for a flush.
#[derive(Debug)]
pub struct Coalescing {
    /// Until when a new frame is held rather than written at once.
    quiet_until: Instant,
    held: bool,
}

impl Coalescing {
    /// A connection that has had no write yet.
    pub fn new(now: Instant) -> Self {
        Coalescing {
            quiet_until: now,
            held: false,
        }
    }

    /// Decides for one frame at `now`, with a window of `window`.
    pub fn offer(&mut self, now: Instant, window: Duration) -> Offer {
        if self.held {
            Offer::Held
        } else if now >= self.quiet_until {
            self.quiet_until = now + window;
            Offer::Now
        } else {
            self.held = true;
            Offer::Hold
        }
    }

    /// The flush: true when frames were held, and the writer is to be
    /// woken now.
    pub fn release(&mut self, now: Instant, window: Duration) -> bool {
        let held = std::mem::replace(&mut self.held, false);
        if held {
            self.quiet_until = now + window;
        }
        held
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const WINDOW: Duration = Duration::from_millis(10);

    fn ms(start: Instant, ms: u64) -> Instant {
        start + Duration::from_millis(ms)
    }

    #[test]
    fn a_quiet_connection_gets_every_frame_at_once() {
        let start = Instant::now();
        let mut c = Coalescing::new(start);
        assert_eq!(c.offer(start, WINDOW), Offer::Now);
        assert_eq!(c.offer(ms(start, 10), WINDOW), Offer::Now);
        assert_eq!(c.offer(ms(start, 25), WINDOW), Offer::Now);
    }

    #[test]
    fn frames_within_a_window_wait_for_one_flush() {
        let start = Instant::now();
        let mut c = Coalescing::new(start);
        assert_eq!(c.offer(start, WINDOW), Offer::Now);
        assert_eq!(c.offer(ms(start, 2), WINDOW), Offer::Hold);
        assert_eq!(c.offer(ms(start, 4), WINDOW), Offer::Held);
        // Past the window, but a flush is due: the frame waits for it
        // rather than waking the writer a second time.
        assert_eq!(c.offer(ms(start, 11), WINDOW), Offer::Held);
        assert!(c.release(ms(start, 12), WINDOW));
        // The flush was a write: the next window starts from it.
        assert_eq!(c.offer(ms(start, 15), WINDOW), Offer::Hold);
        assert!(c.release(ms(start, 22), WINDOW));
        assert_eq!(c.offer(ms(start, 40), WINDOW), Offer::Now);
    }

    #[test]
    fn a_flush_with_nothing_held_does_not_start_a_window() {
        let start = Instant::now();
        let mut c = Coalescing::new(start);
        assert!(!c.release(start, WINDOW));
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
