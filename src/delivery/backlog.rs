//! The byte bounds on what waits for clients, whatever the transport: one
//! per member ([`Backlog`], `--max-outbox-bytes`) and one for the whole
//! server ([`QueuePool`], `--max-queued-bytes`). A backlog is shared by the
//! hub that queues the room's frames for the member
//! ([`crate::delivery::hub`], which reserves their bytes first) and by the
//! transport that hands them to the client and releases the bytes once the
//! client has them: a WebSocket's writer as the socket takes them, a
//! polling session as its client acknowledges them. A reservation that
//! would pass the member's limit marks the reader dropped instead, which is
//! the single "too slow" rule of both transports. The hub and the
//! transport may run on different threads: the counts are atomic.
//!
//! Past the server's bound, room is made by evicting the member with the
//! most bytes waiting (marked dropped, its queue emptied, its transport
//! woken to end it), so the bytes a few clients pin by reading slowly
//! cannot make the server refuse everyone else: what all clients together
//! have queued stays within the pool's limit (plus, while a reservation
//! races another, one frame per thread).
//!
//! A WebSocket's encoded frames wait in the same allocation
//! ([`Waiting`], used by [`crate::delivery::outbox`]): one allocation per
//! connection rather than two, which is 32 bytes of every idle WebSocket.
//! A polling session keeps its frames in its actor and leaves it empty.

use std::collections::{HashMap, VecDeque};
use std::fmt;
use std::sync::atomic::{AtomicBool, AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};
use std::task::Waker;

use bytes::Bytes;
use prometheus::IntCounter;

/// A WebSocket's encoded frames not yet taken by its writer, and the
/// writer's waker.
#[derive(Debug, Default)]
pub(crate) struct Waiting {
    /// The frames, oldest first.
    pub(crate) frames: VecDeque<Bytes>,
    /// Who to wake when frames are queued.
    pub(crate) writer: Option<Waker>,
}

/// Called once if the pool evicts the member: how a polling session, which
/// has no writer to wake, hears of it.
type OnEvict = Box<dyn FnOnce() + Send>;

/// What a member's backlog shares with its pool's registry.
#[derive(Default)]
struct State {
    pending: AtomicUsize,
    dropped: AtomicBool,
    waiting: Mutex<Waiting>,
    on_evict: Mutex<Option<OnEvict>>,
}

impl fmt::Debug for State {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("State")
            .field("pending", &self.pending.load(Ordering::Relaxed))
            .field("dropped", &self.dropped.load(Ordering::Relaxed))
            .finish_non_exhaustive()
    }
}

/// A poisoned lock is usable: every update leaves whole values.
fn lock<T>(mutex: &Mutex<T>) -> MutexGuard<'_, T> {
    mutex
        .lock()
        .unwrap_or_else(|poisoned| poisoned.into_inner())
}

/// The bytes queued to every member of the server together, their bound,
/// and the members to evict from when it is reached.
#[derive(Debug)]
pub(crate) struct QueuePool {
    limit: usize,
    queued: AtomicUsize,
    next_slot: AtomicU64,
    members: Mutex<HashMap<u64, Arc<State>>>,
    evictions: Option<IntCounter>,
}

impl QueuePool {
    /// A pool of `limit` bytes; each eviction is counted in `evictions`.
    pub(crate) fn new(limit: usize, evictions: IntCounter) -> Arc<Self> {
        Arc::new(QueuePool {
            limit,
            queued: AtomicUsize::new(0),
            next_slot: AtomicU64::new(0),
            members: Mutex::new(HashMap::new()),
            evictions: Some(evictions),
        })
    }

    /// A pool without a bound, for backlogs made alone (tests).
    fn unbounded() -> Arc<Self> {
        Arc::new(QueuePool {
            limit: usize::MAX,
            queued: AtomicUsize::new(0),
            next_slot: AtomicU64::new(0),
            members: Mutex::new(HashMap::new()),
            evictions: None,
        })
    }

    /// Bytes queued to all members now.
    pub(crate) fn queued(&self) -> usize {
        self.queued.load(Ordering::Relaxed)
    }

    /// A new member's backlog, counted in this pool and open to eviction.
    pub(crate) fn backlog(self: &Arc<Self>) -> Backlog {
        let state = Arc::new(State::default());
        let slot = self.next_slot.fetch_add(1, Ordering::Relaxed);
        lock(&self.members).insert(slot, Arc::clone(&state));
        Backlog {
            counter: Arc::new(Counter {
                state,
                pool: Arc::clone(self),
                slot: Some(slot),
            }),
        }
    }

    fn take(&self, len: usize) {
        self.queued.fetch_add(len, Ordering::Relaxed);
    }

    fn give_back(&self, len: usize) {
        self.queued.fetch_sub(len, Ordering::Relaxed);
    }

    /// Makes room for `len` more bytes by evicting the members with the
    /// most waiting; false when `asking` holds the most itself (it is the
    /// one to drop).
    fn make_room(&self, len: usize, asking: &Arc<State>) -> bool {
        while self.queued().saturating_add(len) > self.limit {
            let victim = lock(&self.members)
                .values()
                .max_by_key(|member| member.pending.load(Ordering::Relaxed))
                .cloned();
            let Some(victim) = victim else {
                return true;
            };
            if Arc::ptr_eq(&victim, asking) {
                // Dropped by its caller, as any reader past a bound.
                self.count_eviction();
                return false;
            }
            if victim.pending.load(Ordering::Relaxed) == 0 {
                return false;
            }
            self.evict(&victim);
        }
        true
    }

    fn count_eviction(&self) {
        if let Some(evictions) = &self.evictions {
            evictions.inc();
        }
    }

    /// Drops `victim` as a reader: its bytes leave the count, its queued
    /// frames are freed now, and its transport is told.
    fn evict(&self, victim: &State) {
        victim.dropped.store(true, Ordering::Relaxed);
        let had = victim.pending.swap(0, Ordering::Relaxed);
        self.give_back(had);
        self.count_eviction();
        log::warn!("queued bytes at the server's bound; dropping the reader with the most waiting ({had} bytes)");
        let writer = {
            let mut waiting = lock(&victim.waiting);
            waiting.frames = VecDeque::new();
            waiting.writer.take()
        };
        if let Some(writer) = writer {
            writer.wake();
        }
        if let Some(tell) = lock(&victim.on_evict).take() {
            tell();
        }
    }
}

/// One member's count in its pool; leaving the pool gives its bytes back.
#[derive(Debug)]
struct Counter {
    state: Arc<State>,
    pool: Arc<QueuePool>,
    slot: Option<u64>,
}

impl Drop for Counter {
    fn drop(&mut self) {
        if let Some(slot) = self.slot {
            lock(&self.pool.members).remove(&slot);
        }
        let left = self.state.pending.swap(0, Ordering::Relaxed);
        self.pool.give_back(left);
    }
}

/// Bytes queued for one member and not yet taken by its client.
#[derive(Debug, Clone)]
pub(crate) struct Backlog {
    counter: Arc<Counter>,
}

impl Default for Backlog {
    /// A backlog alone, in a pool of its own without a bound.
    fn default() -> Self {
        Backlog {
            counter: Arc::new(Counter {
                state: Arc::default(),
                pool: QueuePool::unbounded(),
                slot: None,
            }),
        }
    }
}

impl Backlog {
    fn state(&self) -> &State {
        &self.counter.state
    }

    /// Bytes queued and not yet taken.
    pub(crate) fn pending(&self) -> usize {
        self.state().pending.load(Ordering::Relaxed)
    }

    /// Reserves `len` bytes unless that would pass `limit`, or the pool's
    /// bound when no member holds more than this one. An empty backlog
    /// takes any one frame, so a single large frame (a resume welcome with
    /// a long history) cannot get its reader dropped on every attempt.
    pub(crate) fn try_reserve(&self, len: usize, limit: usize) -> bool {
        let fits = |pending: usize| pending == 0 || pending + len <= limit;
        if !fits(self.pending()) || !self.counter.pool.make_room(len, &self.counter.state) {
            return false;
        }
        let reserved = self
            .state()
            .pending
            .fetch_update(Ordering::Relaxed, Ordering::Relaxed, |pending| {
                fits(pending).then_some(pending + len)
            })
            .is_ok();
        if reserved {
            self.counter.pool.take(len);
        }
        reserved
    }

    /// Records `len` bytes queued, unconditionally: the transport's own
    /// frames to its client (pings, the close), one per beat at most.
    pub(crate) fn add(&self, len: usize) {
        self.state().pending.fetch_add(len, Ordering::Relaxed);
        self.counter.pool.take(len);
    }

    /// Releases `len` bytes the client has taken. Saturating, so that
    /// bytes an eviction already gave back are not given back twice.
    pub(crate) fn release(&self, len: usize) {
        let before = self
            .state()
            .pending
            .fetch_update(Ordering::Relaxed, Ordering::Relaxed, |pending| {
                Some(pending.saturating_sub(len))
            })
            // unwrap_or: the closure always answers Some.
            .unwrap_or_else(|pending| pending);
        self.counter.pool.give_back(before.min(len));
    }

    /// Marks the reader as dropped for not reading.
    pub(crate) fn drop_reader(&self) {
        self.state().dropped.store(true, Ordering::Relaxed);
    }

    /// Whether the reader was dropped.
    pub(crate) fn is_dropped(&self) -> bool {
        self.state().dropped.load(Ordering::Relaxed)
    }

    /// Has `tell` called if the pool evicts this member (once).
    pub(crate) fn on_evict(&self, tell: impl FnOnce() + Send + 'static) {
        *lock(&self.state().on_evict) = Some(Box::new(tell));
    }

    /// Has the writer's task woken when the reader is dropped, also while
    /// it waits for its socket rather than for frames.
    pub(crate) fn wake_on_drop(&self, writer: &Waker) {
        let mut waiting = lock(self.waiting());
        if !waiting.writer.as_ref().is_some_and(|w| w.will_wake(writer)) {
            waiting.writer = Some(writer.clone());
        }
    }

    /// The frames waiting for a WebSocket's writer.
    pub(crate) fn waiting(&self) -> &Mutex<Waiting> {
        &self.state().waiting
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn pool(limit: usize) -> Arc<QueuePool> {
        QueuePool::new(limit, IntCounter::new("evictions", "evictions").unwrap())
    }

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
    fn releases_saturate_and_own_frames_always_count() {
        let backlog = Backlog::default();
        backlog.add(10);
        backlog.release(25);
        assert_eq!(backlog.pending(), 0);
        backlog.add(2000);
        assert_eq!(backlog.pending(), 2000);
        assert!(!backlog.try_reserve(1, 1000), "own frames count too");
        assert!(!backlog.is_dropped());
        backlog.drop_reader();
        assert!(backlog.clone().is_dropped(), "clones share the state");
    }

    #[test]
    fn the_pool_counts_every_member_and_gets_back_what_leaves() {
        let pool = pool(10_000);
        let a = pool.backlog();
        let b = pool.backlog();
        assert!(a.try_reserve(300, 1000));
        assert!(b.try_reserve(200, 1000));
        b.add(50);
        assert_eq!(pool.queued(), 550);
        a.release(1000);
        assert_eq!(pool.queued(), 250, "a release gives back what was held");
        drop(b);
        assert_eq!(pool.queued(), 0, "a member that ends gives back the rest");
        assert!(lock(&pool.members).len() == 1);
    }

    #[test]
    fn at_the_bound_the_member_with_most_waiting_is_evicted_not_the_asker() {
        let pool = pool(1000);
        let hog = pool.backlog();
        let told = Arc::new(AtomicBool::new(false));
        let flag = Arc::clone(&told);
        hog.on_evict(move || flag.store(true, Ordering::Relaxed));
        let reader = pool.backlog();
        assert!(hog.try_reserve(600, 800));
        assert!(hog.try_reserve(200, 800));
        assert!(reader.try_reserve(100, 800));
        lock(hog.waiting())
            .frames
            .push_back(Bytes::from_static(b"queued"));
        assert!(reader.try_reserve(150, 800), "room is made for the reader");
        assert!(hog.is_dropped() && told.load(Ordering::Relaxed));
        assert!(
            lock(hog.waiting()).frames.is_empty(),
            "its frames are freed"
        );
        assert!(!reader.is_dropped());
        assert_eq!(pool.queued(), 250);
        assert_eq!(pool.evictions.as_ref().unwrap().get(), 1);
        hog.release(800);
        assert_eq!(
            pool.queued(),
            250,
            "what was evicted is not given back twice"
        );
    }

    #[test]
    fn the_member_holding_most_is_refused_itself() {
        let pool = pool(1000);
        let hog = pool.backlog();
        let reader = pool.backlog();
        assert!(reader.try_reserve(100, 2000));
        assert!(hog.try_reserve(900, 2000));
        assert!(!hog.try_reserve(10, 2000));
        assert!(!reader.is_dropped());
        assert_eq!(pool.evictions.as_ref().unwrap().get(), 1, "counted too");
        assert_eq!(pool.queued(), 1000);
    }
}
