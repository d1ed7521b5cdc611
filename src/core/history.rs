//! A room's recent messages: a ring of at most `capacity` entries in id
//! order, answering "everything after cursor N" and "the last K". It also
//! remembers which (resume token, client ref) produced each kept message, so
//! a client that resends after a lost ack gets the original id back instead
//! of a duplicate; that memory is dropped with the entry, keeping it bounded.

use std::collections::{HashMap, VecDeque};
use std::sync::Arc;

use crate::protocol::ChatMessage;

/// Who sent a kept message, for idempotent resends.
type Origin = (Arc<str>, String);

/// The bounded history of one room.
#[derive(Debug)]
pub(crate) struct History {
    entries: VecDeque<(ChatMessage, Option<Origin>)>,
    by_origin: HashMap<Origin, u64>,
    capacity: usize,
}

/// Messages after a cursor, and whether some were already dropped.
#[derive(Debug, PartialEq, Eq)]
pub(crate) struct Replay {
    /// The messages, oldest first.
    pub(crate) messages: Vec<ChatMessage>,
    /// True when the cursor is older than the oldest kept message.
    pub(crate) gap: bool,
}

impl History {
    /// An empty history keeping at most `capacity` messages.
    pub(crate) fn new(capacity: usize) -> Self {
        History {
            entries: VecDeque::with_capacity(capacity.min(64)),
            by_origin: HashMap::new(),
            capacity: capacity.max(1),
        }
    }

    /// Appends a message (its id must be above every kept id).
    pub(crate) fn push(&mut self, message: ChatMessage, origin: Option<Origin>) {
        if self.entries.len() == self.capacity {
            if let Some((_, Some(old))) = self.entries.pop_front() {
                self.by_origin.remove(&old);
            }
        }
        if let Some(origin) = &origin {
            self.by_origin.insert(origin.clone(), message.id);
        }
        self.entries.push_back((message, origin));
    }

    /// The id already given to this (token, ref), if still kept.
    pub(crate) fn id_for(&self, token: &Arc<str>, reference: &str) -> Option<u64> {
        self.by_origin
            .get(&(token.clone(), reference.to_owned()))
            .copied()
    }

    /// The newest `count` messages.
    pub(crate) fn last(&self, count: usize) -> Vec<ChatMessage> {
        let skip = self.entries.len().saturating_sub(count);
        self.entries
            .iter()
            .skip(skip)
            .map(|(m, _)| m.clone())
            .collect()
    }

    /// Every kept message with an id above `cursor`.
    pub(crate) fn after(&self, cursor: u64) -> Replay {
        let oldest = self.entries.front().map(|(m, _)| m.id);
        let start = self.entries.partition_point(|(m, _)| m.id <= cursor);
        Replay {
            messages: self
                .entries
                .range(start..)
                .map(|(m, _)| m.clone())
                .collect(),
            gap: oldest.is_some_and(|oldest| cursor + 1 < oldest),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn msg(id: u64) -> ChatMessage {
        ChatMessage {
            id,
            ts: id,
            nick: "n".into(),
            text: format!("m{id}"),
        }
    }

    fn ids(messages: &[ChatMessage]) -> Vec<u64> {
        messages.iter().map(|m| m.id).collect()
    }

    #[test]
    fn keeps_the_newest_and_replays_after_a_cursor() {
        let mut history = History::new(3);
        for id in 1..=5 {
            history.push(msg(id), None);
        }
        assert_eq!(ids(&history.last(2)), vec![4, 5]);
        assert_eq!(ids(&history.last(10)), vec![3, 4, 5]);
        assert_eq!(
            history.after(3),
            Replay {
                messages: vec![msg(4), msg(5)],
                gap: false
            }
        );
        assert!(
            !history.after(2).gap,
            "cursor 2 then 3 kept: nothing missed"
        );
        assert!(history.after(1).gap, "message 2 is gone");
        assert_eq!(ids(&history.after(5).messages), Vec::<u64>::new());
        assert!(!History::new(3).after(9).gap);
    }

    #[test]
    fn remembers_origins_only_while_the_entry_is_kept() {
        let token: Arc<str> = Arc::from("t");
        let mut history = History::new(2);
        history.push(msg(1), Some((token.clone(), "a".into())));
        history.push(msg(2), Some((token.clone(), "b".into())));
        assert_eq!(history.id_for(&token, "a"), Some(1));
        history.push(msg(3), None);
        assert_eq!(history.id_for(&token, "a"), None);
        assert_eq!(history.id_for(&token, "b"), Some(2));
    }
}
