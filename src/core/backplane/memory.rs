//! The in-memory backplane: a single instance's decisions and logs, held in
//! this process. It is the default; with it Parley needs nothing but itself.
//! It keeps, per room, who holds which nickname, the message counter, the
//! recent history with the (token, ref) of each message for idempotent
//! resends, and a bounded tail of the log for polling sessions catching up.
//! Both are bounded in messages and in bytes per room, and the histories of
//! all rooms together by `max_history_bytes`: past it the least recently
//! active rooms lose their oldest messages first (a cursor from before what
//! is kept then gets a gap, as for any trimmed history).
//! Leases work as they do on Redis, so an unpolled polling session expires
//! the same way in both.

mod restore;

use std::collections::{BTreeSet, HashMap, VecDeque};
use std::sync::Arc;
use std::time::{SystemTime, UNIX_EPOCH};

use super::{
    Backplane, Entry, Event, JoinRequest, LeftWhy, Page, PollRecord, Refusal, ResumeToken, Said,
    Snapshot, SnapshotMember, LOG_TAIL,
};
use crate::core::history::{self, History};
use crate::core::ids;
use crate::core::limits::Limits;
use crate::core::rules::nickname::Nickname;
use crate::core::rules::room_name::RoomName;
use crate::protocol::{ChatMessage, ErrorCode};

pub(crate) use self::restore::{RestoredMember, RestoredPoll, RestoredRoom};

fn now_ms() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_millis() as u64)
}

#[derive(Debug)]
struct Holder {
    nick: String,
    key: String,
    order: u64,
}

#[derive(Debug)]
struct MemRoom {
    epoch: String,
    members: HashMap<ResumeToken, Holder>,
    by_key: HashMap<String, ResumeToken>,
    history: History,
    last_id: u64,
    last_seq: u64,
    joins: u64,
    log: VecDeque<Entry>,
    /// Bytes the log holds, as [`entry_cost`] counts them.
    log_bytes: usize,
    /// Last time anything happened, for evicting idle empty rooms.
    last_active_ms: u64,
}

/// The in-memory backplane.
#[derive(Debug)]
pub(crate) struct MemoryBackplane {
    rooms: HashMap<RoomName, MemRoom>,
    /// Which room each token is in.
    place: HashMap<ResumeToken, RoomName>,
    /// Lease expiry per token, and the same ordered by time.
    leases: HashMap<ResumeToken, u64>,
    expiries: BTreeSet<(u64, ResumeToken)>,
    polls: HashMap<String, (ResumeToken, u64)>,
    seq: u64,
    history_size: usize,
    max_room_history_bytes: usize,
    max_history_bytes: usize,
    /// Bytes all rooms' histories hold.
    history_bytes: usize,
    max_rooms: usize,
    /// Age past which messages leave the histories, ms.
    max_age_ms: Option<u64>,
}

/// Bytes a log entry is counted as: the entry and its slot (the message it
/// carries is shared with the history, but counted here too, since the log
/// may outlive the history's copy).
fn entry_cost(entry: &Entry) -> usize {
    const ENTRY_OVERHEAD: usize = 160;
    ENTRY_OVERHEAD
        + match &entry.event {
            Event::Message { message, .. } => history::cost(message),
            Event::Joined { nick, .. } | Event::Left { nick, .. } | Event::Typing { nick, .. } => {
                nick.len()
            }
            Event::Renamed { old, new, .. } => old.len() + new.len(),
        }
}

impl MemoryBackplane {
    /// An empty backplane keeping the history and rooms `limits` allow.
    pub(crate) fn new(limits: &Limits) -> Self {
        MemoryBackplane {
            rooms: HashMap::new(),
            place: HashMap::new(),
            leases: HashMap::new(),
            expiries: BTreeSet::new(),
            polls: HashMap::new(),
            seq: 0,
            history_size: limits.history_size,
            max_room_history_bytes: limits.max_room_history_bytes,
            max_history_bytes: limits.max_history_bytes,
            history_bytes: 0,
            max_rooms: limits.max_rooms,
            max_age_ms: limits.history_max_age_ms,
        }
    }

    /// Drops from every room's history the messages past the age limit,
    /// as of `now_ms`: what retention deletes from a store's file is not
    /// shown from memory either. Looks at each room's oldest message only,
    /// unless it is to go.
    fn drop_aged(&mut self, now_ms: u64) {
        let Some(age) = self.max_age_ms else {
            return;
        };
        let cutoff = now_ms.saturating_sub(age);
        for room in self.rooms.values_mut() {
            self.history_bytes -= room.history.drop_sent_before(cutoff);
        }
    }

    /// The room, created (evicting the longest-idle empty room at the cap)
    /// when missing.
    fn room_mut(&mut self, name: &RoomName) -> Result<&mut MemRoom, Refusal> {
        if !self.rooms.contains_key(name) {
            if self.rooms.len() >= self.max_rooms {
                let idle = self
                    .rooms
                    .iter()
                    .filter(|(_, room)| room.members.is_empty())
                    .min_by_key(|(_, room)| room.last_active_ms)
                    .map(|(name, _)| name.clone());
                match idle {
                    Some(idle) => {
                        if let Some(room) = self.rooms.remove(&idle) {
                            self.history_bytes -= room.history.bytes();
                        }
                    }
                    None => {
                        return Err(Refusal::new(
                            ErrorCode::TooManyRooms,
                            "the server holds as many rooms as it may; try an existing room",
                        ))
                    }
                }
            }
            self.rooms.insert(
                name.clone(),
                MemRoom {
                    epoch: ids::new_secret()[..12].to_owned(),
                    members: HashMap::new(),
                    by_key: HashMap::new(),
                    history: History::new(self.history_size, self.max_room_history_bytes),
                    last_id: 0,
                    last_seq: 0,
                    joins: 0,
                    log: VecDeque::new(),
                    log_bytes: 0,
                    last_active_ms: now_ms(),
                },
            );
        }
        // unwrap: inserted just above when missing.
        Ok(self.rooms.get_mut(name).unwrap())
    }

    fn append(&mut self, name: &RoomName, event: Event) -> Entry {
        self.seq += 1;
        let seq = self.seq;
        let cap = self.history_size + LOG_TAIL;
        // unwrap: every caller has just found or made the room.
        let room = self.rooms.get_mut(name).unwrap();
        let entry = Entry {
            seq,
            prev: room.last_seq,
            room: name.clone(),
            event,
        };
        room.last_seq = seq;
        room.last_active_ms = now_ms();
        if room.members.is_empty() {
            // Nobody is left to catch up: an empty room keeps its history
            // but no log (a read from before this entry is a gap, answered
            // with a welcome), and gives back what its maps grew to.
            room.log = VecDeque::new();
            room.log_bytes = 0;
            room.members = HashMap::new();
            room.by_key = HashMap::new();
        }
        room.log_bytes += entry_cost(&entry);
        room.log.push_back(entry.clone());
        // A log trimmed past a reader's position answers it `None` (a gap),
        // so the byte bound keeps `read` correct; the newest entry stays.
        while room.log.len() > cap
            || (room.log_bytes > self.max_room_history_bytes && room.log.len() > 1)
        {
            if let Some(old) = room.log.pop_front() {
                room.log_bytes -= entry_cost(&old);
            }
        }
        entry
    }

    /// Keeps a message in its room's history, then holds all histories to
    /// the global bound.
    fn keep(
        &mut self,
        name: &RoomName,
        message: Arc<ChatMessage>,
        origin: Option<(ResumeToken, String)>,
    ) {
        // unwrap: `say` has just found the room.
        let room = self.rooms.get_mut(name).unwrap();
        let before = room.history.bytes();
        room.history.push(message, origin);
        self.history_bytes = self.history_bytes - before + room.history.bytes();
        if self.history_bytes > self.max_history_bytes {
            let excess = self.history_bytes - self.max_history_bytes;
            let rooms = self
                .rooms
                .values_mut()
                .map(|room| (room.last_seq, &mut room.history));
            self.history_bytes -= history::evict_least_recent(rooms, excess);
        }
    }

    fn set_lease(&mut self, token: &ResumeToken, until: u64) {
        if let Some(old) = self.leases.insert(token.clone(), until) {
            self.expiries.remove(&(old, token.clone()));
        }
        self.expiries.insert((until, token.clone()));
    }

    fn clear_lease(&mut self, token: &ResumeToken) {
        if let Some(old) = self.leases.remove(token) {
            self.expiries.remove(&(old, token.clone()));
            crate::core::shrink::when_sparse(&mut self.leases);
        }
    }
}

impl Backplane for MemoryBackplane {
    fn join(&mut self, request: JoinRequest) -> Result<Vec<Entry>, Refusal> {
        let JoinRequest {
            room: name,
            nick,
            token,
            origin,
            since,
            max_members,
            lease_ms,
        } = request;
        let room = self.room_mut(&name)?;
        let holder = room.by_key.get(nick.key()).cloned();
        let mine = room.members.get(&token);
        let resumed = match (&holder, mine) {
            (Some(h), Some(_)) if *h == token => true,
            (Some(_), _) => {
                return Err(Refusal::new(
                    ErrorCode::NickTaken,
                    format!("the nickname {nick} is taken in {name}"),
                ))
            }
            (None, Some(_)) => false,
            (None, None) => {
                if room.members.len() >= max_members {
                    return Err(Refusal::new(ErrorCode::RoomFull, format!("{name} is full")));
                }
                false
            }
        };
        let mut entries = Vec::with_capacity(2);
        // A member moving here from another room leaves that one first, in
        // the same step, so no instance ever sees them in two rooms.
        if let Some(before) = self.place.get(&token).filter(|r| **r != name).cloned() {
            entries.extend(self.leave(&before, &token, LeftWhy::Moved)?);
        }
        if !resumed {
            // unwrap: made above, and leaving another room keeps it.
            let room = self.rooms.get_mut(&name).unwrap();
            // Holding the token under another nickname here: the old name
            // goes, as for a rejoin under a new name.
            if let Some(old) = room.members.remove(&token) {
                room.by_key.remove(&old.key);
                let count = room.members.len();
                entries.push(self.append(
                    &name,
                    Event::Left {
                        token: token.clone(),
                        nick: old.nick,
                        count,
                        why: LeftWhy::Moved,
                    },
                ));
            }
            // unwrap: made above.
            let room = self.rooms.get_mut(&name).unwrap();
            room.joins += 1;
            let order = room.joins;
            room.by_key.insert(nick.key().to_owned(), token.clone());
            room.members.insert(
                token.clone(),
                Holder {
                    nick: nick.to_string(),
                    key: nick.key().to_owned(),
                    order,
                },
            );
        }
        let count = self.rooms[&name].members.len();
        self.place.insert(token.clone(), name.clone());
        self.set_lease(&token, now_ms() + lease_ms);
        entries.push(self.append(
            &name,
            Event::Joined {
                token,
                nick: nick.to_string(),
                count,
                origin,
                since,
                resumed,
            },
        ));
        Ok(entries)
    }

    fn leave(
        &mut self,
        name: &RoomName,
        token: &ResumeToken,
        why: LeftWhy,
    ) -> Result<Vec<Entry>, Refusal> {
        let Some(room) = self.rooms.get_mut(name) else {
            return Ok(Vec::new());
        };
        let Some(holder) = room.members.remove(token) else {
            return Ok(Vec::new());
        };
        room.by_key.remove(&holder.key);
        let count = room.members.len();
        if self.place.get(token) == Some(name) {
            self.place.remove(token);
            crate::core::shrink::when_sparse(&mut self.place);
            if why != LeftWhy::Moved {
                self.clear_lease(token);
            }
        }
        Ok(vec![self.append(
            name,
            Event::Left {
                token: token.clone(),
                nick: holder.nick,
                count,
                why,
            },
        )])
    }

    fn rename(
        &mut self,
        name: &RoomName,
        token: &ResumeToken,
        nick: &Nickname,
    ) -> Result<Vec<Entry>, Refusal> {
        let Some(room) = self.rooms.get_mut(name) else {
            return Ok(Vec::new());
        };
        if room.by_key.get(nick.key()).is_some_and(|h| h != token) {
            return Err(Refusal::new(
                ErrorCode::NickTaken,
                format!("the nickname {nick} is taken in {name}"),
            ));
        }
        let Some(holder) = room.members.get_mut(token) else {
            return Ok(Vec::new());
        };
        if holder.nick == nick.as_str() {
            return Ok(Vec::new());
        }
        let old = std::mem::replace(&mut holder.nick, nick.to_string());
        let old_key = std::mem::replace(&mut holder.key, nick.key().to_owned());
        room.by_key.remove(&old_key);
        room.by_key.insert(nick.key().to_owned(), token.clone());
        Ok(vec![self.append(
            name,
            Event::Renamed {
                token: token.clone(),
                old,
                new: nick.to_string(),
            },
        )])
    }

    fn typing(
        &mut self,
        name: &RoomName,
        token: &ResumeToken,
        on: bool,
    ) -> Result<Vec<Entry>, Refusal> {
        let Some(nick) = self
            .rooms
            .get(name)
            .and_then(|room| room.members.get(token))
            .map(|holder| holder.nick.clone())
        else {
            return Ok(Vec::new());
        };
        Ok(vec![self.append(
            name,
            Event::Typing {
                token: token.clone(),
                nick,
                on,
            },
        )])
    }

    fn say(
        &mut self,
        name: &RoomName,
        token: &ResumeToken,
        text: String,
        reference: Option<String>,
        now_ms: u64,
    ) -> Result<Said, Refusal> {
        let Some(room) = self.rooms.get_mut(name) else {
            return Err(Refusal::new(ErrorCode::NotJoined, "not in a room"));
        };
        let Some(holder) = room.members.get(token) else {
            return Err(Refusal::new(ErrorCode::NotJoined, "not in a room"));
        };
        if let Some(id) = reference
            .as_deref()
            .and_then(|r| room.history.id_for(token, r))
        {
            return Ok(Said {
                id,
                entries: Vec::new(),
                resend: true,
            });
        }
        room.last_id += 1;
        let message = Arc::new(ChatMessage {
            id: room.last_id,
            ts: now_ms,
            nick: holder.nick.clone(),
            text,
        });
        let origin = reference.clone().map(|r| (token.clone(), r));
        let id = message.id;
        // Appended first, so that this room is the most recent one when
        // the global bound picks whom to trim.
        let entry = self.append(
            name,
            Event::Message {
                token: token.clone(),
                reference,
                message: message.clone(),
            },
        );
        self.keep(name, message, origin);
        Ok(Said {
            id,
            entries: vec![entry],
            resend: false,
        })
    }

    fn snapshot(&mut self, name: &RoomName) -> Result<Snapshot, Refusal> {
        let room = self.room_mut(name)?;
        Ok(Snapshot {
            epoch: room.epoch.clone(),
            seq: room.last_seq,
            last_id: room.last_id,
            members: room
                .members
                .iter()
                .map(|(token, h)| SnapshotMember {
                    token: token.clone(),
                    nick: h.nick.clone(),
                    order: h.order,
                })
                .collect(),
            history: room.history.last(usize::MAX),
        })
    }

    fn before(&mut self, name: &RoomName, before: u64, limit: usize) -> Result<Page, Refusal> {
        Ok(match self.rooms.get(name) {
            Some(room) => room.history.before(before, limit),
            None => Page {
                messages: Vec::new(),
                more: false,
            },
        })
    }

    fn read(&mut self, name: &RoomName, after: u64) -> Result<Option<Vec<Entry>>, Refusal> {
        let Some(room) = self.rooms.get(name) else {
            return Ok(Some(Vec::new()));
        };
        let start = room.log.partition_point(|e| e.seq <= after);
        // Entries after `after` were dropped when the oldest kept one does
        // not follow it directly.
        if let Some(first) = room.log.get(start) {
            if first.prev > after {
                return Ok(None);
            }
        }
        Ok(Some(room.log.range(start..).cloned().collect()))
    }

    fn renew(&mut self, tokens: &[ResumeToken], ttl_ms: u64) -> Result<(), Refusal> {
        let until = now_ms() + ttl_ms;
        for token in tokens {
            self.set_lease(token, until);
        }
        Ok(())
    }

    fn reap(&mut self) -> Result<Vec<Entry>, Refusal> {
        let now = now_ms();
        let mut entries = Vec::new();
        while let Some((until, token)) = self.expiries.first().cloned() {
            if until > now {
                break;
            }
            self.clear_lease(&token);
            if let Some(room) = self.place.get(&token).cloned() {
                entries.extend(self.leave(&room, &token, LeftWhy::Expired)?);
            }
        }
        self.polls.retain(|_, (_, until)| *until > now);
        self.drop_aged(now);
        Ok(entries)
    }

    fn save_poll(&mut self, poll: &str, record: &PollRecord, ttl_ms: u64) -> Result<(), Refusal> {
        self.polls
            .insert(poll.to_owned(), (record.token.clone(), now_ms() + ttl_ms));
        Ok(())
    }

    fn find_poll(&mut self, poll: &str) -> Result<Option<PollRecord>, Refusal> {
        Ok(self.polls.get(poll).map(|(token, _)| PollRecord {
            token: token.clone(),
            room: self.place.get(token).map(|r| r.to_string()),
        }))
    }

    fn drop_poll(&mut self, poll: &str) -> Result<(), Refusal> {
        self.polls.remove(poll);
        Ok(())
    }

    fn history_bytes(&self) -> usize {
        self.history_bytes
    }
}

#[cfg(test)]
mod tests;
