//! One room's pure state: who is in it under which nickname, who is typing,
//! the message sequence and the recent history. No actix, no I/O, no clock:
//! callers pass the time in. Cross-room rules (rate limits, moving between
//! rooms, resume tokens) live in `chat_core.rs`, not here.

use std::collections::HashMap;
use std::sync::Arc;

use crate::history::{History, Replay};
use crate::nickname::Nickname;
use crate::protocol::{ChatMessage, RosterEntry};

/// Identifies one connection (of any transport) for its whole life.
pub type MemberId = u64;

/// A participant of a room.
#[derive(Debug, Clone)]
pub struct Member {
    /// Their nickname.
    pub nick: Nickname,
    /// Their resume token.
    pub token: Arc<str>,
    /// Since when they are typing (ms), if they are.
    pub typing_since: Option<u64>,
    /// Join order, for a stable roster.
    joined: u64,
}

/// What `post` did with a message.
#[derive(Debug, PartialEq, Eq)]
pub enum Posted {
    /// A new message, to be broadcast.
    New(ChatMessage),
    /// A resend of a message already posted under this id.
    Duplicate(u64),
}

/// One room.
#[derive(Debug)]
pub struct Room {
    members: HashMap<MemberId, Member>,
    by_key: HashMap<String, MemberId>,
    history: History,
    last_id: u64,
    joins: u64,
    /// Members typing now, so idle rooms skip the expiry scan.
    typers: usize,
    /// This incarnation of the room's id sequence.
    pub epoch: String,
    /// Last time anything happened here, for evicting idle empty rooms.
    pub last_active_ms: u64,
}

impl Room {
    /// An empty room keeping `history_size` messages.
    pub fn new(history_size: usize, now_ms: u64, epoch: String) -> Self {
        Room {
            typers: 0,
            epoch,
            members: HashMap::new(),
            by_key: HashMap::new(),
            history: History::new(history_size),
            last_id: 0,
            joins: 0,
            last_active_ms: now_ms,
        }
    }

    /// Number of participants.
    pub fn len(&self) -> usize {
        self.members.len()
    }

    /// Whether nobody is here.
    pub fn is_empty(&self) -> bool {
        self.members.is_empty()
    }

    /// Id of the newest message (0 when none).
    pub fn cursor(&self) -> u64 {
        self.last_id
    }

    /// Who holds this nickname here, if anyone.
    pub fn holder_of(&self, nick: &Nickname) -> Option<MemberId> {
        self.by_key.get(nick.key()).copied()
    }

    /// A participant by id.
    pub fn member(&self, id: MemberId) -> Option<&Member> {
        self.members.get(&id)
    }

    /// Every participant's id.
    pub fn member_ids(&self) -> impl Iterator<Item = MemberId> + '_ {
        self.members.keys().copied()
    }

    /// Adds a participant; the caller has checked the nickname is free.
    pub fn insert(&mut self, id: MemberId, nick: Nickname, token: Arc<str>) {
        self.joins += 1;
        self.by_key.insert(nick.key().to_owned(), id);
        let member = Member {
            nick,
            token,
            typing_since: None,
            joined: self.joins,
        };
        self.members.insert(id, member);
    }

    /// Removes a participant.
    pub fn remove(&mut self, id: MemberId) -> Option<Member> {
        self.stop_typing(id);
        let member = self.members.remove(&id)?;
        self.by_key.remove(member.nick.key());
        Some(member)
    }

    /// Moves a participant's place (nickname, token, join order) to a new
    /// connection id, as when a user resumes on a new connection.
    pub fn transfer(&mut self, from: MemberId, to: MemberId) -> Option<&Member> {
        self.stop_typing(from);
        let member = self.members.remove(&from)?;
        self.by_key.insert(member.nick.key().to_owned(), to);
        self.members.insert(to, member);
        self.members.get(&to)
    }

    /// Renames a participant; the caller has checked the name is free.
    /// Returns the old nickname.
    pub fn rename(&mut self, id: MemberId, nick: Nickname) -> Option<Nickname> {
        let member = self.members.get_mut(&id)?;
        self.by_key.remove(member.nick.key());
        self.by_key.insert(nick.key().to_owned(), id);
        Some(std::mem::replace(&mut member.nick, nick))
    }

    /// Sets the typing flag at `now_ms`; returns whether it changed.
    pub fn set_typing(&mut self, id: MemberId, on: bool, now_ms: u64) -> bool {
        match self.members.get_mut(&id) {
            Some(member) if member.typing_since.is_some() != on => {
                member.typing_since = on.then_some(now_ms);
                self.typers = if on { self.typers + 1 } else { self.typers - 1 };
                true
            }
            Some(member) => {
                // Typing on again while on renews the indicator quietly.
                if on {
                    member.typing_since = Some(now_ms);
                }
                false
            }
            None => false,
        }
    }

    /// Ends typing that began before `cutoff_ms` (a client that crashed or
    /// forgot to say it stopped); returns whose.
    pub fn expire_typing(&mut self, cutoff_ms: u64) -> Vec<String> {
        if self.typers == 0 {
            return Vec::new();
        }
        let mut expired = Vec::new();
        for member in self.members.values_mut() {
            if member.typing_since.is_some_and(|since| since < cutoff_ms) {
                member.typing_since = None;
                expired.push(member.nick.to_string());
            }
        }
        self.typers -= expired.len();
        expired
    }

    fn stop_typing(&mut self, id: MemberId) {
        if let Some(member) = self.members.get_mut(&id) {
            if member.typing_since.take().is_some() {
                self.typers -= 1;
            }
        }
    }

    /// Records a message from `id`, unless the same (token, reference) was
    /// already posted. Sending ends the sender's typing.
    pub fn post(
        &mut self,
        id: MemberId,
        text: String,
        reference: Option<&str>,
        now_ms: u64,
    ) -> Option<Posted> {
        let token = self.members.get(&id)?.token.clone();
        if let Some(existing) = reference.and_then(|r| self.history.id_for(&token, r)) {
            return Some(Posted::Duplicate(existing));
        }
        self.stop_typing(id);
        let member = self.members.get_mut(&id)?;
        self.last_id += 1;
        self.last_active_ms = now_ms;
        let message = ChatMessage {
            id: self.last_id,
            ts: now_ms,
            nick: member.nick.to_string(),
            text,
        };
        let origin = reference.map(|r| (member.token.clone(), r.to_owned()));
        self.history.push(message.clone(), origin);
        Some(Posted::New(message))
    }

    /// The roster in join order.
    pub fn roster(&self) -> Vec<RosterEntry> {
        let mut members: Vec<&Member> = self.members.values().collect();
        members.sort_unstable_by_key(|m| m.joined);
        members
            .into_iter()
            .map(|m| RosterEntry {
                nick: m.nick.to_string(),
                typing: m.typing_since.is_some(),
            })
            .collect()
    }

    /// History for a joiner: after `since` when resuming, else the last
    /// `count`. A cursor beyond the newest id comes from an earlier
    /// incarnation of the room (a restart): the client gets the last
    /// `count` with `gap` set, since it may have missed anything.
    pub fn replay(&self, since: Option<u64>, count: usize) -> Replay {
        match since {
            Some(cursor) if cursor > self.last_id => Replay {
                messages: self.history.last(count),
                gap: true,
            },
            Some(cursor) => self.history.after(cursor),
            None => Replay {
                messages: self.history.last(count),
                gap: false,
            },
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn nick(s: &str) -> Nickname {
        Nickname::parse(s, 24).unwrap()
    }

    #[test]
    fn numbers_messages_in_order_and_suppresses_resends() {
        let mut room = Room::new(10, 0, "e".into());
        room.insert(1, nick("ann"), Arc::from("t1"));
        room.set_typing(1, true, 0);
        let Some(Posted::New(first)) = room.post(1, "hi".into(), Some("r1"), 5) else {
            panic!()
        };
        assert_eq!((first.id, first.ts, first.nick.as_str()), (1, 5, "ann"));
        assert!(
            room.member(1).unwrap().typing_since.is_none(),
            "sending ends typing"
        );
        assert_eq!(
            room.post(1, "hi".into(), Some("r1"), 6),
            Some(Posted::Duplicate(1))
        );
        assert!(
            matches!(room.post(1, "again".into(), Some("r2"), 7), Some(Posted::New(m)) if m.id == 2)
        );
        assert_eq!(room.cursor(), 2);
        assert_eq!(room.post(9, "ghost".into(), None, 8), None);
    }

    #[test]
    fn tracks_nicknames_through_rename_transfer_and_removal() {
        let mut room = Room::new(10, 0, "e".into());
        room.insert(1, nick("ann"), Arc::from("t1"));
        room.insert(2, nick("bob"), Arc::from("t2"));
        assert_eq!(room.holder_of(&nick("ANN")), Some(1));
        assert_eq!(room.rename(1, nick("anna")).unwrap().as_str(), "ann");
        assert_eq!(room.holder_of(&nick("ann")), None);
        room.transfer(1, 3);
        assert_eq!(room.holder_of(&nick("anna")), Some(3));
        let roster: Vec<String> = room.roster().into_iter().map(|e| e.nick).collect();
        assert_eq!(
            roster,
            vec!["anna", "bob"],
            "a transfer keeps the join order"
        );
        room.remove(3);
        assert_eq!((room.len(), room.holder_of(&nick("anna"))), (1, None));
    }

    #[test]
    fn typing_reports_only_changes() {
        let mut room = Room::new(10, 0, "e".into());
        room.insert(1, nick("ann"), Arc::from("t1"));
        assert!(room.set_typing(1, true, 0));
        assert!(!room.set_typing(1, true, 5));
        assert!(room.set_typing(1, false, 6));
        room.set_typing(1, true, 10);
        assert!(room.expire_typing(10).is_empty());
        assert_eq!(room.expire_typing(11), vec!["ann"]);
        assert!(room.expire_typing(100).is_empty());
    }

    #[test]
    fn a_cursor_from_an_earlier_incarnation_replays_recent_history() {
        let mut room = Room::new(10, 0, "e".into());
        room.insert(1, nick("ann"), Arc::from("t1"));
        room.post(1, "a".into(), None, 0);
        room.post(1, "b".into(), None, 0);
        let replay = room.replay(Some(35), 5);
        assert!(replay.gap);
        assert_eq!(replay.messages.len(), 2);
    }
}
