//! Starting the in-memory backplane from what a durable store kept: each
//! room's epoch, counters, newest messages (with the (token, ref) that
//! produced them, so a resend after a restart still gets its original id),
//! log tail and members, the polling sessions, and the cluster-wide seq.
//! Members are restored holding their nicknames with a lease of one grace period: a client that
//! resumes within it takes its place back unseen, the others are reaped
//! and their rooms told they left. Pure: the store reads its tables
//! (`src/backplane/store/`) and hands the rows over as these types; this
//! file must not know how they were kept.

use std::collections::{HashMap, VecDeque};
use std::sync::Arc;

use super::{entry_cost, now_ms, Holder, MemRoom, MemoryBackplane};
use crate::core::backplane::{Entry, ResumeToken};
use crate::core::history::History;
use crate::core::limits::Limits;
use crate::core::rules::nickname::Nickname;
use crate::core::rules::room_name::RoomName;
use crate::protocol::ChatMessage;

/// A kept message, with the (token, ref) of its sender when the `say` had
/// a ref.
pub(crate) type KeptMessage = (Arc<ChatMessage>, Option<(ResumeToken, String)>);

/// A member as a store kept it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct RestoredMember {
    /// Their token.
    pub(crate) token: ResumeToken,
    /// Their nickname, as shown.
    pub(crate) nick: String,
    /// Their place in the room's join order.
    pub(crate) order: u64,
}

/// A polling session as a store kept it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct RestoredPoll {
    /// The session token.
    pub(crate) poll: String,
    /// Its member's token.
    pub(crate) token: ResumeToken,
    /// When it expires (ms since the Unix epoch), unless polled.
    pub(crate) until_ms: u64,
}

/// One room as a store kept it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct RestoredRoom {
    /// The room.
    pub(crate) name: RoomName,
    /// Its incarnation, unchanged, so clients' cursors stay valid.
    pub(crate) epoch: String,
    /// Id of its newest message.
    pub(crate) last_id: u64,
    /// Seq of its newest entry.
    pub(crate) last_seq: u64,
    /// Its newest messages, oldest first.
    pub(crate) history: Vec<KeptMessage>,
    /// The tail of its log, oldest first, chained by `prev`.
    pub(crate) log: Vec<Entry>,
    /// Who was in it.
    pub(crate) members: Vec<RestoredMember>,
    /// Joins it has seen (the last member's order, or more).
    pub(crate) joins: u64,
}

impl MemoryBackplane {
    /// A backplane holding `rooms` as kept, whose next entry's seq follows
    /// `seq`. The bounds of `limits` apply as to a live backplane: a room
    /// keeps at most `history_size` messages, and all rooms together at
    /// most `max_history_bytes` (the least recently active lose their
    /// oldest first). Members hold their places, and polling sessions
    /// live, for at least `grace_ms`.
    pub(crate) fn restore(
        limits: &Limits,
        seq: u64,
        rooms: Vec<RestoredRoom>,
        polls: Vec<RestoredPoll>,
        grace_ms: u64,
    ) -> Self {
        let mut backplane = MemoryBackplane::new(limits);
        backplane.seq = seq;
        let until = now_ms() + grace_ms;
        for poll in polls {
            backplane
                .polls
                .insert(poll.poll, (poll.token, poll.until_ms.max(until)));
        }
        for restored in rooms {
            let mut members = HashMap::new();
            let mut by_key = HashMap::new();
            for member in restored.members {
                // Kept nicknames were valid when taken; one refused now (a
                // rule tightened since) is not restored.
                let Ok(nick) = Nickname::parse(&member.nick, usize::MAX) else {
                    continue;
                };
                by_key.insert(nick.key().to_owned(), member.token.clone());
                backplane
                    .place
                    .insert(member.token.clone(), restored.name.clone());
                backplane.set_lease(&member.token, until);
                members.insert(
                    member.token,
                    Holder {
                        nick: member.nick,
                        key: nick.key().to_owned(),
                        order: member.order,
                    },
                );
            }
            let mut history = History::new(limits.history_size, limits.max_room_history_bytes);
            if let Some((first, _)) = restored.history.first() {
                history.dropped_through(first.id.saturating_sub(1));
            } else {
                history.dropped_through(restored.last_id);
            }
            for (message, origin) in restored.history {
                history.push(message, origin);
            }
            let log: VecDeque<Entry> = restored.log.into_iter().collect();
            let log_bytes = log.iter().map(entry_cost).sum();
            backplane.seq = backplane.seq.max(restored.last_seq);
            backplane.history_bytes += history.bytes();
            backplane.rooms.insert(
                restored.name,
                MemRoom {
                    epoch: restored.epoch,
                    members,
                    by_key,
                    history,
                    last_id: restored.last_id,
                    last_seq: restored.last_seq,
                    joins: restored.joins,
                    log,
                    log_bytes,
                    last_active_ms: now_ms(),
                },
            );
        }
        if backplane.history_bytes > backplane.max_history_bytes {
            let excess = backplane.history_bytes - backplane.max_history_bytes;
            let rooms = backplane
                .rooms
                .values_mut()
                .map(|room| (room.last_seq, &mut room.history));
            backplane.history_bytes -= crate::core::history::evict_least_recent(rooms, excess);
        }
        backplane
    }

    /// A room's epoch, if the room is held.
    pub(crate) fn epoch(&self, room: &RoomName) -> Option<&str> {
        self.rooms.get(room).map(|r| r.epoch.as_str())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::core::backplane::{Backplane, Event, JoinRequest, Origin};
    use crate::core::rules::nickname::Nickname;

    fn message(id: u64, text: &str) -> Arc<ChatMessage> {
        Arc::new(ChatMessage {
            id,
            ts: 1,
            nick: "Ann".into(),
            text: text.into(),
        })
    }

    fn restored() -> MemoryBackplane {
        let lobby = RoomName::parse("lobby").unwrap();
        let token: ResumeToken = Arc::from("a");
        let log = vec![Entry {
            seq: 40,
            prev: 30,
            room: lobby.clone(),
            event: Event::Message {
                token: token.clone(),
                reference: Some("r8".into()),
                message: message(8, "eight"),
            },
        }];
        MemoryBackplane::restore(
            &Limits::default(),
            41,
            vec![RestoredRoom {
                name: lobby,
                epoch: "e1".into(),
                last_id: 8,
                last_seq: 40,
                history: vec![
                    (message(7, "seven"), None),
                    (message(8, "eight"), Some((token, "r8".into()))),
                ],
                log,
                members: vec![RestoredMember {
                    token: Arc::from("b"),
                    nick: "Bob".into(),
                    order: 2,
                }],
                joins: 2,
            }],
            Vec::new(),
            60_000,
        )
    }

    #[test]
    fn a_restored_room_keeps_its_epoch_ids_members_and_resend_memory() {
        let mut bp = restored();
        let lobby = RoomName::parse("lobby").unwrap();
        let snapshot = bp.snapshot(&lobby).unwrap();
        assert_eq!((snapshot.epoch.as_str(), snapshot.seq), ("e1", 40));
        assert_eq!(snapshot.last_id, 8);
        assert_eq!(snapshot.history.len(), 2);
        let bob = &snapshot.members[..];
        assert_eq!(bob.len(), 1, "bob holds his place");
        assert_eq!((bob[0].nick.as_str(), bob[0].order), ("Bob", 2));
        assert_eq!(bp.read(&lobby, 30).unwrap().unwrap().len(), 1);
        assert_eq!(bp.read(&lobby, 10).unwrap(), None, "older is a gap");
        let token: ResumeToken = Arc::from("a");
        let entries = bp
            .join(JoinRequest {
                room: lobby.clone(),
                nick: Nickname::parse("Ann", 24).unwrap(),
                token: token.clone(),
                origin: Origin {
                    node: Arc::from("n"),
                    member: 1,
                },
                since: Some(8),
                max_members: 10,
                lease_ms: 60_000,
            })
            .unwrap();
        assert_eq!((entries[0].seq, entries[0].prev), (42, 40));
        let Event::Joined { count, .. } = &entries[0].event else {
            panic!("a join: {entries:?}");
        };
        assert_eq!(*count, 2, "ann joins bob, who is still there");
        let again = bp.say(&lobby, &token, "x".into(), Some("r8".into()), 2);
        assert_eq!(again.unwrap().id, 8, "a resend after the restart");
        let next = bp.say(&lobby, &token, "nine".into(), None, 2).unwrap();
        assert_eq!(next.id, 9);
    }
}

#[cfg(test)]
mod grace {
    use super::*;
    use crate::core::backplane::{Backplane, Event, JoinRequest, LeftWhy, Origin};

    fn room_with(members: &[(&str, &str)], grace_ms: u64) -> MemoryBackplane {
        let members = members
            .iter()
            .enumerate()
            .map(|(i, (token, nick))| RestoredMember {
                token: Arc::from(*token),
                nick: (*nick).into(),
                order: i as u64 + 1,
            })
            .collect();
        MemoryBackplane::restore(
            &Limits::default(),
            10,
            vec![RestoredRoom {
                name: RoomName::parse("lobby").unwrap(),
                epoch: "e1".into(),
                last_id: 0,
                last_seq: 10,
                history: Vec::new(),
                log: Vec::new(),
                members,
                joins: 2,
            }],
            Vec::new(),
            grace_ms,
        )
    }

    #[test]
    fn a_member_resuming_within_the_grace_is_not_announced() {
        let mut bp = room_with(&[("a", "Ann"), ("b", "Bob")], 60_000);
        let entries = bp
            .join(JoinRequest {
                room: RoomName::parse("lobby").unwrap(),
                nick: Nickname::parse("ann", 24).unwrap(),
                token: Arc::from("a"),
                origin: Origin {
                    node: Arc::from("n"),
                    member: 1,
                },
                since: None,
                max_members: 10,
                lease_ms: 60_000,
            })
            .unwrap();
        assert!(matches!(
            &entries[..],
            [Entry {
                event: Event::Joined { resumed: true, .. },
                ..
            }]
        ));
        let taken = bp.join(JoinRequest {
            room: RoomName::parse("lobby").unwrap(),
            nick: Nickname::parse("BOB", 24).unwrap(),
            token: Arc::from("c"),
            origin: Origin {
                node: Arc::from("n"),
                member: 2,
            },
            since: None,
            max_members: 10,
            lease_ms: 60_000,
        });
        assert!(taken.is_err(), "bob's nickname is still his");
    }

    #[test]
    fn a_member_not_back_within_the_grace_is_reaped() {
        let mut bp = room_with(&[("b", "Bob")], 0);
        let reaped = bp.reap().unwrap();
        assert!(matches!(
            &reaped[..],
            [Entry {
                event: Event::Left {
                    why: LeftWhy::Expired,
                    count: 0,
                    ..
                },
                ..
            }]
        ));
    }
}
