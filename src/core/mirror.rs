//! One room as this instance sees it: a mirror built from a backplane
//! snapshot and moved forward only by the room's log entries, in order, so
//! every instance holds the same roster, count and history. It also knows
//! which of its members are connected here. No actix, no I/O: callers pass
//! the entries and the time in. Deciding what may happen (free nicknames,
//! message ids) is the backplane's; what each connection is sent is
//! `chat_core.rs`'s.

use std::collections::HashMap;

use crate::core::backplane::{Entry, Event, Snapshot};
use crate::core::history::{History, Replay};
use crate::core::ids::{MemberId, ResumeToken};
pub(crate) use crate::core::roster::Member;
use crate::core::roster::{PageAsk, Roster, RosterPage};
use crate::protocol::RosterEntry;

/// What applying an entry changed, beyond the event itself.
#[derive(Debug, Default, PartialEq, Eq)]
pub(crate) struct Applied {
    /// The entry was already applied (an echo): nothing to send.
    pub(crate) stale: bool,
    /// A resumed member had been typing; their typing ended.
    pub(crate) typing_ended: bool,
}

/// One room's mirror.
#[derive(Debug)]
pub(crate) struct Mirror {
    members: Roster,
    /// Members connected to this instance.
    local: HashMap<MemberId, ResumeToken>,
    history: History,
    last_id: u64,
    /// Seq of the last entry applied.
    pub(crate) seq: u64,
    next_order: u64,
    /// Members typing now, so idle rooms skip the expiry scan.
    typers: usize,
    /// This incarnation of the room's id sequence.
    pub(crate) epoch: String,
}

impl Mirror {
    /// A mirror starting from `snapshot`, keeping `history_size` messages
    /// and `max_history_bytes` bytes of them.
    pub(crate) fn from_snapshot(
        snapshot: Snapshot,
        history_size: usize,
        max_history_bytes: usize,
    ) -> Self {
        let mut history = History::new(history_size, max_history_bytes);
        // What the snapshot no longer has (trimmed, or evicted by a bound)
        // is a gap for a cursor before it.
        history.dropped_through(
            snapshot
                .history
                .first()
                .map_or(snapshot.last_id, |m| m.id - 1),
        );
        for message in snapshot.history {
            history.push(message, None);
        }
        let next_order = snapshot.members.iter().map(|m| m.order).max().unwrap_or(0);
        let mut members = Roster::default();
        for m in snapshot.members {
            members.insert(m.token, m.nick, m.order);
        }
        Mirror {
            members,
            local: HashMap::new(),
            history,
            last_id: snapshot.last_id,
            seq: snapshot.seq,
            next_order,
            typers: 0,
            epoch: snapshot.epoch,
        }
    }

    /// Bytes of history this mirror holds.
    pub(crate) fn history_bytes(&self) -> usize {
        self.history.bytes()
    }

    /// The room's last activity (its newest seq) and its history, for the
    /// bound across rooms (`history::evict_least_recent`).
    pub(crate) fn recency_and_history(&mut self) -> (u64, &mut History) {
        (self.seq, &mut self.history)
    }

    /// Number of participants, cluster-wide.
    pub(crate) fn len(&self) -> usize {
        self.members.len()
    }

    /// Whether no member is connected to this instance.
    pub(crate) fn has_no_local(&self) -> bool {
        self.local.is_empty()
    }

    /// Id of the newest message (0 when none).
    pub(crate) fn cursor(&self) -> u64 {
        self.last_id
    }

    /// A participant by token.
    pub(crate) fn member(&self, token: &ResumeToken) -> Option<&Member> {
        self.members.get(token)
    }

    /// The connections here that are members.
    pub(crate) fn local_ids(&self) -> impl Iterator<Item = MemberId> + '_ {
        self.local.keys().copied()
    }

    /// The token of a connection here, if it is a member.
    pub(crate) fn local_token(&self, id: MemberId) -> Option<&ResumeToken> {
        self.local.get(&id)
    }

    /// Marks connection `id` as member `token`'s connection here.
    pub(crate) fn attach(&mut self, id: MemberId, token: ResumeToken) {
        self.local.insert(id, token);
    }

    /// Forgets that connection `id` is here; returns whether it was.
    pub(crate) fn detach(&mut self, id: MemberId) -> bool {
        self.local.remove(&id).is_some()
    }

    /// Moves the room forward by one entry. Entries at or before the last
    /// applied one are echoes and change nothing.
    pub(crate) fn apply(&mut self, entry: &Entry, now_ms: u64) -> Applied {
        if entry.seq <= self.seq {
            return Applied {
                stale: true,
                ..Applied::default()
            };
        }
        self.seq = entry.seq;
        let mut applied = Applied::default();
        match &entry.event {
            Event::Joined {
                token,
                nick,
                resumed,
                ..
            } => {
                if *resumed && self.members.contains(token) {
                    applied.typing_ended = self.stop_typing(token);
                } else {
                    self.next_order += 1;
                    let old = self
                        .members
                        .insert(token.clone(), nick.clone(), self.next_order);
                    if let Some(old) = old {
                        if old.typing_since.is_some() {
                            self.typers -= 1;
                        }
                    }
                }
            }
            Event::Left { token, .. } => {
                self.stop_typing(token);
                self.members.remove(token);
            }
            Event::Renamed { token, new, .. } => self.members.rename(token, new),
            Event::Typing { token, on, .. } => {
                if let Some(typing_since) = self.members.typing_mut(token) {
                    match (typing_since.is_some(), on) {
                        (false, true) => self.typers += 1,
                        (true, false) => self.typers -= 1,
                        _ => {}
                    }
                    *typing_since = on.then_some(now_ms);
                }
            }
            Event::Message { token, message, .. } => {
                self.stop_typing(token);
                self.last_id = self.last_id.max(message.id);
                self.history.push(message.clone(), None);
            }
        }
        applied
    }

    /// Whether `token` is typing now.
    pub(crate) fn is_typing(&self, token: &ResumeToken) -> bool {
        self.members
            .get(token)
            .is_some_and(|m| m.typing_since.is_some())
    }

    /// Restarts a typing indicator's clock (the typer said "on" again).
    pub(crate) fn renew_typing(&mut self, token: &ResumeToken, now_ms: u64) {
        if let Some(typing_since) = self.members.typing_mut(token) {
            if typing_since.is_some() {
                *typing_since = Some(now_ms);
            }
        }
    }

    /// Members connected here whose typing began before `cutoff_ms` (a
    /// client that crashed or forgot to say it stopped).
    pub(crate) fn stale_local_typers(&self, cutoff_ms: u64) -> Vec<ResumeToken> {
        if self.typers == 0 {
            return Vec::new();
        }
        self.local
            .values()
            .filter(|token| {
                self.members
                    .get(token)
                    .and_then(|m| m.typing_since)
                    .is_some_and(|since| since < cutoff_ms)
            })
            .cloned()
            .collect()
    }

    fn stop_typing(&mut self, token: &ResumeToken) -> bool {
        let was = self
            .members
            .typing_mut(token)
            .and_then(Option::take)
            .is_some();
        if was {
            self.typers -= 1;
        }
        was
    }

    /// The first `limit` members in join order, within `max_bytes` as
    /// written (at least one): the roster of a welcome to a client of
    /// minor version 0 or 1, whole when it fits.
    pub(crate) fn roster(&self, limit: usize, max_bytes: usize) -> Vec<RosterEntry> {
        self.members.in_join_order(limit, max_bytes)
    }

    /// A page of the roster in name order (`roster.rs`).
    pub(crate) fn roster_page(&self, ask: PageAsk<'_>) -> RosterPage {
        self.members.page(ask)
    }

    /// History for a joiner: after `since` when resuming, else the last
    /// `count`. A cursor beyond the newest id comes from an earlier
    /// incarnation of the room (a restart): the client gets the last
    /// `count` with `gap` set, since it may have missed anything.
    pub(crate) fn replay(&self, since: Option<u64>, count: usize) -> Replay {
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
    use std::sync::Arc;

    use super::*;
    use crate::core::backplane::{LeftWhy, Origin};
    use crate::core::rules::room_name::RoomName;
    use crate::protocol::ChatMessage;

    fn empty() -> Mirror {
        empty_within(usize::MAX)
    }

    /// An empty room of 10 messages and `bytes` of history at most.
    fn empty_within(bytes: usize) -> Mirror {
        Mirror::from_snapshot(
            Snapshot {
                epoch: "e".into(),
                seq: 0,
                last_id: 0,
                members: Vec::new(),
                history: Vec::new(),
            },
            10,
            bytes,
        )
    }

    fn entry(seq: u64, event: Event) -> Entry {
        Entry {
            seq,
            prev: seq.saturating_sub(1),
            room: RoomName::parse("r").unwrap(),
            event,
        }
    }

    fn joined(token: &str, nick: &str, resumed: bool) -> Event {
        Event::Joined {
            token: Arc::from(token),
            nick: nick.into(),
            count: 0,
            origin: Origin {
                node: Arc::from("n"),
                member: 1,
            },
            since: None,
            resumed,
        }
    }

    #[test]
    fn applies_entries_once_and_in_order() {
        let mut room = empty();
        room.apply(&entry(1, joined("t1", "ann", false)), 0);
        room.apply(&entry(2, joined("t2", "bob", false)), 0);
        assert!(room.apply(&entry(2, joined("t2", "bob", false)), 0).stale);
        room.apply(
            &entry(
                3,
                Event::Renamed {
                    token: Arc::from("t1"),
                    old: "ann".into(),
                    new: "anna".into(),
                },
            ),
            0,
        );
        let roster: Vec<String> = room
            .roster(usize::MAX, usize::MAX)
            .into_iter()
            .map(|e| e.nick)
            .collect();
        assert_eq!(roster, vec!["anna", "bob"]);
        room.apply(
            &entry(
                4,
                Event::Left {
                    token: Arc::from("t1"),
                    nick: "anna".into(),
                    count: 1,
                    why: LeftWhy::Left,
                },
            ),
            0,
        );
        assert_eq!(room.len(), 1);
    }

    #[test]
    fn a_resume_keeps_the_place_and_ends_typing() {
        let mut room = empty();
        room.apply(&entry(1, joined("t1", "ann", false)), 0);
        room.apply(&entry(2, joined("t2", "bob", false)), 0);
        room.apply(
            &entry(
                3,
                Event::Typing {
                    token: Arc::from("t1"),
                    nick: "ann".into(),
                    on: true,
                },
            ),
            5,
        );
        assert_eq!(room.stale_local_typers(10), Vec::<ResumeToken>::new());
        room.attach(7, Arc::from("t1"));
        assert_eq!(room.stale_local_typers(10), vec![Arc::from("t1")]);
        let applied = room.apply(&entry(4, joined("t1", "ann", true)), 0);
        assert!(applied.typing_ended);
        let roster: Vec<String> = room
            .roster(usize::MAX, usize::MAX)
            .into_iter()
            .map(|e| e.nick)
            .collect();
        assert_eq!(roster, vec!["ann", "bob"], "a resume keeps the join order");
    }

    #[test]
    fn a_cursor_from_an_earlier_incarnation_replays_recent_history() {
        let mut room = empty();
        for id in 1..=2 {
            room.apply(
                &entry(
                    id,
                    Event::Message {
                        token: Arc::from("t"),
                        reference: None,
                        message: Arc::new(ChatMessage {
                            id,
                            ts: 0,
                            nick: "ann".into(),
                            text: "x".into(),
                        }),
                    },
                ),
                0,
            );
        }
        let replay = room.replay(Some(35), 5);
        assert!(replay.gap);
        assert_eq!(replay.messages.len(), 2);
        assert_eq!(room.cursor(), 2);
    }

    fn message(id: u64, text: &str) -> Arc<ChatMessage> {
        Arc::new(ChatMessage {
            id,
            ts: 0,
            nick: "ann".into(),
            text: text.into(),
        })
    }

    #[test]
    fn a_snapshot_without_its_oldest_messages_replays_them_as_a_gap() {
        let evicted = Mirror::from_snapshot(
            Snapshot {
                epoch: "e".into(),
                seq: 9,
                last_id: 5,
                members: Vec::new(),
                history: Vec::new(),
            },
            10,
            usize::MAX,
        );
        assert!(evicted.replay(Some(3), 5).gap, "all five were evicted");
        assert!(!evicted.replay(Some(5), 5).gap);
        let trimmed = Mirror::from_snapshot(
            Snapshot {
                epoch: "e".into(),
                seq: 9,
                last_id: 5,
                members: Vec::new(),
                history: vec![message(4, "a"), message(5, "b")],
            },
            10,
            usize::MAX,
        );
        assert!(trimmed.replay(Some(2), 5).gap);
        assert_eq!(trimmed.replay(Some(3), 5).messages.len(), 2);
        assert!(!trimmed.replay(Some(3), 5).gap);
    }

    #[test]
    fn a_mirror_keeps_its_history_to_the_byte_bound_sharing_the_entries_messages() {
        let text = "x".repeat(100);
        let one = crate::core::history::cost(&message(1, &text));
        let mut room = empty_within(2 * one);
        let mut last = None;
        for id in 1..=3 {
            let shared = message(id, &text);
            let event = Event::Message {
                token: Arc::from("t"),
                reference: None,
                message: shared.clone(),
            };
            room.apply(&entry(id, event), 0);
            last = Some(shared);
        }
        assert_eq!(room.history_bytes(), 2 * one);
        let replay = room.replay(Some(1), 5);
        assert!(!replay.gap);
        assert!(
            Arc::ptr_eq(&replay.messages[1], &last.unwrap()),
            "not a copy"
        );
        assert!(room.replay(Some(0), 5).gap);
    }
}
