//! The WebSocket heartbeat: one timer per worker thread instead of one per
//! connection. A timer of its own (`run_interval`) cost every session about
//! 150 bytes for as long as it lived (docs/BENCHMARKS.md, "Memory per idle
//! WebSocket"). Here each thread's sessions are spread over [`SLICES`]
//! groups, and every `HEARTBEAT_INTERVAL / SLICES` one group is sent a
//! [`Beat`], so each session still hears one beat per
//! [`HEARTBEAT_INTERVAL`] and the pings are spread over the interval rather
//! than sent all at once. What a beat does is the session's business: this
//! file knows sessions only as recipients of [`Beat`].

use std::cell::RefCell;

use std::time::Duration;

use actix::prelude::*;
use actix::WeakRecipient;

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

#[derive(Default)]
struct Groups {
    groups: Vec<Vec<WeakRecipient<Beat>>>,
    /// Where the next session goes.
    next: usize,
}

thread_local! {
    /// This thread's sessions; `None` until the first one joins, which
    /// starts the thread's timer.
    static SESSIONS: RefCell<Option<Groups>> = const { RefCell::new(None) };
}

/// Gives a session its beat, from the thread it runs on. A session that
/// stops is dropped from its group at its next turn.
pub(crate) fn join(session: WeakRecipient<Beat>) {
    SESSIONS.with(|sessions| {
        let mut sessions = sessions.borrow_mut();
        let sessions = sessions.get_or_insert_with(|| {
            actix_rt::spawn(tick());
            Groups {
                groups: (0..SLICES).map(|_| Vec::new()).collect(),
                next: 0,
            }
        });
        let slot = sessions.next;
        sessions.groups[slot].push(session);
        sessions.next = (slot + 1) % sessions.groups.len();
    });
}

/// The thread's timer: beats one group per tick, forever (it ends with the
/// thread's runtime).
async fn tick() {
    let mut ticks = actix_rt::time::interval(HEARTBEAT_INTERVAL / SLICES);
    let mut group = 0;
    loop {
        ticks.tick().await;
        SESSIONS.with(|sessions| {
            if let Some(sessions) = sessions.borrow_mut().as_mut() {
                sessions.groups[group].retain(|session| match session.upgrade() {
                    Some(session) => {
                        session.do_send(Beat);
                        true
                    }
                    None => false,
                });
                group = (group + 1) % sessions.groups.len();
            }
        });
    }
}
