//! Write coalescing: frames to a busy connection on a saturated thread are
//! held back briefly and written together. Most of what a delivery costs
//! the server is the write itself (the system call and the TCP send path,
//! on loopback also the receiver's side of it), whatever the frame's size,
//! and waking the task that writes is most of the rest; several frames per
//! wakeup and per write cost little more than one (measured in
//! docs/BENCHMARKS.md, "CPU per delivery and write coalescing").
//!
//! Holding a frame saves CPU only when the CPU is short, so the rule is
//! driven by load, as uWebSockets corks per event-loop turn: a frame waits
//! only while its thread is saturated. The thread's hub
//! ([`crate::delivery::hub`]) sees saturation as the room's orders waiting
//! in its mailbox ([`Saturation`]): when they waited more than the lag
//! (`--saturation-lag-ms`, 2 ms by default), the thread has more to do
//! than it can do at once, and stays counted as saturated for one window
//! after. A lag of zero counts it saturated always: a fixed window. On a thread that is
//! not saturated every frame is written at once, whatever its connection's
//! rate: the writer runs after the hub's turn and writes everything queued
//! by then in one go, so frames that arrive together still share a write.
//!
//! On a saturated thread, per connection: a connection is busy while its
//! frames come less than a quarter of the window apart (more than 200 a
//! second with the default 20 ms). A quiet connection's frame is written
//! at once; holding it would batch nothing. A busy connection's frames wait
//! in its outbox, and its writer is woken at the flush, one window after
//! the first frame held, to write everything queued in one go: about one
//! write per window however fast frames come, and no frame waits longer
//! than the window (`--coalesce-ms`, an upper bound, not the usual delay).
//! Frames keep their order: they are queued at once; only the writer's
//! wakeup waits. Pure: no actix; the caller passes the clock.

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

    /// Decides for frames queued at `now`, with a window of `window`, on a
    /// thread that is `saturated` or not.
    pub(crate) fn offer(&mut self, now: Instant, window: Duration, saturated: bool) -> Offer {
        let busy = now < self.quiet_from;
        self.quiet_from = now + window / 4;
        if self.held {
            Offer::Held
        } else if busy && saturated {
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

/// Whether a thread is saturated: its hub notes how long each message of
/// orders waited.
#[derive(Debug)]
pub(crate) struct Saturation {
    until: Instant,
}

impl Saturation {
    /// A thread not saturated.
    pub(crate) fn new(now: Instant) -> Self {
        Saturation { until: now }
    }

    /// Orders sent at `sent` are handled at `now`: past `lag` (or always,
    /// with a lag of zero), the thread counts as saturated for a `window`
    /// from now. Answers whether this started a saturated spell.
    ///
    /// An idle thread handles orders within microseconds; a thread busy
    /// with one large room's broadcast (a thousand writes) may take a
    /// millisecond or two, and one such burst alone is no reason to hold
    /// frames: the default lag is 2 ms.
    pub(crate) fn note(
        &mut self,
        sent: Instant,
        now: Instant,
        lag: Duration,
        window: Duration,
    ) -> bool {
        if !lag.is_zero() && now.saturating_duration_since(sent) <= lag {
            return false;
        }
        let started = now >= self.until;
        self.until = now + window;
        started
    }

    /// Whether frames queued at `now` may be held.
    pub(crate) fn at(&self, now: Instant) -> bool {
        now < self.until
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const WINDOW: Duration = Duration::from_millis(20);
    const LAG: Duration = Duration::from_millis(2);

    fn ms(start: Instant, ms: u64) -> Instant {
        start + Duration::from_millis(ms)
    }

    #[test]
    fn frames_a_quarter_window_apart_are_written_at_once() {
        let start = Instant::now();
        let mut c = Coalescing::new(start);
        for at in [0, 5, 10, 30, 100] {
            assert_eq!(
                c.offer(ms(start, at), WINDOW, true),
                Offer::Now,
                "at {at} ms"
            );
        }
    }

    #[test]
    fn closer_frames_on_a_saturated_thread_wait_for_one_flush() {
        let start = Instant::now();
        let mut c = Coalescing::new(start);
        assert_eq!(c.offer(start, WINDOW, true), Offer::Now);
        assert_eq!(c.offer(ms(start, 2), WINDOW, true), Offer::Hold);
        assert_eq!(c.offer(ms(start, 4), WINDOW, true), Offer::Held);
        // However long the wait, a frame queued while held waits for the
        // flush rather than waking the writer a second time, even once the
        // thread is no longer saturated.
        assert_eq!(c.offer(ms(start, 15), WINDOW, false), Offer::Held);
        assert!(c.release());
        // Still busy after the flush: the next frame waits for another.
        assert_eq!(c.offer(ms(start, 17), WINDOW, true), Offer::Hold);
        assert!(c.release());
        // Quiet again: at once.
        assert_eq!(c.offer(ms(start, 40), WINDOW, true), Offer::Now);
    }

    #[test]
    fn on_a_thread_not_saturated_close_frames_go_at_once() {
        let start = Instant::now();
        let mut c = Coalescing::new(start);
        for at in [0, 1, 2, 3] {
            assert_eq!(
                c.offer(ms(start, at), WINDOW, false),
                Offer::Now,
                "at {at} ms"
            );
        }
        // Saturated now, and the connection busy: held.
        assert_eq!(c.offer(ms(start, 4), WINDOW, true), Offer::Hold);
    }

    #[test]
    fn orders_that_waited_saturate_the_thread_for_a_window() {
        let start = Instant::now();
        let mut s = Saturation::new(start);
        assert!(!s.at(start));
        // Handled within the lag: nothing changes.
        assert!(!s.note(start, start + LAG, LAG, WINDOW));
        assert!(!s.at(start + LAG));
        // Waited longer: saturated for a window from when it was handled.
        let late = ms(start, 10);
        assert!(s.note(start, late, LAG, WINDOW), "a spell starts");
        assert!(s.at(late) && s.at(late + WINDOW - Duration::from_millis(1)));
        assert!(!s.at(late + WINDOW));
        // Within the spell, another late one extends it but starts none.
        assert!(!s.note(ms(start, 9), ms(start, 20), LAG, WINDOW));
        assert!(s.at(ms(start, 20) + WINDOW - Duration::from_millis(1)));
        // Orders stamped after they were handled (clocks of two threads
        // read in the other order) count as not waiting.
        assert!(!s.note(ms(start, 100), ms(start, 99), LAG, WINDOW));
    }

    #[test]
    fn a_zero_lag_counts_the_thread_saturated_always() {
        let start = Instant::now();
        let mut s = Saturation::new(start);
        assert!(s.note(start, start, Duration::ZERO, WINDOW));
        assert!(s.at(start));
    }

    #[test]
    fn a_flush_with_nothing_held_is_nothing() {
        let start = Instant::now();
        let mut c = Coalescing::new(start);
        assert!(!c.release());
        assert_eq!(c.offer(start, WINDOW, true), Offer::Now);
    }

    #[test]
    fn a_zero_window_never_holds() {
        let start = Instant::now();
        let mut c = Coalescing::new(start);
        for _ in 0..5 {
            assert_eq!(c.offer(start, Duration::ZERO, true), Offer::Now);
        }
    }
}
