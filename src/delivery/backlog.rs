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
//! The server's bound counts memory, not deliveries: each allocation queued
//! for clients (a broadcast's encoding, shared by all its recipients; a
//! polling copy of it; a welcome; a session's own replies) is charged once
//! when it is made, through [`QueuePool::charged`], and given back when its
//! last reference is dropped (the charge is the owner of its `Bytes`). A
//! member's own count ([`Backlog`]) still counts every frame it waits for,
//! so its bound is about what it alone holds back.
//!
//! When an allocation would pass the server's bound, room is made by
//! evicting the members with the most bytes waiting (each marked dropped,
//! its queue emptied, its transport woken to end it), so the bytes a few
//! clients pin by reading slowly cannot make the server refuse everyone
//! else. An evicted polling session frees its frames when its actor handles
//! the end, a moment later.
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
    /// What it held when evicted, counted as on its way out of the pool
    /// until the member ends.
    evicted: AtomicUsize,
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

/// The bytes of every allocation queued for the server's clients, their
/// bound, and the members to evict from when it is reached.
#[derive(Debug)]
pub(crate) struct QueuePool {
    limit: usize,
    queued: AtomicUsize,
    /// Bytes held by evicted members that have not ended yet: freed as
    /// their transports let go, so not a reason to evict more.
    leaving: AtomicUsize,
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
            leaving: AtomicUsize::new(0),
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
            leaving: AtomicUsize::new(0),
            next_slot: AtomicU64::new(0),
            members: Mutex::new(HashMap::new()),
            evictions: None,
        })
    }

    /// Bytes of the allocations queued for clients now.
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

    /// `bytes`, a new allocation for `asking`'s client, counted for as long
    /// as the returned `Bytes` or a clone of it lives, once room is made
    /// for it; `None` when `asking` holds the most itself (it is the one to
    /// drop).
    pub(crate) fn charged<T>(self: &Arc<Self>, bytes: T, asking: &Backlog) -> Option<Bytes>
    where
        T: AsRef<[u8]> + Send + 'static,
    {
        let len = bytes.as_ref().len();
        if !self.make_room(len, &asking.counter.state) {
            return None;
        }
        Some(self.charge(bytes, len))
    }

    /// As [`Self::charged`] for bytes already allowed for: a session's own
    /// replies, each checked against its member's bound when queued.
    pub(crate) fn charged_anyway<T>(self: &Arc<Self>, bytes: T) -> Bytes
    where
        T: AsRef<[u8]> + Send + 'static,
    {
        let len = bytes.as_ref().len();
        self.charge(bytes, len)
    }

    fn charge<T>(self: &Arc<Self>, bytes: T, len: usize) -> Bytes
    where
        T: AsRef<[u8]> + Send + 'static,
    {
        self.queued.fetch_add(len, Ordering::Relaxed);
        Bytes::from_owner(Charged {
            bytes,
            _charge: Charge {
                pool: Arc::clone(self),
                len,
            },
        })
    }

    fn give_back(&self, len: usize) {
        self.queued.fetch_sub(len, Ordering::Relaxed);
    }

    /// Makes room for `len` more bytes by evicting the members with the
    /// most waiting, until what the evicted members still hold covers the
    /// excess (it is freed as their transports let go of it); false when
    /// `asking` holds the most itself.
    fn make_room(&self, len: usize, asking: &Arc<State>) -> bool {
        loop {
            let excess = (self.queued() + len).saturating_sub(self.limit);
            if excess <= self.leaving.load(Ordering::Relaxed) {
                return true;
            }
            let victim = lock(&self.members)
                .values()
                .filter(|member| !member.dropped.load(Ordering::Relaxed))
                .max_by_key(|member| member.pending.load(Ordering::Relaxed))
                .cloned();
            let Some(victim) = victim else {
                return true;
            };
            if Arc::ptr_eq(&victim, asking) {
                // Its caller drops it too, as any reader past a bound.
                self.evict(&victim);
                return false;
            }
            if victim.pending.load(Ordering::Relaxed) == 0 {
                return true;
            }
            self.evict(&victim);
        }
    }

    fn count_eviction(&self) {
        if let Some(evictions) = &self.evictions {
            evictions.inc();
        }
    }

    /// Drops `victim` as a reader: its queued frames are freed now (and
    /// their bytes with them, unless others still wait for them), and its
    /// transport is told.
    fn evict(&self, victim: &State) {
        victim.dropped.store(true, Ordering::Relaxed);
        let had = victim.pending.swap(0, Ordering::Relaxed);
        victim.evicted.store(had, Ordering::Relaxed);
        self.leaving.fetch_add(had, Ordering::Relaxed);
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

/// Bytes counted in a pool until dropped.
#[derive(Debug)]
struct Charge {
    pool: Arc<QueuePool>,
    len: usize,
}

impl Drop for Charge {
    fn drop(&mut self) {
        self.pool.give_back(self.len);
    }
}

/// An allocation and its charge: the owner of a charged `Bytes`, dropped
/// with its last clone.
struct Charged<T> {
    bytes: T,
    _charge: Charge,
}

impl<T: AsRef<[u8]>> AsRef<[u8]> for Charged<T> {
    fn as_ref(&self) -> &[u8] {
        self.bytes.as_ref()
    }
}

/// One member's place in its pool's registry, left when the member ends.
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
        let left = self.state.evicted.swap(0, Ordering::Relaxed);
        self.pool.leaving.fetch_sub(left, Ordering::Relaxed);
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

    /// The pool its member's allocations are charged to.
    pub(crate) fn pool(&self) -> &Arc<QueuePool> {
        &self.counter.pool
    }

    /// Reserves `len` bytes unless that would pass `limit`. An empty
    /// backlog takes any one frame, so a single large frame (a resume
    /// welcome with a long history) cannot get its reader dropped on every
    /// attempt.
    pub(crate) fn try_reserve(&self, len: usize, limit: usize) -> bool {
        self.state()
            .pending
            .fetch_update(Ordering::Relaxed, Ordering::Relaxed, |pending| {
                (pending == 0 || pending + len <= limit).then_some(pending + len)
            })
            .is_ok()
    }

    /// Records `len` bytes queued, unconditionally: the transport's own
    /// frames to its client (pings, the close), one per beat at most.
    pub(crate) fn add(&self, len: usize) {
        self.state().pending.fetch_add(len, Ordering::Relaxed);
    }

    /// Releases `len` bytes the client has taken. Saturating: an eviction
    /// zeroes the count while the writer may still hold some.
    pub(crate) fn release(&self, len: usize) {
        let _ =
            self.state()
                .pending
                .fetch_update(Ordering::Relaxed, Ordering::Relaxed, |pending| {
                    Some(pending.saturating_sub(len))
                });
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
    fn an_allocation_is_counted_once_until_its_last_clone_is_dropped() {
        let pool = pool(10_000);
        let reader = pool.backlog();
        let frame = pool.charged(vec![0u8; 300], &reader).unwrap();
        let copies: Vec<Bytes> = (0..5).map(|_| frame.clone()).collect();
        assert_eq!(pool.queued(), 300, "shared by six, counted once");
        drop(frame);
        assert_eq!(pool.queued(), 300);
        drop(copies);
        assert_eq!(pool.queued(), 0);
        let own = pool.charged_anyway(Bytes::from_static(b"pong"));
        assert_eq!(pool.queued(), 4);
        drop((own, reader));
        assert_eq!(pool.queued(), 0);
        assert!(lock(&pool.members).is_empty(), "a member that ends leaves");
    }

    #[test]
    fn at_the_bound_the_member_with_most_waiting_is_evicted_not_the_asker() {
        let pool = pool(1000);
        let hog = pool.backlog();
        let told = Arc::new(AtomicBool::new(false));
        let flag = Arc::clone(&told);
        hog.on_evict(move || flag.store(true, Ordering::Relaxed));
        let reader = pool.backlog();
        let held = pool.charged(vec![0u8; 800], &hog).unwrap();
        assert!(hog.try_reserve(800, 2000));
        lock(hog.waiting()).frames.push_back(held);
        let small = pool.charged(vec![0u8; 100], &reader).unwrap();
        assert!(reader.try_reserve(100, 2000));
        let next = pool.charged(vec![0u8; 150], &reader);
        assert!(next.is_some(), "room is made for the reader");
        assert!(hog.is_dropped() && told.load(Ordering::Relaxed));
        assert!(
            lock(hog.waiting()).frames.is_empty(),
            "its frames are freed"
        );
        assert!(!reader.is_dropped());
        assert_eq!(pool.queued(), 250, "the hog's bytes went with its frames");
        assert_eq!(pool.evictions.as_ref().unwrap().get(), 1);
        drop((small, next));
    }

    #[test]
    fn the_member_holding_most_is_refused_itself() {
        let pool = pool(1000);
        let hog = pool.backlog();
        let reader = pool.backlog();
        let _small = pool.charged(vec![0u8; 100], &reader).unwrap();
        assert!(reader.try_reserve(100, 2000));
        let _big = pool.charged(vec![0u8; 900], &hog).unwrap();
        assert!(hog.try_reserve(900, 2000));
        assert!(pool.charged(vec![0u8; 10], &hog).is_none());
        assert!(!reader.is_dropped());
        assert_eq!(pool.evictions.as_ref().unwrap().get(), 1, "counted too");
    }
}
