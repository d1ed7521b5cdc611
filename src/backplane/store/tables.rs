//! The embedded store's tables in its redb file, and the only code that
//! reads or writes rows: committing a batch of log entries, trimming a
//! room's log tail, and loading every room back at start. Values are JSON
//! (serde), keys are (room, number) tuples so a room's rows are one
//! ordered range. The writer thread (`writer.rs`) decides when to commit
//! and how durably; this file must not hold threads or the feed.
//!
//! Tables:
//! - `meta`: `seq` → the newest entry's seq, cluster-wide (here: store-wide);
//!   `format` → [`FORMAT`].
//! - `rooms`: room → `{"epoch","last_id","last_seq","joins"}`.
//! - `members`: (room, token) → `{"nick","order"}`: who holds which
//!   nickname, kept as joins, leaves and renames are committed.
//! - `polls`: polling session → `{"token","until"}`, so a polling client
//!   goes on with its session after a restart.
//! - `messages`: (room, message id) → `{"seq","m","token","ref"}`: every
//!   message, with who sent it under which ref (resends after a restart
//!   get their original id).
//! - `log`: (room, seq) → `{"prev","ev"}`, or `{"prev","msg"}` for a
//!   message, which names its row in `messages` rather than holding it
//!   twice: every entry of the room's log, trimmed to its newest `log_cap`
//!   now and then.

use std::collections::HashMap;
use std::sync::Arc;

use redb::{Database, Durability, ReadableDatabase, ReadableTable, TableDefinition};
use serde::{Deserialize, Serialize};

use crate::core::backplane::memory::{RestoredMember, RestoredPoll, RestoredRoom};
use crate::core::backplane::{Entry, Event, ResumeToken};
use crate::core::rules::room_name::RoomName;
use crate::protocol::ChatMessage;

/// Version of the rows' layout, written once; a file of another version
/// is refused at start rather than misread.
pub(super) const FORMAT: u64 = 1;

pub(super) const META: TableDefinition<&str, u64> = TableDefinition::new("meta");
pub(super) const ROOMS: TableDefinition<&str, &str> = TableDefinition::new("rooms");
pub(super) const MESSAGES: TableDefinition<(&str, u64), &str> = TableDefinition::new("messages");
pub(super) const LOG: TableDefinition<(&str, u64), &str> = TableDefinition::new("log");
pub(super) const MEMBERS: TableDefinition<(&str, &str), &str> = TableDefinition::new("members");
pub(super) const POLLS: TableDefinition<&str, &str> = TableDefinition::new("polls");

/// The page cache redb may fill (its default is 1 GiB): the store's term
/// in DEPLOY.md's memory formula. Writes only need the pages they touch,
/// and reads come from the in-memory backplane, not from the file.
pub(super) const CACHE_BYTES: usize = 64 * 1024 * 1024;

/// Opens (creating it if missing) the file at `path` with the cache bound.
pub(super) fn open(path: &std::path::Path) -> Result<Database, redb::DatabaseError> {
    Database::builder().set_cache_size(CACHE_BYTES).create(path)
}

/// A failure of the store, described for a log line.
pub(super) type Failure = String;

pub(super) fn failed(what: &str) -> impl Fn(&dyn std::fmt::Display) -> Failure + '_ {
    move |e| format!("{what}: {e}")
}

#[derive(Debug, Serialize, Deserialize)]
pub(super) struct RoomRow {
    pub(super) epoch: String,
    pub(super) last_id: u64,
    pub(super) last_seq: u64,
    /// Joins seen: the order the next member gets.
    #[serde(default)]
    pub(super) joins: u64,
    /// When an entry was last written (ms since the Unix epoch), for
    /// `--empty-room-days`; missing in files from before it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub(super) at: Option<u64>,
}

#[derive(Debug, Serialize, Deserialize)]
struct MemberRow {
    nick: String,
    order: u64,
}

#[derive(Debug, Serialize, Deserialize)]
pub(super) struct MessageRow {
    pub(super) seq: u64,
    pub(super) m: Arc<ChatMessage>,
    token: String,
    #[serde(default, rename = "ref", skip_serializing_if = "Option::is_none")]
    reference: Option<String>,
}

/// A log row: the event, or for a message the id of its `messages` row.
#[derive(Debug, Serialize, Deserialize)]
struct LogRow {
    prev: u64,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    ev: Option<Event>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    msg: Option<u64>,
}

#[derive(Debug, Serialize, Deserialize)]
struct PollRow {
    token: String,
    until: u64,
}

/// A change to the polling sessions kept.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(super) enum PollChange {
    /// A new session, its member and its expiry (ms since the Unix
    /// epoch): synced with `--fsync always`.
    Open(String, ResumeToken, u64),
    /// A session polled again: its later expiry (not synced on its own).
    Renew(String, ResumeToken, u64),
    /// The session ended.
    Drop(String),
}

/// Entries decided together, with the epoch of each room they touch, and
/// changes to polling sessions.
#[derive(Debug, Default)]
pub(super) struct Batch {
    /// The entries, in seq order.
    pub(super) entries: Vec<Entry>,
    /// Each room's epoch as the decisions saw it.
    pub(super) epochs: HashMap<RoomName, String>,
    /// Polling sessions saved or dropped, in order.
    pub(super) polls: Vec<PollChange>,
}

/// Writes `batch` in one transaction, synced to disk before this returns
/// when `durable`. A room whose stored epoch differs (it was forgotten
/// and made anew) loses its old rows first. Answers the rooms written.
pub(super) fn commit(db: &Database, batch: &Batch, durable: bool) -> Result<(), Failure> {
    let mut txn = db.begin_write().map_err(|e| failed("begin")(&e))?;
    let durability = if durable {
        Durability::Immediate
    } else {
        Durability::None
    };
    txn.set_durability(durability)
        .map_err(|e| failed("durability")(&e))?;
    {
        let mut meta = txn.open_table(META).map_err(|e| failed("meta")(&e))?;
        let mut rooms = txn.open_table(ROOMS).map_err(|e| failed("rooms")(&e))?;
        let mut messages = txn
            .open_table(MESSAGES)
            .map_err(|e| failed("messages")(&e))?;
        let mut log = txn.open_table(LOG).map_err(|e| failed("log")(&e))?;
        let mut members = txn.open_table(MEMBERS).map_err(|e| failed("members")(&e))?;
        let mut polls = txn.open_table(POLLS).map_err(|e| failed("polls")(&e))?;
        for change in &batch.polls {
            match change {
                PollChange::Open(poll, token, until) | PollChange::Renew(poll, token, until) => {
                    let row = serde_json::to_string(&PollRow {
                        token: token.to_string(),
                        until: *until,
                    })
                    .map_err(|e| failed("encode")(&e))?;
                    polls
                        .insert(poll.as_str(), row.as_str())
                        .map_err(|e| failed("write poll")(&e))?;
                }
                PollChange::Drop(poll) => {
                    polls
                        .remove(poll.as_str())
                        .map_err(|e| failed("forget poll")(&e))?;
                }
            }
        }
        let mut heads: HashMap<&RoomName, RoomRow> = HashMap::new();
        for (room, epoch) in &batch.epochs {
            let stored = rooms
                .get(room.as_str())
                .map_err(|e| failed("read room")(&e))?
                .map(|row| serde_json::from_str::<RoomRow>(row.value()))
                .transpose()
                .map_err(|e| failed("room row")(&e))?;
            let head = match stored {
                Some(row) if row.epoch == *epoch => row,
                stale => {
                    if stale.is_some() {
                        let all = (room.as_str(), 0)..=(room.as_str(), u64::MAX);
                        messages
                            .retain_in(all.clone(), |_, _| false)
                            .map_err(|e| failed("forget messages")(&e))?;
                        log.retain_in(all, |_, _| false)
                            .map_err(|e| failed("forget log")(&e))?;
                        let mut tokens = Vec::new();
                        for row in members
                            .range((room.as_str(), "")..)
                            .map_err(|e| failed("read members")(&e))?
                        {
                            let (key, _) = row.map_err(|e| failed("read members")(&e))?;
                            let (in_room, token) = key.value();
                            if in_room != room.as_str() {
                                break;
                            }
                            tokens.push(token.to_owned());
                        }
                        for token in tokens {
                            members
                                .remove((room.as_str(), token.as_str()))
                                .map_err(|e| failed("forget member")(&e))?;
                        }
                    }
                    RoomRow {
                        epoch: epoch.clone(),
                        last_id: 0,
                        last_seq: 0,
                        joins: 0,
                        at: None,
                    }
                }
            };
            heads.insert(room, head);
        }
        for entry in &batch.entries {
            let room = entry.room.as_str();
            let row = serde_json::to_string(&match &entry.event {
                Event::Message { message, .. } => LogRow {
                    prev: entry.prev,
                    ev: None,
                    msg: Some(message.id),
                },
                event => LogRow {
                    prev: entry.prev,
                    ev: Some(event.clone()),
                    msg: None,
                },
            })
            .map_err(|e| failed("encode")(&e))?;
            log.insert((room, entry.seq), row.as_str())
                .map_err(|e| failed("write log")(&e))?;
            let head = heads.entry(&entry.room).or_insert_with(|| RoomRow {
                epoch: String::new(),
                last_id: 0,
                last_seq: 0,
                joins: 0,
                at: None,
            });
            head.last_seq = entry.seq;
            match &entry.event {
                Event::Joined {
                    token,
                    nick,
                    resumed: false,
                    ..
                } => {
                    head.joins += 1;
                    let row = serde_json::to_string(&MemberRow {
                        nick: nick.clone(),
                        order: head.joins,
                    })
                    .map_err(|e| failed("encode")(&e))?;
                    members
                        .insert((room, &**token), row.as_str())
                        .map_err(|e| failed("write member")(&e))?;
                }
                Event::Left { token, .. } => {
                    members
                        .remove((room, &**token))
                        .map_err(|e| failed("forget member")(&e))?;
                }
                Event::Renamed { token, new, .. } => {
                    let order = members
                        .get((room, &**token))
                        .map_err(|e| failed("read member")(&e))?
                        .map(|row| serde_json::from_str::<MemberRow>(row.value()))
                        .transpose()
                        .map_err(|e| failed("member row")(&e))?
                        .map(|row| row.order);
                    if let Some(order) = order {
                        let row = serde_json::to_string(&MemberRow {
                            nick: new.clone(),
                            order,
                        })
                        .map_err(|e| failed("encode")(&e))?;
                        members
                            .insert((room, &**token), row.as_str())
                            .map_err(|e| failed("write member")(&e))?;
                    }
                }
                _ => {}
            }
            if let Event::Message {
                token,
                reference,
                message,
            } = &entry.event
            {
                let row = serde_json::to_string(&MessageRow {
                    seq: entry.seq,
                    m: message.clone(),
                    token: token.to_string(),
                    reference: reference.clone(),
                })
                .map_err(|e| failed("encode")(&e))?;
                messages
                    .insert((room, message.id), row.as_str())
                    .map_err(|e| failed("write message")(&e))?;
                head.last_id = message.id;
            }
        }
        let now = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(0, |d| d.as_millis() as u64);
        for (room, mut head) in heads {
            head.at = Some(now);
            let row = serde_json::to_string(&head).map_err(|e| failed("encode")(&e))?;
            rooms
                .insert(room.as_str(), row.as_str())
                .map_err(|e| failed("write room")(&e))?;
        }
        if let Some(last) = batch.entries.last() {
            meta.insert("seq", last.seq)
                .map_err(|e| failed("write seq")(&e))?;
        }
        meta.insert("format", FORMAT)
            .map_err(|e| failed("write format")(&e))?;
    }
    txn.commit().map_err(|e| failed("commit")(&e))
}

/// Deletes the polling sessions that expired before `now_ms` (not synced:
/// an expired row is skipped at load anyway).
pub(super) fn expire_polls(db: &Database, now_ms: u64) -> Result<(), Failure> {
    let mut txn = db.begin_write().map_err(|e| failed("begin")(&e))?;
    txn.set_durability(Durability::None)
        .map_err(|e| failed("durability")(&e))?;
    {
        let mut polls = txn.open_table(POLLS).map_err(|e| failed("polls")(&e))?;
        polls
            .retain(|_, row| {
                serde_json::from_str::<PollRow>(row).is_ok_and(|row| row.until > now_ms)
            })
            .map_err(|e| failed("expire polls")(&e))?;
    }
    txn.commit().map_err(|e| failed("commit")(&e))
}

/// Makes everything committed so far durable (an empty commit synced).
pub(super) fn sync(db: &Database) -> Result<(), Failure> {
    let mut txn = db.begin_write().map_err(|e| failed("begin")(&e))?;
    txn.set_durability(Durability::Immediate)
        .map_err(|e| failed("durability")(&e))?;
    txn.commit().map_err(|e| failed("commit")(&e))
}

/// Deletes the log rows of `room` older than its newest `keep`, in a
/// transaction of its own (not synced: losing a trim loses nothing).
pub(super) fn trim_log(db: &Database, room: &RoomName, keep: usize) -> Result<(), Failure> {
    let mut txn = db.begin_write().map_err(|e| failed("begin")(&e))?;
    txn.set_durability(Durability::None)
        .map_err(|e| failed("durability")(&e))?;
    {
        let mut log = txn.open_table(LOG).map_err(|e| failed("log")(&e))?;
        let all = (room.as_str(), 0)..=(room.as_str(), u64::MAX);
        let cutoff = log
            .range(all)
            .map_err(|e| failed("read log")(&e))?
            .rev()
            .nth(keep)
            .transpose()
            .map_err(|e| failed("read log")(&e))?
            .map(|(key, _)| key.value().1);
        if let Some(cutoff) = cutoff {
            log.retain_in((room.as_str(), 0)..=(room.as_str(), cutoff), |_, _| false)
                .map_err(|e| failed("trim log")(&e))?;
        }
    }
    txn.commit().map_err(|e| failed("commit")(&e))
}

/// What a store keeps: the newest seq, every room and the polling sessions
/// not expired.
pub(super) type Loaded = (u64, Vec<RestoredRoom>, Vec<RestoredPoll>);

/// How much history [`load`] brings into memory: the bounds the
/// in-memory backplane holds it to, applied while reading, so that
/// starting on a file far bigger than memory never holds more than them.
#[derive(Debug, Clone, Copy)]
pub(super) struct LoadBounds {
    /// Messages per room (`--history-size`).
    pub(super) history: usize,
    /// Log entries per room.
    pub(super) log_cap: usize,
    /// Bytes of history per room (`--max-room-history-bytes`).
    pub(super) room_bytes: usize,
    /// Bytes of history in all (`--max-history-bytes`): the rooms written
    /// to most recently get theirs first.
    pub(super) all_bytes: usize,
}

/// Everything kept: the newest seq, every room, each with its newest
/// messages and log entries within `bounds`, and the polling sessions
/// that had not expired by `now_ms`. A room's log tail stops at the first
/// message not loaded, so it shares every message with the history. A file
/// written in another [`FORMAT`] is refused.
pub(super) fn load(db: &Database, bounds: LoadBounds, now_ms: u64) -> Result<Loaded, Failure> {
    let txn = db.begin_read().map_err(|e| failed("begin")(&e))?;
    let meta = match txn.open_table(META) {
        Ok(meta) => meta,
        // A new file: nothing kept yet.
        Err(redb::TableError::TableDoesNotExist(_)) => return Ok((0, Vec::new(), Vec::new())),
        Err(e) => return Err(failed("meta")(&e)),
    };
    let get = |key: &str| -> Result<Option<u64>, Failure> {
        Ok(meta
            .get(key)
            .map_err(|e| failed("read meta")(&e))?
            .map(|v| v.value()))
    };
    if let Some(format) = get("format")?.filter(|&f| f != FORMAT) {
        return Err(format!(
            "the store was written in format {format}; this Parley reads format {FORMAT}"
        ));
    }
    let seq = get("seq")?.unwrap_or(0);
    let rooms = txn.open_table(ROOMS).map_err(|e| failed("rooms")(&e))?;
    let messages = txn
        .open_table(MESSAGES)
        .map_err(|e| failed("messages")(&e))?;
    let log = txn.open_table(LOG).map_err(|e| failed("log")(&e))?;
    let members = txn.open_table(MEMBERS).map_err(|e| failed("members")(&e))?;
    let mut restored = Vec::new();
    let mut heads = Vec::new();
    for row in rooms.range(..).map_err(|e| failed("read rooms")(&e))? {
        let (name, row) = row.map_err(|e| failed("read rooms")(&e))?;
        let Ok(name) = RoomName::parse(name.value()) else {
            log::warn!("store: skipping a room of invalid name {:?}", name.value());
            continue;
        };
        let head: RoomRow =
            serde_json::from_str(row.value()).map_err(|e| failed("room row")(&e))?;
        heads.push((name, head));
    }
    // The most recently written rooms first, as the in-memory backplane
    // evicts the least recent first.
    heads.sort_by_key(|(_, head)| std::cmp::Reverse(head.last_seq));
    let mut budget = bounds.all_bytes;
    for (name, head) in heads {
        let all = (name.as_str(), 0)..=(name.as_str(), u64::MAX);
        let mut kept = Vec::new();
        let mut room_budget = bounds.room_bytes.min(budget);
        // The newest messages by id, for the log rows that name them: the
        // log and the history then share each message's allocation.
        let mut by_id: HashMap<u64, (Arc<ChatMessage>, ResumeToken, Option<String>)> =
            HashMap::new();
        for row in messages
            .range(all.clone())
            .map_err(|e| failed("read messages")(&e))?
            .rev()
            .take(bounds.history)
        {
            let (_, row) = row.map_err(|e| failed("read messages")(&e))?;
            let row: MessageRow =
                serde_json::from_str(row.value()).map_err(|e| failed("message row")(&e))?;
            let cost = crate::core::history::cost(&row.m);
            // The newest message is always kept, as the history keeps it.
            if cost > room_budget && !kept.is_empty() {
                break;
            }
            room_budget = room_budget.saturating_sub(cost);
            budget = budget.saturating_sub(cost);
            let token = ResumeToken::from(row.token);
            let origin = row
                .reference
                .clone()
                .map(|reference| (token.clone(), reference));
            by_id.insert(row.m.id, (row.m.clone(), token, row.reference));
            kept.push((row.m, origin));
        }
        kept.reverse();
        let mut tail = Vec::new();
        for row in log
            .range(all)
            .map_err(|e| failed("read log")(&e))?
            .rev()
            .take(bounds.log_cap)
        {
            let (key, row) = row.map_err(|e| failed("read log")(&e))?;
            let row: LogRow =
                serde_json::from_str(row.value()).map_err(|e| failed("log row")(&e))?;
            let event = match (row.ev, row.msg) {
                (Some(event), _) => event,
                (None, Some(id)) => {
                    // Older than the history loaded (or deleted by
                    // retention): the tail starts after it.
                    let Some(found) = by_id.get(&id).cloned() else {
                        break;
                    };
                    let (message, token, reference) = found;
                    Event::Message {
                        token,
                        reference,
                        message,
                    }
                }
                (None, None) => return Err(format!("an empty log row in {name}")),
            };
            tail.push(Entry {
                seq: key.value().1,
                prev: row.prev,
                room: name.clone(),
                event,
            });
        }
        tail.reverse();
        let mut held = Vec::new();
        for row in members
            .range((name.as_str(), "")..)
            .map_err(|e| failed("read members")(&e))?
        {
            let (key, row) = row.map_err(|e| failed("read members")(&e))?;
            let (room, token) = key.value();
            if room != name.as_str() {
                break;
            }
            let row: MemberRow =
                serde_json::from_str(row.value()).map_err(|e| failed("member row")(&e))?;
            held.push(RestoredMember {
                token: ResumeToken::from(token),
                nick: row.nick,
                order: row.order,
            });
        }
        restored.push(RestoredRoom {
            name,
            epoch: head.epoch,
            last_id: head.last_id,
            last_seq: head.last_seq,
            history: kept,
            log: tail,
            members: held,
            joins: head.joins,
        });
    }
    let mut sessions = Vec::new();
    // A file written before the table existed has none.
    if let Ok(polls) = txn.open_table(POLLS) {
        for row in polls.range(..).map_err(|e| failed("read polls")(&e))? {
            let (poll, row) = row.map_err(|e| failed("read polls")(&e))?;
            let row: PollRow =
                serde_json::from_str(row.value()).map_err(|e| failed("poll row")(&e))?;
            if row.until > now_ms {
                sessions.push(RestoredPoll {
                    poll: poll.value().to_owned(),
                    token: ResumeToken::from(row.token),
                    until_ms: row.until,
                });
            }
        }
    }
    Ok((seq, restored, sessions))
}
