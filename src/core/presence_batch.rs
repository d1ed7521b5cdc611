//! Coalescing of presence changes. When many people enter or leave a room
//! at once (a deploy, a network blip, a class logging in), sending every
//! member one `joined` per arrival costs N² frames. The ChatRoom instead
//! collects a room's joins and leaves here and sends them as one frame at
//! the next flush: at the latest [`PRESENCE_FLUSH`] later, and always before
//! any other frame to that room, so no one sees a message from someone
//! before seeing them arrive. A batch of one is sent as the ordinary
//! `joined` or `left` frame; only a real batch becomes a `presence` frame,
//! and only rooms of [`BATCH_FROM_MEMBERS`] or more are batched at all.
//! Pure: no actix, no clock.

use std::time::Duration;

use crate::core::ids::MemberId;
use crate::protocol::{PresenceChange, ServerFrame};

/// Longest a presence change waits to be sent with others.
pub(crate) const PRESENCE_FLUSH: Duration = Duration::from_millis(50);

/// Rooms smaller than this get every change at once as its own frame: the
/// N² cost only matters for large rooms, and small ones keep the simplest
/// stream of `joined` and `left` frames.
pub(crate) const BATCH_FROM_MEMBERS: usize = 32;

/// The changes waiting for one room.
#[derive(Debug, Default)]
pub(crate) struct PendingPresence {
    changes: Vec<PresenceChange>,
    /// Who joined, when the batch is a single join: they need no notice of
    /// their own arrival.
    joiner: Option<MemberId>,
    /// The log seq of the newest change, which numbers the batch.
    at: u64,
}

impl PendingPresence {
    /// The log seq of the newest change waiting.
    pub(crate) fn at(&self) -> u64 {
        self.at
    }

    /// Notes the log seq of the change being recorded.
    pub(crate) fn at_seq(&mut self, at: u64) -> &mut Self {
        self.at = self.at.max(at);
        self
    }

    /// Records an arrival.
    pub(crate) fn joined(&mut self, nick: String, member: MemberId) {
        self.joiner = self.changes.is_empty().then_some(member);
        self.changes.push(PresenceChange {
            nick,
            present: true,
        });
    }

    /// Records a departure.
    pub(crate) fn left(&mut self, nick: String) {
        self.joiner = None;
        self.changes.push(PresenceChange {
            nick,
            present: false,
        });
    }

    /// Whether nothing waits.
    pub(crate) fn is_empty(&self) -> bool {
        self.changes.is_empty()
    }

    /// The frame that carries what waits, given the room's participant
    /// count now, and the member (if any) who must not get it. Empties the
    /// batch.
    pub(crate) fn take(&mut self, count: usize) -> Option<(ServerFrame, Option<MemberId>)> {
        let joiner = self.joiner.take();
        let mut changes = std::mem::take(&mut self.changes);
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
            _ => Some((ServerFrame::Presence { changes, count }, None)),
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
        let ServerFrame::Presence { changes, count } = frame else {
            panic!("{frame:?}")
        };
        let order: Vec<(&str, bool)> = changes
            .iter()
            .map(|c| (c.nick.as_str(), c.present))
            .collect();
        assert_eq!(order, vec![("ann", true), ("bob", false), ("bob", true)]);
        assert_eq!(count, 2);
    }
}
