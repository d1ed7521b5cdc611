//! The WebSocket heartbeat: one timer per worker thread instead of one per
//! connection. A timer of its own (`run_interval`) cost every session about
//! 150 bytes for as long as it lived (docs/BENCHMARKS.md, "Memory per idle
//! WebSocket"). Here each thread's sessions are spread over [`SLICES`]
//! groups, and every `HEARTBEAT_INTERVAL / SLICES` one group is sent a
//! [`Beat`], so each session still hears one beat per
//! [`HEARTBEAT_INTERVAL`] and the pings are spread over the interval rather
//! than sent all at once. What a beat does is the session's business: this
//! file does not know the session type. The session keeps the thread-local
//! [`Groups`] of its own handles (a `WeakAddr`, 8 bytes, where a type-erased
//! recipient would cost every idle connection 24) and says how to beat one.

use std::cell::RefCell;
use std::thread::LocalKey;
use std::time::Duration;

use actix::prelude::*;

/// How often the server pings an idle peer.
pub(crate) const HEARTBEAT_INTERVAL: Duration = Duration::from_secs(5);

/// A peer silent this long is dropped. At least twice
/// [`HEARTBEAT_INTERVAL`], so one lost pong does not drop a live peer.
pub(crate) const CLIENT_TIMEOUT: Duration = Duration::from_secs(15);

/// How many groups a thread's sessions are spread over.
pub(crate) const SLICES: u32 = 50;

/// A session's turn: time to check the peer and ping it.
#[derive(Message)]
#[rtype(result = "()")]
pub(crate) struct Beat;

/// One thread's sessions, spread over [`SLICES`] groups.
pub(crate) struct Groups<T> {
    groups: Vec<Vec<T>>,
    /// Where the next session goes.
    next: usize,
}

/// Where a thread keeps its [`Groups`]; `None` until the first session
/// joins, which starts the thread's timer.
pub(crate) type Sessions<T> = LocalKey<RefCell<Option<Groups<T>>>>;

/// Gives `session` its beat, from the thread it runs on: `beat` is called
/// with it once per [`HEARTBEAT_INTERVAL`] and answers whether the session
/// is still there (one that is not is dropped from its group).
pub(crate) fn join<T: 'static>(sessions: &'static Sessions<T>, session: T, beat: fn(&T) -> bool) {
    sessions.with(|cell| {
        let mut cell = cell.borrow_mut();
        let groups = cell.get_or_insert_with(|| {
            actix_rt::spawn(tick(sessions, beat));
            Groups {
                groups: (0..SLICES).map(|_| Vec::new()).collect(),
                next: 0,
            }
        });
        let slot = groups.next;
        groups.groups[slot].push(session);
        groups.next = (slot + 1) % groups.groups.len();
    });
}

/// The thread's timer: beats one group per tick, forever (it ends with the
/// thread's runtime).
async fn tick<T: 'static>(sessions: &'static Sessions<T>, beat: fn(&T) -> bool) {
    let mut ticks = actix_rt::time::interval(HEARTBEAT_INTERVAL / SLICES);
    let mut group = 0;
    loop {
        ticks.tick().await;
        sessions.with(|cell| {
            if let Some(groups) = cell.borrow_mut().as_mut() {
                groups.groups[group].retain(beat);
                group = (group + 1) % groups.groups.len();
            }
        });
    }
}
