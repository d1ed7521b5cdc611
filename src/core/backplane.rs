//! The backplane: the one place where a chat's cluster-wide decisions are
//! made and its ordered log is kept. Every change to a room (someone joins,
//! leaves, renames, types or says something) is decided here, atomically,
//! and written as an [`Entry`] with a sequence number; every instance then
//! applies the entries of the rooms it mirrors in that order, so all of them
//! show the same room in the same order with the same message ids.
//!
//! The room core (`chat_core.rs`) talks only to the [`Backplane`] trait and
//! does not know which implementation it has: [`memory::MemoryBackplane`]
//! for a single instance (the default; pure, so it lives here in the core)
//! or `RedisBackplane` (`src/backplane/redis.rs`, the I/O side) for many
//! instances sharing a Redis server. Calls return at once: the in-memory
//! one decides them there and then; the Redis one queues those that may be
//! answered later through the feed (`say`, `typing`, `join_later`,
//! `leave_later`, `reap`, `renew`) to a thread of its own, and runs the rest
//! (snapshots, reads, renames, polling sessions' calls) as round trips on
//! the caller's thread. Entries written by other instances reach the ChatRoom as
//! [`Logged`] messages; the entries a call wrote are also returned by it, so
//! the instance that made a change applies it without waiting for the echo.

pub(crate) mod memory;

use std::sync::Arc;

use serde::{Deserialize, Serialize};

pub(crate) use crate::core::history::Page;
use crate::core::ids::MemberId;
pub(crate) use crate::core::ids::ResumeToken;
use crate::core::rules::nickname::Nickname;
use crate::core::rules::room_name::RoomName;
use crate::protocol::{ChatMessage, ErrorCode};

/// Entries of a room's log kept for catching up, beyond its history.
pub(crate) const LOG_TAIL: usize = 1_024;

/// Which connection on which instance asked for a join, so that instance
/// (and only it) answers with the welcome.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub(crate) struct Origin {
    /// The instance's random id, fixed for its life.
    pub(crate) node: Arc<str>,
    /// The connection there.
    pub(crate) member: MemberId,
}

/// Why someone left a room.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub(crate) enum LeftWhy {
    /// They sent `leave`.
    Left,
    /// They joined another room.
    Moved,
    /// Their connection closed or their polling session was closed.
    Gone,
    /// Their lease lapsed: a polling session not polled within its grace,
    /// or a user of an instance that stopped renewing (it crashed).
    Expired,
    /// They stopped reading and were cut off.
    Dropped,
}

/// One change to a room, as written to its log.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "e", rename_all = "snake_case")]
pub(crate) enum Event {
    /// Someone entered the room, or (`resumed`) took their place back on a
    /// new connection, which nobody else is told about.
    Joined {
        /// Their token.
        token: ResumeToken,
        /// Their nickname.
        nick: String,
        /// Members after the change.
        count: usize,
        /// The connection that asked, to be welcomed.
        origin: Origin,
        /// The joiner's resume cursor, for the welcome's history.
        since: Option<u64>,
        /// A take-over of the token's own place.
        resumed: bool,
    },
    /// Someone left.
    Left {
        /// Their token.
        token: ResumeToken,
        /// Their nickname.
        nick: String,
        /// Members after the change.
        count: usize,
        /// Why.
        why: LeftWhy,
    },
    /// Someone changed nickname.
    Renamed {
        /// Their token.
        token: ResumeToken,
        /// Before.
        old: String,
        /// After.
        new: String,
    },
    /// Someone started or stopped typing.
    Typing {
        /// Their token.
        token: ResumeToken,
        /// Their nickname.
        nick: String,
        /// On or off.
        on: bool,
    },
    /// A message, with the sender's token and `ref` so that the sender's
    /// connection, wherever it is, can be sent the `ack`.
    Message {
        /// The sender's token.
        token: ResumeToken,
        /// The sender's `ref`.
        #[serde(rename = "ref")]
        reference: Option<String>,
        /// The message as everyone sees it, one allocation shared by the
        /// log, the histories and the frames.
        message: Arc<ChatMessage>,
    },
}

impl Event {
    /// The member the event is about.
    pub(crate) fn token(&self) -> &ResumeToken {
        match self {
            Event::Joined { token, .. }
            | Event::Left { token, .. }
            | Event::Renamed { token, .. }
            | Event::Typing { token, .. }
            | Event::Message { token, .. } => token,
        }
    }
}

/// One logged change.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Entry {
    /// Position in the room's order: increasing within the room and along
    /// each member's own entries (a join is numbered past what its
    /// instance has seen), not necessarily across rooms (the Redis
    /// backplane counts per room), and not consecutive.
    pub(crate) seq: u64,
    /// The seq of the room's previous entry (0 for its first), so a gap in
    /// what an instance received is seen at once.
    pub(crate) prev: u64,
    /// The room.
    pub(crate) room: RoomName,
    /// The change.
    pub(crate) event: Event,
}

/// Entries written elsewhere, in order, for the ChatRoom to apply.
#[derive(Debug)]
pub(crate) enum Logged {
    /// New entries of mirrored rooms.
    Entries(Vec<Entry>),
    /// The backplane was lost (`true`) or is back (`false`).
    Degraded(bool),
    /// The answer to a `say` or `typing` decided after the call returned
    /// (a pipelined backplane, `redis/pipeline.rs`), when it wrote nothing:
    /// the id of the message this (token, ref) already logged (a resend),
    /// or why the call was refused. A call that logged is answered by its
    /// entries alone, as an embedded store's `say` is.
    Answered {
        /// The call's room: the sender's, when it made the call.
        room: RoomName,
        /// The sender's token.
        token: ResumeToken,
        /// The client's ref, if it gave one (a say's).
        reference: Option<String>,
        /// The logged message's id (a say's resend), or the refusal.
        answer: Result<u64, Refusal>,
    },
    /// The snapshot of a room a [`Backplane::join_later`] asked to open,
    /// read before the join was decided: the mirror starts from it, and
    /// the join's entries follow.
    Opened {
        /// The room.
        room: RoomName,
        /// Its state.
        snapshot: Snapshot,
    },
    /// A join asked with [`Backplane::join_later`] was refused. A join
    /// that was taken is answered by its entries alone.
    Refused {
        /// The room asked for.
        room: RoomName,
        /// The joining connection, on this instance.
        member: MemberId,
        /// Why.
        refusal: Refusal,
    },
}

/// Where a backplane hands what it hears from other instances: a callback,
/// so that the core knows no actor (the ChatRoom passes one that posts to
/// its mailbox).
pub(crate) type LogFeed = Box<dyn Fn(Logged) + Send>;

/// A decision the backplane refused.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Refusal {
    /// The error code for the client.
    pub(crate) code: ErrorCode,
    /// The explanation.
    pub(crate) message: String,
    /// When to retry, if it makes sense to.
    pub(crate) retry_ms: Option<u64>,
}

impl Refusal {
    /// A refusal with no retry hint.
    pub(crate) fn new(code: ErrorCode, message: impl Into<String>) -> Self {
        Refusal {
            code,
            message: message.into(),
            retry_ms: None,
        }
    }

    /// The refusal every call gets while the backplane is unreachable.
    pub(crate) fn degraded() -> Self {
        Refusal {
            code: ErrorCode::Degraded,
            message: "the chat is degraded: its store cannot be reached or written; retry shortly"
                .into(),
            retry_ms: Some(1_000),
        }
    }
}

/// A member as a snapshot lists them.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct SnapshotMember {
    /// Their token.
    pub(crate) token: ResumeToken,
    /// Their nickname.
    pub(crate) nick: String,
    /// Their place in the join order.
    pub(crate) order: u64,
}

/// A room's state at one point of its log, to start a mirror from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Snapshot {
    /// The room's incarnation.
    pub(crate) epoch: String,
    /// The seq of the room's newest entry (0 when none).
    pub(crate) seq: u64,
    /// Id of the newest message (0 when none).
    pub(crate) last_id: u64,
    /// Members, in any order.
    pub(crate) members: Vec<SnapshotMember>,
    /// The most recent messages kept, oldest first.
    pub(crate) history: Vec<Arc<ChatMessage>>,
}

/// A join to decide.
#[derive(Debug, Clone)]
pub(crate) struct JoinRequest {
    /// The room.
    pub(crate) room: RoomName,
    /// The nickname asked for.
    pub(crate) nick: Nickname,
    /// The token the member will have.
    pub(crate) token: ResumeToken,
    /// Who asked.
    pub(crate) origin: Origin,
    /// The joiner's resume cursor.
    pub(crate) since: Option<u64>,
    /// Most members the room may hold.
    pub(crate) max_members: usize,
    /// The member's lease starts now, for this long: a member never exists
    /// without one, even if its instance dies before it first renews.
    pub(crate) lease_ms: u64,
}

/// What a `say` did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Said {
    /// The message id (the original one for a resend).
    pub(crate) id: u64,
    /// The entries written: none for a resend, and none from a backplane
    /// that hands its own entries back through the feed once they are
    /// durable (the embedded store).
    pub(crate) entries: Vec<Entry>,
    /// This (token, ref) was already logged: nothing was written, and the
    /// sender is acknowledged again with the original id. Said explicitly,
    /// since no entries no longer means a resend.
    pub(crate) resend: bool,
}

/// What the embedded store reports for `/metrics`.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub(crate) struct StoreStats {
    /// The data file's size, bytes.
    pub(crate) bytes: u64,
    /// Messages retention deleted since the start.
    pub(crate) swept_messages: u64,
    /// Empty rooms deleted since the start.
    pub(crate) swept_rooms: u64,
}

/// Where a polling session's member is, so any instance can serve it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub(crate) struct PollRecord {
    /// The member's token.
    pub(crate) token: ResumeToken,
    /// The room it is in, if any.
    pub(crate) room: Option<String>,
}

/// The operations that must be atomic across the cluster.
pub(crate) trait Backplane: Send {
    /// Decides a join: the nickname must be free in the room (or held by
    /// this token, when resuming) and the room not full.
    fn join(&mut self, request: JoinRequest) -> Result<Vec<Entry>, Refusal>;
    /// Whether [`Self::join_later`] decides later: a pipelined backplane
    /// queues joins (and leaves) to a thread of its own.
    fn decides_later(&self) -> bool {
        false
    }
    /// Queues a join, for a backplane that [`Self::decides_later`]: its
    /// entries come through the feed once written, or
    /// [`Logged::Refused`]. With `open` (the caller does not mirror the
    /// room yet) the room's snapshot is read first and comes through the
    /// feed as [`Logged::Opened`] before them; a refused snapshot refuses
    /// the join. One that decides at once decides it as [`Self::join`].
    fn join_later(&mut self, request: JoinRequest, _open: bool) -> Result<Vec<Entry>, Refusal> {
        self.join(request)
    }
    /// Takes a member out of a room (nothing when it is not there).
    fn leave(
        &mut self,
        room: &RoomName,
        token: &ResumeToken,
        why: LeftWhy,
    ) -> Result<Vec<Entry>, Refusal>;
    /// Takes a member out of a room as [`Self::leave`] does, or queues it
    /// and returns at once with no entries (a pipelined backplane), the
    /// entries coming through the feed.
    fn leave_later(
        &mut self,
        room: &RoomName,
        token: &ResumeToken,
        why: LeftWhy,
    ) -> Result<Vec<Entry>, Refusal> {
        self.leave(room, token, why)
    }
    /// Renames a member, if the nickname is free in its room.
    fn rename(
        &mut self,
        room: &RoomName,
        token: &ResumeToken,
        nick: &Nickname,
    ) -> Result<Vec<Entry>, Refusal>;
    /// Logs a typing change. A pipelined backplane returns no entries and
    /// hands them to its feed once written.
    fn typing(
        &mut self,
        room: &RoomName,
        token: &ResumeToken,
        on: bool,
    ) -> Result<Vec<Entry>, Refusal>;
    /// Numbers and logs a message, unless this (token, ref) was already
    /// logged: then the original id is returned and nothing is written. A
    /// pipelined backplane returns at once with no entries and `resend`
    /// false, and answers later through its feed: the entry once written,
    /// or [`Logged::Answered`].
    fn say(
        &mut self,
        room: &RoomName,
        token: &ResumeToken,
        text: String,
        reference: Option<String>,
        now_ms: u64,
    ) -> Result<Said, Refusal>;
    /// The room's state now, to start mirroring it.
    fn snapshot(&mut self, room: &RoomName) -> Result<Snapshot, Refusal>;
    /// A page of the room's history for a client paging back: the newest
    /// `limit` kept messages whose id is below `before`, oldest first, and
    /// whether a kept message is older than the first of them. Only reads:
    /// an unknown room, or a `before` at or below the oldest kept id, is an
    /// empty page with `more: false`. Validating `before` and `limit`, the
    /// byte bound and the rate are the core's; this answers any values (a
    /// `before` past the newest id reads from the newest, a `limit` of 0 is
    /// an empty page). Refused only when the backplane is unreachable.
    fn before(&mut self, room: &RoomName, before: u64, limit: usize) -> Result<Page, Refusal>;
    /// The room's kept entries after `after`, in order. `None` when entries
    /// after `after` are no longer kept.
    fn read(&mut self, room: &RoomName, after: u64) -> Result<Option<Vec<Entry>>, Refusal>;
    /// Waits until every call made so far is decided. For a sender that
    /// must not overtake its own messages: a polling session, whose next
    /// request may reach another instance. A backplane that decides each
    /// call as it is made has nothing to wait for.
    fn wait_decided(&mut self) {}
    /// Extends these members' leases by `ttl_ms` from now (a pipelined
    /// backplane may queue it).
    fn renew(&mut self, tokens: &[ResumeToken], ttl_ms: u64) -> Result<(), Refusal>;
    /// Takes members whose lease lapsed out of their rooms. A pipelined
    /// backplane queues it (once at a time) and hands the entries to the
    /// feed.
    fn reap(&mut self) -> Result<Vec<Entry>, Refusal>;
    /// Records where a polling session's member is.
    fn save_poll(&mut self, poll: &str, record: &PollRecord, ttl_ms: u64) -> Result<(), Refusal>;
    /// A polling session was polled: its record and its member's lease
    /// last `ttl_ms` more. A pipelined backplane queues it; the record
    /// does not change here (a join or leave that changes it saves it at
    /// once, after whatever was queued).
    fn refresh_poll(&mut self, poll: &str, record: &PollRecord, ttl_ms: u64) {
        let _ = self.save_poll(poll, record, ttl_ms);
        let _ = self.renew(std::slice::from_ref(&record.token), ttl_ms);
    }
    /// Where a polling session's member is, if the session is known.
    fn find_poll(&mut self, poll: &str) -> Result<Option<PollRecord>, Refusal>;
    /// Forgets a polling session.
    fn drop_poll(&mut self, poll: &str) -> Result<(), Refusal>;
    /// Starts sending the ChatRoom, as [`Logged`], the entries other
    /// instances write to watched rooms and the backplane's health changes;
    /// the in-memory backplane has nobody else to hear from.
    fn subscribe(&mut self, _to: LogFeed) {}
    /// Rooms the ChatRoom mirrors, whose entries it must be sent.
    fn watch(&mut self, _room: &RoomName, _on: bool) {}
    /// Bytes of history this process holds for the backplane (the
    /// in-memory one's histories; Redis keeps its own).
    fn history_bytes(&self) -> usize {
        0
    }
    /// Whether the backplane is reachable now.
    fn healthy(&self) -> bool {
        true
    }
    /// The file's size and what retention deleted, for a backplane that
    /// keeps a file (the embedded store).
    fn store_stats(&self) -> Option<StoreStats> {
        None
    }
    /// Tries to reach the backplane again if it was lost (nothing else may
    /// call it while degraded); answers whether it is reachable now.
    fn probe(&mut self) -> bool {
        self.healthy()
    }
}
