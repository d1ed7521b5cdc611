//! The Redis backplane's pipelined calls: `say` and `typing`, the calls
//! that come in bursts, are not run on the ChatRoom's thread but queued to
//! a thread of their own with a connection of its own, which sends every
//! call waiting in the queue as one pipeline and reads the replies in
//! order. The ChatRoom goes on at once; with Redis a round trip away, many
//! messages share each round trip instead of waiting for one each.
//!
//! Order is kept: calls leave the queue in the order they were made, Redis
//! runs a connection's commands in the order sent, and the command path
//! (`redis.rs`) waits for the queue to empty ([`Pipeline::drain`]) before
//! any call of its own, so a `leave` cannot overtake a `say` sent before
//! it. Answers go back through the backplane's feed: the entries a script
//! wrote (so the sender is acknowledged as its message is applied, as with
//! an embedded store), or [`Logged::Answered`] for a resend or a
//! refusal. While Redis is unreachable every call in a batch is refused as
//! degraded; the client resends it with the same ref, which cannot log it
//! twice.
//!
//! Decisions of several round trips (a join, a leave, a reap, a lease
//! renewal: [`Whole`]) are queued the same way and handed, once every call
//! queued before them has its reply, to the deciders (`deciders.rs`),
//! which run them whole on connections of their own: the ChatRoom never
//! waits for those either. A call of a member with a decision in flight
//! waits for it, so each member's calls are decided in the order made.
//!
//! It must not decide anything itself: what a reply means is the script's,
//! and a whole decision is the backplane's.

use std::collections::HashMap;
use std::sync::atomic::Ordering;
use std::sync::mpsc::{self, Receiver, SyncSender, TrySendError};
use std::sync::{Arc, Condvar, Mutex};
use std::thread;
use std::time::{Duration, Instant};

use redis::{RedisError, RedisResult, Value};

use super::deciders::{Decider, Deciders, Whole};
use super::feed::{lock, FeedState};
use super::link::{NotReady, Slot, Target};
use super::nodes::NodeMap;
use super::scripts::{Op, Scripts};
use super::wire::{decode_batch, unreadable};
use super::{breaks_link, IO_TIMEOUT};
use crate::core::backplane::{Entry, Logged, Refusal, ResumeToken};
use crate::core::rules::room_name::RoomName;
use crate::protocol::ErrorCode;

/// Calls queued at most: past it a `say` (or a join) is refused as busy,
/// to be resent. Each holds one message at most (`--max-message-chars`),
/// a join's request, or a renewal's tokens (few of those are queued at
/// once: `MAX_RENEWALS_QUEUED`), so the queue's bytes are bounded by this
/// times the largest message, plus the renewals.
pub(super) const MAX_QUEUED: usize = 4_096;
/// Calls sent in one pipeline at most.
const MAX_BATCH: usize = 512;

/// What is queued: a call sent in a pipeline, or a whole decision.
pub(super) enum Queued {
    Call(Call),
    Whole(Whole),
}

/// What a pipelined call is, and who hears its answer.
pub(super) enum Call {
    /// A message: `args` are the say script's, `key` its room's.
    Say {
        room: RoomName,
        key: String,
        token: ResumeToken,
        reference: Option<String>,
        args: Vec<String>,
    },
    /// A typing change.
    Typing {
        room: RoomName,
        key: String,
        token: ResumeToken,
        args: Vec<String>,
    },
}

impl Call {
    fn op(&self) -> Op {
        match self {
            Call::Say { .. } => Op::Say,
            Call::Typing { .. } => Op::Typing,
        }
    }

    /// The member who made it.
    fn token(&self) -> &ResumeToken {
        match self {
            Call::Say { token, .. } | Call::Typing { token, .. } => token,
        }
    }

    /// A key of the room's slot, which routes the script in a cluster.
    fn key(&self) -> &str {
        match self {
            Call::Say { key, .. } | Call::Typing { key, .. } => key,
        }
    }

    fn args(&self) -> Vec<&str> {
        match self {
            Call::Say { args, .. } | Call::Typing { args, .. } => {
                args.iter().map(String::as_str).collect()
            }
        }
    }
}

/// Calls queued or being sent, which [`Pipeline::drain`] waits on.
#[derive(Default)]
struct InFlight {
    count: Mutex<usize>,
    emptied: Condvar,
}

/// The queue of pipelined calls and its thread.
pub(super) struct Pipeline {
    queue: SyncSender<Queued>,
    in_flight: Arc<InFlight>,
}

impl Pipeline {
    /// Starts the thread, on its own connection to `client`'s Redis,
    /// handing answers to `shared`'s recipient, and a thread for each of
    /// `deciders`, which run the whole decisions.
    pub(super) fn start(
        target: Target,
        scripts: Scripts,
        shared: Arc<FeedState>,
        deciders: Vec<Decider>,
    ) -> std::io::Result<Pipeline> {
        let (queue, calls) = mpsc::sync_channel(MAX_QUEUED);
        let in_flight = Arc::new(InFlight::default());
        let deciders = Deciders::start(deciders, shared.clone())?;
        let worker = Worker {
            target,
            scripts,
            shared,
            conn: Slot::new(None),
            nodes: None,
            in_flight: in_flight.clone(),
            deciders,
        };
        thread::Builder::new()
            .name("parley-redis-pipeline".into())
            .spawn(move || worker.run(calls))?;
        Ok(Pipeline { queue, in_flight })
    }

    /// Queues `call`; refused when the queue is full or its thread ended.
    /// Only pipelined calls are waited on by [`Pipeline::drain`]: a whole
    /// decision keeps its order per member on its decider, and nothing
    /// synchronous needs another member's join done first.
    pub(super) fn submit(&self, call: Queued) -> Result<(), Refusal> {
        let counted = usize::from(matches!(call, Queued::Call(_)));
        *lock(&self.in_flight.count) += counted;
        match self.queue.try_send(call) {
            Ok(()) => Ok(()),
            Err(err) => {
                self.in_flight.done(counted);
                Err(match err {
                    TrySendError::Full(_) => {
                        let mut refusal = Refusal::new(
                            ErrorCode::RateLimited,
                            "the server is busy; retry in a moment",
                        );
                        refusal.retry_ms = Some(100);
                        refusal
                    }
                    TrySendError::Disconnected(_) => Refusal::degraded(),
                })
            }
        }
    }

    /// Waits until every pipelined call queued so far has been answered, at most
    /// a little over two command timeouts (a batch's send and its reply).
    pub(super) fn drain(&self) {
        let deadline = Instant::now() + IO_TIMEOUT * 2 + Duration::from_millis(100);
        let mut count = lock(&self.in_flight.count);
        while *count > 0 {
            let left = deadline.saturating_duration_since(Instant::now());
            if left.is_zero() {
                return;
            }
            count = self
                .in_flight
                .emptied
                .wait_timeout(count, left)
                .unwrap_or_else(|e| e.into_inner())
                .0;
        }
    }
}

impl InFlight {
    fn done(&self, calls: usize) {
        let mut count = lock(&self.count);
        *count = count.saturating_sub(calls);
        if *count == 0 {
            self.emptied.notify_all();
        }
    }
}

/// The pipeline's thread.
struct Worker {
    target: Target,
    scripts: Scripts,
    shared: Arc<FeedState>,
    /// The pipeline's own connection (none while Redis is unreachable).
    conn: Slot,
    /// On a cluster, the node serving each slot, read on `conn` once it
    /// is open and again after a MOVED reply.
    nodes: Option<NodeMap>,
    in_flight: Arc<InFlight>,
    deciders: Deciders,
}

impl Worker {
    /// Sends what is queued, a batch at a time, until the backplane (the
    /// queue's sender) is dropped.
    fn run(mut self, calls: Receiver<Queued>) {
        while let Ok(first) = calls.recv() {
            let mut batch = vec![first];
            while batch.len() < MAX_BATCH {
                match calls.try_recv() {
                    Ok(call) => batch.push(call),
                    Err(_) => break,
                }
            }
            // Calls up to a whole decision go as one pipeline, answered
            // before the decision is handed on (its decider counts it
            // done); a call of a member with a decision in flight waits
            // for it.
            let mut piped = Vec::new();
            for queued in batch {
                match queued {
                    Queued::Call(call) => {
                        if self.deciders.is_busy(call.token()) {
                            self.flush(std::mem::take(&mut piped));
                            self.deciders.wait_for(call.token());
                        }
                        piped.push(call);
                    }
                    Queued::Whole(whole) => {
                        self.flush(std::mem::take(&mut piped));
                        self.deciders.hand(whole);
                    }
                }
            }
            self.flush(piped);
        }
    }

    /// Sends `calls` as a pipeline and hands on their answers.
    fn flush(&mut self, calls: Vec<Call>) {
        if calls.is_empty() {
            return;
        }
        let sent = calls.len();
        let replies = self.send(&calls);
        for (call, reply) in calls.into_iter().zip(replies) {
            self.answer(call, reply);
        }
        // Only now: a drain that returns has every answer in the feed.
        self.in_flight.done(sent);
    }

    /// One reply per call. A cluster routes a pipeline by its first
    /// command's key, so there the calls of each node go as a pipeline of
    /// their own, in order (each room's calls, before the node map is
    /// known); one server takes the whole batch at once.
    fn send(&mut self, batch: &[Call]) -> Vec<Result<Value, Refusal>> {
        let groups: Vec<Vec<usize>> = match self.target {
            Target::Single(_) => vec![(0..batch.len()).collect()],
            Target::Cluster { .. } => {
                if self.nodes.is_none() {
                    if let Some(conn) = self.conn.get() {
                        self.nodes = NodeMap::read(&mut **conn).ok();
                    }
                }
                let mut at: HashMap<Result<usize, &str>, usize> = HashMap::new();
                let mut groups: Vec<Vec<usize>> = Vec::new();
                for (i, call) in batch.iter().enumerate() {
                    let node = self.nodes.as_ref().and_then(|n| n.node_of(call.key()));
                    let group = *at.entry(node.ok_or(call.key())).or_insert_with(|| {
                        groups.push(Vec::new());
                        groups.len() - 1
                    });
                    groups[group].push(i);
                }
                groups
            }
        };
        let mut replies: Vec<Option<Result<Value, Refusal>>> = batch.iter().map(|_| None).collect();
        for group in groups {
            let calls: Vec<&Call> = group.iter().map(|&i| &batch[i]).collect();
            for (i, reply) in group.into_iter().zip(self.send_group(&calls)) {
                replies[i] = Some(reply);
            }
        }
        replies
            .into_iter()
            .map(|reply| reply.unwrap_or_else(|| Err(Refusal::degraded())))
            .collect()
    }

    /// One reply per call of one pipeline: the replies, or the same failure
    /// for every call when Redis could not be reached.
    fn send_group(&mut self, calls: &[&Call]) -> Vec<Result<Value, Refusal>> {
        let replies = match self.pipeline(calls) {
            Ok(replies) => replies,
            Err(refusal) => return calls.iter().map(|_| Err(refusal.clone())).collect(),
        };
        // Calls that did not run, to send again: Redis lost the scripts (a
        // restart, SCRIPT FLUSH), or a slot moved (or the node map is
        // stale) and a node that does not serve it answered MOVED. Neither
        // ran anything, so sending again cannot run anything twice.
        let not_run = |test: fn(&RedisError) -> bool| -> Vec<usize> {
            (replies.iter().enumerate())
                .filter(|(_, reply)| matches!(reply, Err(e) if test(e)))
                .map(|(i, _)| i)
                .collect()
        };
        let lost = not_run(is_noscript);
        let moved = not_run(is_moved);
        let mut replies: Vec<Result<Value, Refusal>> = replies
            .into_iter()
            .map(|reply| match reply {
                Err(e) if is_noscript(&e) || is_moved(&e) => Err(Refusal::degraded()),
                reply => reply.map_err(|e| unreadable("reply", e)),
            })
            .collect();
        // Each moved call goes again alone, which the cluster connection
        // routes by its own key, and the map is read again.
        if !moved.is_empty() {
            self.nodes = None;
            for i in moved {
                replies[i] = self
                    .pipeline(&[calls[i]])
                    .and_then(|mut resent| resent.pop().ok_or_else(Refusal::degraded))
                    .and_then(|reply| reply.map_err(|e| unreadable("reply", e)));
            }
        }
        if !lost.is_empty() {
            let again: Vec<&Call> = lost.iter().map(|&i| calls[i]).collect();
            let resent = self.reload().and_then(|()| self.pipeline(&again));
            for (n, &i) in lost.iter().enumerate() {
                replies[i] = match &resent {
                    Ok(resent) => match &resent[n] {
                        Ok(value) => Ok(value.clone()),
                        Err(e) => Err(unreadable("reply", e)),
                    },
                    Err(refusal) => Err(refusal.clone()),
                };
            }
        }
        replies
    }

    /// Loads the scripts again on the connection.
    fn reload(&mut self) -> Result<(), Refusal> {
        let Some(conn) = self.conn.get() else {
            return Err(Refusal::degraded());
        };
        match self.scripts.load(&mut **conn) {
            Ok(()) => Ok(()),
            Err(e) => Err(self.failed(&e)),
        }
    }

    /// Sends `calls` as one pipeline on the connection, opening it first
    /// when it is time to: each call's reply, or a refusal of them all.
    fn pipeline(&mut self, calls: &[&Call]) -> Result<Vec<RedisResult<Value>>, Refusal> {
        // Sent as one packed write and read back in order: a cluster
        // connection routes it by its first command's key (every call of a
        // group is of one node), and unlike `redis::pipe` it takes scripts.
        let mut packed = Vec::new();
        for call in calls {
            packed.extend(
                self.scripts
                    .command(call.op(), call.key(), &call.args())
                    .get_packed_command(),
            );
        }
        // A connection left idle through an outage (Redis restarted while
        // the command path noticed) would fail the batch: the slot opens a
        // new one, whose cluster may have moved its slots.
        let outages = self.shared.outages.load(Ordering::SeqCst);
        let conn = match self.conn.ready(&self.target, outages) {
            Ok((conn, fresh)) => {
                if fresh {
                    self.nodes = None;
                }
                conn
            }
            Err(NotReady::Waiting) => return Err(Refusal::degraded()),
            Err(NotReady::Failed(e)) => return Err(self.failed(&e)),
        };
        let replies: RedisResult<Vec<RedisResult<Value>>> = conn
            .req_packed_commands(&packed, 0, calls.len())
            .map(|values| {
                values
                    .into_iter()
                    .map(|value| match value {
                        Value::ServerError(error) => Err(error.into()),
                        value => Ok(value),
                    })
                    .collect()
            });
        match replies {
            Ok(replies) if replies.len() == calls.len() => {
                self.shared.set(&self.shared.command_down, false);
                Ok(replies)
            }
            Ok(_) => {
                // A reply count that does not match leaves the connection
                // out of step: drop it.
                self.conn.close();
                Err(Refusal::degraded())
            }
            Err(e) => Err(self.failed(&e)),
        }
    }

    fn failed(&mut self, error: &RedisError) -> Refusal {
        self.conn.failed(breaks_link(error));
        if !self.shared.command_down.load(Ordering::SeqCst) {
            log::warn!("redis backplane: pipelined calls failed: {error}");
        }
        self.shared.set(&self.shared.command_down, true);
        Refusal::degraded()
    }

    /// Hands one call's answer to the feed's recipient.
    fn answer(&self, call: Call, reply: Result<Value, Refusal>) {
        let told = match (call, reply) {
            (Call::Typing { .. }, Ok(value)) => entries_of(value).map(Logged::Entries),
            (Call::Typing { room, token, .. }, Err(refusal)) => Some(Logged::Answered {
                room,
                token,
                reference: None,
                answer: Err(refusal),
            }),
            (
                Call::Say {
                    room,
                    token,
                    reference,
                    ..
                },
                reply,
            ) => Some(
                match reply.map_or_else(|refusal| Said::Answered(Err(refusal)), said) {
                    Said::Logged(entries) => Logged::Entries(entries),
                    Said::Answered(answer) => Logged::Answered {
                        room,
                        token,
                        reference,
                        answer,
                    },
                },
            ),
        };
        if let Some(told) = told {
            self.tell(told);
        }
    }

    /// Hands `told` to the feed's recipient.
    fn tell(&self, told: Logged) {
        if let Logged::Entries(entries) = &told {
            // The seqs the next join must pass, as for the command path's.
            if let Some(top) = entries.iter().map(|e| e.seq).max() {
                self.shared.high_water.fetch_max(top, Ordering::SeqCst);
            }
        }
        if let Some(deliver) = lock(&self.shared.deliver).as_ref() {
            deliver(told);
        }
    }
}

fn is_noscript(error: &RedisError) -> bool {
    error.code() == Some("NOSCRIPT")
}

fn is_moved(error: &RedisError) -> bool {
    error.code() == Some("MOVED")
}

/// What a say script's reply means.
enum Said {
    /// It logged the message: these entries.
    Logged(Vec<Entry>),
    /// It wrote nothing: the id already logged, or why not.
    Answered(Result<u64, Refusal>),
}

/// Reads a say script's `{status, payload}` reply.
fn said(value: Value) -> Said {
    let (status, payload) = match redis::from_redis_value::<(String, String)>(value) {
        Ok(reply) => reply,
        Err(e) => return Said::Answered(Err(unreadable("say answer", e))),
    };
    match status.as_str() {
        "not_joined" => Said::Answered(Err(Refusal::new(ErrorCode::NotJoined, "not in a room"))),
        "dup" => Said::Answered(payload.parse().map_err(|e| unreadable("message id", e))),
        _ => match decode_batch(&payload) {
            Ok(entries) => Said::Logged(entries),
            Err(e) => Said::Answered(Err(unreadable("entries", e))),
        },
    }
}

/// The entries of a typing script's `{'ok', entries}` reply; none when it
/// cannot be read (logged).
fn entries_of(value: Value) -> Option<Vec<Entry>> {
    let (_, payload) = redis::from_redis_value::<(String, String)>(value)
        .map_err(|e| unreadable("typing answer", e))
        .ok()?;
    decode_batch(&payload)
        .map_err(|e| unreadable("entries", e))
        .ok()
}
