//! The Redis backplane's deciders: the threads that run its whole
//! decisions (a join, a leave, a reap, a lease renewal, a polling
//! session's refresh: several scripts or commands, one after another), each on a command connection of its own, so that
//! with Redis a round trip or more away many users join at once instead of
//! one after another. The pipeline's thread hands them what it takes from
//! its queue ([`Deciders::hand`]); a token's decisions always go to the
//! same decider, in the order made, and the pipeline holds back a token's
//! later calls until its decisions in flight are done
//! ([`Deciders::wait_for`]), so nothing of one user overtakes another of
//! theirs. What a decision writes reaches the instance on the subscription,
//! in each room's order, wherever it was decided; a decider hands the feed
//! only what the subscription does not carry: a room's snapshot read for
//! the join that opens it, and a join's refusal.
//!
//! It decides nothing itself: the decision is the backplane's ([`Decider`]).

use std::collections::HashMap;
use std::hash::{Hash, Hasher};
use std::panic::AssertUnwindSafe;
use std::sync::mpsc::{self, SyncSender};
use std::sync::{Arc, Condvar, Mutex};
use std::thread;

use super::feed::{lock, FeedState};
use crate::core::backplane::{JoinRequest, LeftWhy, Logged, PollRecord, ResumeToken};
use crate::core::rules::room_name::RoomName;

/// Decider threads (and connections) of an instance.
pub(super) const DECIDERS: usize = 8;
/// Decisions waiting for each decider at most; past it the pipeline's
/// thread waits, and its own queue (bounded) fills.
const WAITING_PER_DECIDER: usize = 256;

/// A decision of several round trips, run whole by a [`Decider`].
pub(super) enum Whole {
    /// A join, with (`open`) the room's snapshot read first.
    Join { request: JoinRequest, open: bool },
    /// A leave.
    Leave {
        room: RoomName,
        token: ResumeToken,
        why: LeftWhy,
    },
    /// A reap.
    Reap,
    /// Lease renewals.
    Renew {
        tokens: Vec<ResumeToken>,
        ttl_ms: u64,
    },
    /// A polling session's record and lease, refreshed by a poll.
    RefreshPoll {
        poll: String,
        record: PollRecord,
        ttl_ms: u64,
    },
}

impl Whole {
    /// The member it is about, if one: its decider.
    fn token(&self) -> Option<&ResumeToken> {
        match self {
            Whole::Join { request, .. } => Some(&request.token),
            Whole::Leave { token, .. } => Some(token),
            Whole::RefreshPoll { record, .. } => Some(&record.token),
            Whole::Reap | Whole::Renew { .. } => None,
        }
    }

    /// The member whose later calls wait for it: a join's or a leave's
    /// (a poll's refresh changes nothing they depend on).
    fn holds_back(&self) -> Option<&ResumeToken> {
        match self {
            Whole::Join { .. } | Whole::Leave { .. } => self.token(),
            _ => None,
        }
    }
}

/// Runs a whole decision, blocking, on a connection of its own, and
/// answers what to tell the feed besides its entries, in order.
pub(super) type Decider = Box<dyn FnMut(Whole) -> Vec<Logged> + Send>;

/// Tokens with a decision handed to a decider and not done.
#[derive(Default)]
struct Busy {
    tokens: Mutex<HashMap<ResumeToken, usize>>,
    freed: Condvar,
}

/// The decider threads.
pub(super) struct Deciders {
    queues: Vec<SyncSender<Whole>>,
    busy: Arc<Busy>,
}

impl Deciders {
    /// Starts a thread for each of `deciders`, telling `shared`'s
    /// recipient what they answer.
    pub(super) fn start(
        deciders: Vec<Decider>,
        shared: Arc<FeedState>,
    ) -> std::io::Result<Deciders> {
        let busy = Arc::new(Busy::default());
        let mut queues = Vec::with_capacity(deciders.len());
        for (i, mut decider) in deciders.into_iter().enumerate() {
            let (queue, wholes) = mpsc::sync_channel::<Whole>(WAITING_PER_DECIDER);
            let (shared, busy) = (shared.clone(), busy.clone());
            thread::Builder::new()
                .name(format!("parley-redis-decider-{i}"))
                .spawn(move || {
                    while let Ok(whole) = wholes.recv() {
                        let held = whole.holds_back().cloned();
                        // A decision that panics must not leave its member
                        // held back for good: it is dropped, and the
                        // lease and the client's retry take it from there.
                        let told = std::panic::catch_unwind(AssertUnwindSafe(|| decider(whole)))
                            .unwrap_or_default();
                        for told in told {
                            if let Some(deliver) = lock(&shared.deliver).as_ref() {
                                deliver(told);
                            }
                        }
                        if let Some(token) = held {
                            busy.release(&token);
                        }
                    }
                })?;
            queues.push(queue);
        }
        Ok(Deciders { queues, busy })
    }

    /// Hands `whole` to its token's decider (the first for a reap or a
    /// renewal), waiting while that decider has its fill.
    pub(super) fn hand(&self, whole: Whole) {
        let index = match whole.token() {
            Some(token) => {
                let mut hasher = std::collections::hash_map::DefaultHasher::new();
                token.hash(&mut hasher);
                (hasher.finish() % self.queues.len() as u64) as usize
            }
            None => 0,
        };
        let held = whole.holds_back().cloned();
        if let Some(token) = &held {
            *lock(&self.busy.tokens).entry(token.clone()).or_default() += 1;
        }
        if self.queues[index].send(whole).is_err() {
            // The decider's thread is gone: nothing will release it.
            if let Some(token) = held {
                self.busy.release(&token);
            }
        }
    }

    /// Whether `token` has a decision in flight.
    pub(super) fn is_busy(&self, token: &ResumeToken) -> bool {
        lock(&self.busy.tokens).contains_key(token)
    }

    /// Waits until `token` has no decision in flight.
    pub(super) fn wait_for(&self, token: &ResumeToken) {
        let mut tokens = lock(&self.busy.tokens);
        while tokens.contains_key(token) {
            tokens = self
                .busy
                .freed
                .wait(tokens)
                .unwrap_or_else(|e| e.into_inner());
        }
    }
}

impl Busy {
    fn release(&self, token: &ResumeToken) {
        let mut tokens = lock(&self.tokens);
        if let Some(count) = tokens.get_mut(token) {
            *count -= 1;
            if *count == 0 {
                tokens.remove(token);
                crate::core::shrink::when_sparse(&mut tokens);
                self.freed.notify_all();
            }
        }
    }
}
