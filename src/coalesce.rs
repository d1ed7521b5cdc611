//! Coalescing: under load, what the room sends a worker thread is held
//! back briefly and sent together, so that each connection gets many
//! frames per write. Most of what a delivery costs the server is the write
//! itself (the system call and the TCP send path, on loopback also the
//! receiver's side of it), whatever the frame's size, and waking the
//! threads and tasks that write is most of the rest; several frames per
//! wakeup and per write cost little more than one (measured in
//! docs/BENCHMARKS.md, "CPU per delivery and coalescing").
//!
//! The rule, per worker thread's hub ([`crate::hub`]): orders that find
//! nothing held and nothing sent within the last window go at once, so a
//! quiet server keeps its latency. Later orders wait and go together at
//! the next flush, at most one window after the first held. A hub
//! receiving more than one batch per window thus gets about one per
//! window, each of its connections one write per batch, and nothing waits
//! longer than the window. Order is kept: held orders only gather more
//! behind them. Pure: no actix; the caller passes the clock.

use std::time::{Duration, Instant};

/// What [`Coalescing::offer`] decided for what was just gathered.
#[derive(Debug, PartialEq, Eq)]
pub enum Offer {
    /// Send it now.
    Now,
    /// Hold it: the connection needs a flush.
    Hold,
    /// Already waiting for a flush.
    Held,
}

/// When a hub was last sent something, and whether it waits for a flush.
#[derive(Debug)]
pub struct Coalescing {
    /// Until when anything new is held rather than sent at once.
    quiet_until: Instant,
    held: bool,
}

impl Coalescing {
    /// Nothing sent yet.
    pub fn new(now: Instant) -> Self {
        Coalescing {
            quiet_until: now,
            held: false,
        }
    }

    /// Decides at `now`, with a window of `window`.
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

    /// The flush: true when something was held, to be sent now.
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
    fn a_quiet_hub_gets_everything_at_once() {
        let start = Instant::now();
        let mut c = Coalescing::new(start);
        assert_eq!(c.offer(start, WINDOW), Offer::Now);
        assert_eq!(c.offer(ms(start, 10), WINDOW), Offer::Now);
        assert_eq!(c.offer(ms(start, 25), WINDOW), Offer::Now);
    }

    #[test]
    fn batches_within_a_window_wait_for_one_flush() {
        let start = Instant::now();
        let mut c = Coalescing::new(start);
        assert_eq!(c.offer(start, WINDOW), Offer::Now);
        assert_eq!(c.offer(ms(start, 2), WINDOW), Offer::Hold);
        assert_eq!(c.offer(ms(start, 4), WINDOW), Offer::Held);
        // Past the window, but a flush is due: this waits for it rather
        // than going ahead of what is held.
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
