//! Coalescing of presence changes. When many people enter or leave a room
//! at once (a deploy, a network blip, a class logging in), sending every
//! member one `joined` per arrival costs N² frames. The ChatRoom instead
//! collects a room's joins and leaves here and sends them as one frame at
//! the next flush: at the latest [`PRESENCE_FLUSH`] later, and always before
//! any other frame to that room, so no one sees a message from someone
//! before seeing them arrive. A batch of one is sent as the ordinary
//! `joined` or `left` frame; only a real batch becomes a `presence` frame,
//! and only rooms of [`BATCH_FROM_MEMBERS`] or more are batched at all.
//!
//! A big room (`Limits::big_room_members` or more) goes further, so that an
//! arrival costs each member O(1) however many arrive: its batch keeps
//! only counts and the newest [`PRESENCE_SAMPLE`] changes, is sent as a
//! `presence` frame with `arrived` and `departed` even for one change, and
//! waits up to [`BIG_ROOM_PRESENCE_FLUSH`] (unless another frame to the
//! room sends it sooner). Pure: no actix; the caller passes the clock.

use std::collections::VecDeque;
use std::time::Duration;

use crate::core::ids::MemberId;
use crate::protocol::{PresenceChange, ServerFrame};

/// Longest a presence change waits to be sent with others.
pub(crate) const PRESENCE_FLUSH: Duration = Duration::from_millis(50);

/// Longest a presence change waits in a big room: a member of a room of
/// thousands gets at most one presence frame a second, whatever the rate
/// of arrivals.
pub(crate) const BIG_ROOM_PRESENCE_FLUSH: Duration = Duration::from_secs(1);

/// Names a big room's batch carries at most: the newest changes.
pub(crate) const PRESENCE_SAMPLE: usize = 10;

/// Rooms smaller than this get every change at once as its own frame: the
/// N² cost only matters for large rooms, and small ones keep the simplest
/// stream of `joined` and `left` frames.
pub(crate) const BATCH_FROM_MEMBERS: usize = 32;

/// The changes waiting for one room.
#[derive(Debug, Default)]
pub(crate) struct PendingPresence {
    /// Every change, or in a big room the newest [`PRESENCE_SAMPLE`].
    changes: VecDeque<PresenceChange>,
    /// Arrivals and departures recorded, sampled or not.
    arrived: usize,
    departed: usize,
    /// Whether a change was recorded while the room was big: the batch is
    /// then sampled and sent counted.
    big: bool,
    /// Who joined, when the batch is a single join: they need no notice of
    /// their own arrival.
    joiner: Option<MemberId>,
    /// The log seq of the newest change, which numbers the batch.
    at: u64,
    /// When the first change was recorded, ms.
    since_ms: Option<u64>,
}

impl PendingPresence {
    /// The log seq of the newest change waiting.
    pub(crate) fn at(&self) -> u64 {
        self.at
    }

    /// Notes the log seq of the change being recorded, the time, and
    /// whether the room is big now.
    pub(crate) fn at_seq(&mut self, at: u64, now_ms: u64, big: bool) -> &mut Self {
        self.at = self.at.max(at);
        self.since_ms.get_or_insert(now_ms);
        self.big |= big;
        self
    }

    /// Records an arrival.
    pub(crate) fn joined(&mut self, nick: String, member: MemberId) {
        self.joiner = self.is_empty().then_some(member);
        self.arrived += 1;
        self.record(PresenceChange {
            nick,
            present: true,
        });
    }

    /// Records a departure.
    pub(crate) fn left(&mut self, nick: String) {
        self.joiner = None;
        self.departed += 1;
        self.record(PresenceChange {
            nick,
            present: false,
        });
    }

    fn record(&mut self, change: PresenceChange) {
        self.changes.push_back(change);
        if self.big && self.changes.len() > PRESENCE_SAMPLE {
            self.changes.pop_front();
        }
    }

    /// Whether nothing waits.
    pub(crate) fn is_empty(&self) -> bool {
        self.arrived + self.departed == 0
    }

    /// Whether the batch is to be sent at `now_ms`: at once in an ordinary
    /// room (the caller's timer gives the [`PRESENCE_FLUSH`]), after
    /// [`BIG_ROOM_PRESENCE_FLUSH`] in a big one.
    pub(crate) fn due(&self, now_ms: u64) -> bool {
        let wait = BIG_ROOM_PRESENCE_FLUSH.as_millis() as u64;
        !self.big || self.since_ms.is_none_or(|since| now_ms >= since + wait)
    }

    /// The frame that carries what waits, given the room's participant
    /// count now, and the member (if any) who must not get it. Empties the
    /// batch.
    pub(crate) fn take(&mut self, count: usize) -> Option<(ServerFrame, Option<MemberId>)> {
        let taken = std::mem::take(self);
        let (joiner, empty) = (taken.joiner, taken.is_empty());
        let mut changes = Vec::from(taken.changes);
        if taken.big && !empty {
            let frame = ServerFrame::Presence {
                changes,
                count,
                arrived: Some(taken.arrived),
                departed: Some(taken.departed),
            };
            return Some((frame, joiner));
        }
        match changes.len() {
            0 => None,
            1 => {
                // unwrap: the length was just checked.
                let change = changes.pop().unwrap();
                Some(if change.present {
                    (
                        ServerFrame::Joined {
                            nick: change.nick,
                            count,
                        },
                        joiner,
                    )
                } else {
                    (
                        ServerFrame::Left {
                            nick: change.nick,
                            count,
                        },
                        None,
                    )
                })
            }
            _ => Some((
                ServerFrame::Presence {
                    changes,
                    count,
                    arrived: None,
                    departed: None,
                },
                None,
            )),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_single_change_keeps_its_ordinary_frame() {
        let mut pending = PendingPresence::default();
        pending.joined("ann".into(), 7);
        assert_eq!(
            pending.take(2),
            Some((
                ServerFrame::Joined {
                    nick: "ann".into(),
                    count: 2
                },
                Some(7)
            ))
        );
        assert!(pending.is_empty());
        pending.left("ann".into());
        assert_eq!(
            pending.take(1),
            Some((
                ServerFrame::Left {
                    nick: "ann".into(),
                    count: 1
                },
                None
            ))
        );
        assert_eq!(pending.take(1), None);
    }

    #[test]
    fn several_changes_become_one_ordered_presence_frame_for_everyone() {
        let mut pending = PendingPresence::default();
        pending.joined("ann".into(), 1);
        pending.left("bob".into());
        pending.joined("bob".into(), 2);
        let (frame, excluded) = pending.take(2).unwrap();
        assert_eq!(excluded, None);
        let ServerFrame::Presence { changes, count, .. } = frame else {
            panic!("{frame:?}")
        };
        let order: Vec<(&str, bool)> = changes
            .iter()
            .map(|c| (c.nick.as_str(), c.present))
            .collect();
        assert_eq!(order, vec![("ann", true), ("bob", false), ("bob", true)]);
        assert_eq!(count, 2);
    }

    #[test]
    fn a_big_rooms_batch_is_counted_with_only_the_newest_names() {
        let mut pending = PendingPresence::default();
        for n in 0..25 {
            pending.at_seq(n, 0, true).joined(format!("u{n}"), n);
        }
        pending.at_seq(25, 0, true).left("u3".into());
        let (frame, excluded) = pending.take(1_022).unwrap();
        assert_eq!(excluded, None);
        let ServerFrame::Presence {
            changes,
            count,
            arrived,
            departed,
        } = frame
        else {
            panic!("{frame:?}")
        };
        assert_eq!((count, arrived, departed), (1_022, Some(25), Some(1)));
        let names: Vec<&str> = changes.iter().map(|c| c.nick.as_str()).collect();
        assert_eq!(
            names,
            vec!["u16", "u17", "u18", "u19", "u20", "u21", "u22", "u23", "u24", "u3"],
            "the newest {PRESENCE_SAMPLE}, oldest first"
        );
        assert!(pending.is_empty());
        assert_eq!(pending.take(1_022), None);
    }

    #[test]
    fn in_a_big_room_one_arrival_is_counted_too_and_spares_the_newcomer() {
        let mut pending = PendingPresence::default();
        pending.at_seq(1, 0, true).joined("ann".into(), 7);
        let (frame, excluded) = pending.take(2_000).unwrap();
        assert_eq!(excluded, Some(7));
        assert!(matches!(
            frame,
            ServerFrame::Presence {
                arrived: Some(1),
                departed: Some(0),
                ..
            }
        ));
    }

    #[test]
    fn a_big_rooms_batch_waits_longer() {
        let mut pending = PendingPresence::default();
        assert!(pending.due(0), "nothing waits");
        pending.at_seq(1, 100, false).joined("ann".into(), 1);
        assert!(pending.due(100), "an ordinary batch goes at the next tick");
        pending.at_seq(2, 150, true).joined("bob".into(), 2);
        let wait = BIG_ROOM_PRESENCE_FLUSH.as_millis() as u64;
        assert!(!pending.due(100 + wait - 1));
        assert!(pending.due(100 + wait), "counted from the first change");
    }
}
