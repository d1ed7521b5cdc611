//! A room's recent messages: a ring in id order, bounded twice (at most
//! `capacity` messages and at most `max_bytes` as [`cost`] counts them),
//! answering "everything after cursor N", "the last K" and "the K before
//! id N" (a [`Page`], for a client paging back). It also
//! remembers which (resume token, client ref) produced each kept message, so
//! a client that resends after a lost ack gets the original id back instead
//! of a duplicate; that memory is dropped with the entry, keeping it bounded.
//! The index holds a keyed 64-bit hash of the pair and the id (16 bytes a
//! slot, where the pair itself took 48), and a hit is checked against the
//! entry, so a collision can only miss a resend, never acknowledge one
//! falsely.
//! Messages are held as `Arc<ChatMessage>`, the same allocation the log
//! entry, the other histories and the frames hold, so keeping a message in
//! three places costs it once. The bound across rooms is the holder's
//! ([`evict_least_recent`] applies it).

use std::collections::hash_map::RandomState;
use std::collections::{HashMap, VecDeque};
use std::hash::{BuildHasher, Hash, Hasher};
use std::sync::Arc;

use crate::protocol::ChatMessage;

/// Who sent a kept message, for idempotent resends.
type Origin = (Arc<str>, String);

/// Bytes a kept message costs beyond its nickname and text: the message
/// struct and its `Arc` header (80 B), its slot in the ring with its
/// origin (48 B), the origin's ref string (up to 32 B), its slot in the
/// origin index (17 B, up to 4 times that in a table a quarter full after
/// tombstones make it grow), and the allocator's rounding of the two
/// strings. Counted generously so the byte bounds bound the heap, not just
/// the text.
pub(crate) const MESSAGE_OVERHEAD: usize = 224;

/// The bytes a kept message is counted as.
pub(crate) fn cost(message: &ChatMessage) -> usize {
    MESSAGE_OVERHEAD + message.nick.len() + message.text.len()
}

/// Bytes of a message's JSON object beyond its two strings: the keys, the
/// id and the timestamp (`{"id":…,"ts":…,"nick":"","text":""}`, with both
/// numbers at their longest).
const FRAMED_OVERHEAD: usize = 80;

/// The bytes a message takes once written as JSON, its strings escaped: a
/// quote or a backslash takes two bytes, a control character up to six.
pub(crate) fn framed_len(message: &ChatMessage) -> usize {
    FRAMED_OVERHEAD + escaped_len(&message.nick) + escaped_len(&message.text)
}

fn escaped_len(text: &str) -> usize {
    text.bytes()
        .map(|b| match b {
            b'"' | b'\\' => 2,
            0..=0x1f => 6,
            _ => 1,
        })
        .sum()
}

/// The bounded history of one room.
#[derive(Debug)]
pub(crate) struct History {
    entries: VecDeque<(Arc<ChatMessage>, Option<Origin>)>,
    /// An origin's hash to the id of the newest kept message with it.
    by_origin: HashMap<u64, u64>,
    hasher: RandomState,
    capacity: usize,
    max_bytes: usize,
    bytes: usize,
    /// Id of the newest message dropped (0 when none), so a cursor before
    /// it is a gap even once nothing is kept.
    dropped_through: u64,
}

/// Messages after a cursor, and whether some were already dropped.
#[derive(Debug, PartialEq, Eq)]
pub(crate) struct Replay {
    /// The messages, oldest first.
    pub(crate) messages: Vec<Arc<ChatMessage>>,
    /// True when the cursor is older than the oldest kept message.
    pub(crate) gap: bool,
}

impl Replay {
    /// Keeps the newest messages that take `max_bytes` at most as JSON
    /// ([`framed_len`]); when some are left out and `missed` (they were
    /// asked for by a cursor), the replay is marked as a gap.
    pub(crate) fn within(mut self, max_bytes: usize, missed: bool) -> Replay {
        let keep = newest_within(&self.messages, max_bytes);
        let cut = self.messages.len() - keep;
        if cut > 0 {
            self.messages.drain(..cut);
            self.gap |= missed;
        }
        self
    }
}

/// How many of the newest `messages` fit in `max_bytes` written as a JSON
/// array ([`framed_len`] each, and a comma).
fn newest_within(messages: &[Arc<ChatMessage>], max_bytes: usize) -> usize {
    let mut total = 0;
    messages
        .iter()
        .rev()
        .take_while(|m| {
            total += framed_len(m) + 1;
            total <= max_bytes
        })
        .count()
}

/// A page of older messages: the newest kept messages below an id, and
/// whether older ones are kept still. What every backplane answers to
/// `Backplane::before`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Page {
    /// The messages, oldest first, ids consecutive.
    pub(crate) messages: Vec<Arc<ChatMessage>>,
    /// Whether a message older than the first one here is kept (when the
    /// page is empty: whether any message below the id asked for is).
    pub(crate) more: bool,
}

impl Page {
    /// Keeps the newest messages that take `max_bytes` at most as JSON
    /// ([`framed_len`]), and always the newest one, so a client paging
    /// back always moves; when some are left out, `more` is set, since
    /// they are still kept.
    pub(crate) fn within(mut self, max_bytes: usize) -> Page {
        let keep = newest_within(&self.messages, max_bytes).max(1);
        let cut = self.messages.len().saturating_sub(keep);
        if cut > 0 {
            self.messages.drain(..cut);
            self.more = true;
        }
        self
    }
}

impl History {
    /// An empty history keeping at most `capacity` messages and
    /// `max_bytes` bytes. The newest message is kept whatever its size.
    pub(crate) fn new(capacity: usize, max_bytes: usize) -> Self {
        History {
            entries: VecDeque::with_capacity(capacity.min(64)),
            by_origin: HashMap::new(),
            hasher: RandomState::new(),
            capacity: capacity.max(1),
            max_bytes,
            bytes: 0,
            dropped_through: 0,
        }
    }

    /// Bytes held, as [`cost`] counts them.
    pub(crate) fn bytes(&self) -> usize {
        self.bytes
    }

    /// Appends a message (its id must be above every kept id), dropping the
    /// oldest past either bound.
    pub(crate) fn push(&mut self, message: Arc<ChatMessage>, origin: Option<Origin>) {
        if let Some((token, reference)) = &origin {
            self.by_origin
                .insert(self.origin_key(token, reference), message.id);
        }
        self.bytes += cost(&message);
        self.entries.push_back((message, origin));
        while self.entries.len() > self.capacity
            || (self.bytes > self.max_bytes && self.entries.len() > 1)
        {
            self.drop_oldest();
        }
    }

    /// Drops the oldest kept message; answers the bytes it freed (0 when
    /// nothing is kept).
    pub(crate) fn drop_oldest(&mut self) -> usize {
        let Some((message, origin)) = self.entries.pop_front() else {
            return 0;
        };
        if let Some((token, reference)) = origin {
            let key = self.origin_key(&token, &reference);
            if self.by_origin.get(&key) == Some(&message.id) {
                self.by_origin.remove(&key);
            }
        }
        let freed = cost(&message);
        self.bytes -= freed;
        self.dropped_through = self.dropped_through.max(message.id);
        if self.entries.is_empty() {
            // Give back what the ring grew to: a room emptied by the global
            // bound should not keep its high-water mark.
            self.entries = VecDeque::new();
            self.by_origin = HashMap::new();
        }
        freed
    }

    /// Drops the messages accepted before `cutoff_ms`, oldest first (ids
    /// and times rise together); answers the bytes freed.
    pub(crate) fn drop_sent_before(&mut self, cutoff_ms: u64) -> usize {
        let mut freed = 0;
        while self.entries.front().is_some_and(|(m, _)| m.ts < cutoff_ms) {
            freed += self.drop_oldest();
        }
        freed
    }

    /// Records that messages up to `id` exist but are not kept (a history
    /// started from a partial snapshot).
    pub(crate) fn dropped_through(&mut self, id: u64) {
        self.dropped_through = self.dropped_through.max(id);
    }

    /// The id already given to this (token, ref), if still kept.
    pub(crate) fn id_for(&self, token: &Arc<str>, reference: &str) -> Option<u64> {
        let id = *self.by_origin.get(&self.origin_key(token, reference))?;
        let at = self.entries.binary_search_by_key(&id, |(m, _)| m.id).ok()?;
        match &self.entries[at].1 {
            Some((t, r)) if **t == **token && r == reference => Some(id),
            _ => None,
        }
    }

    fn origin_key(&self, token: &str, reference: &str) -> u64 {
        let mut hasher = self.hasher.build_hasher();
        token.hash(&mut hasher);
        reference.hash(&mut hasher);
        hasher.finish()
    }

    /// The newest `count` messages.
    pub(crate) fn last(&self, count: usize) -> Vec<Arc<ChatMessage>> {
        let skip = self.entries.len().saturating_sub(count);
        self.entries
            .iter()
            .skip(skip)
            .map(|(m, _)| m.clone())
            .collect()
    }

    /// Every kept message with an id above `cursor`.
    pub(crate) fn after(&self, cursor: u64) -> Replay {
        // Ids are consecutive within a room: anything between the cursor
        // and the oldest kept id was dropped.
        let floor = self
            .entries
            .front()
            .map_or(0, |(m, _)| m.id - 1)
            .max(self.dropped_through);
        let start = self.entries.partition_point(|(m, _)| m.id <= cursor);
        Replay {
            messages: self
                .entries
                .range(start..)
                .map(|(m, _)| m.clone())
                .collect(),
            gap: cursor < floor,
        }
    }

    /// The newest `limit` kept messages with an id below `before`, oldest
    /// first, and whether older ones are kept.
    pub(crate) fn before(&self, before: u64, limit: usize) -> Page {
        let end = self.entries.partition_point(|(m, _)| m.id < before);
        let start = end.saturating_sub(limit);
        Page {
            messages: self
                .entries
                .range(start..end)
                .map(|(m, _)| m.clone())
                .collect(),
            more: start > 0,
        }
    }
}

/// Applies a bound across rooms: frees at least `excess` bytes by dropping
/// the oldest messages of the room least recently active (its newest seq,
/// higher is more recent) among those keeping any, then of the next, and
/// answers the bytes freed. `rooms` yields (last activity, history). Runs
/// only past the bound; there it usually drops one message, after one walk
/// over the rooms to find the least recent (no sort).
pub(crate) fn evict_least_recent<'a>(
    rooms: impl Iterator<Item = (u64, &'a mut History)>,
    mut excess: usize,
) -> usize {
    let mut rooms: Vec<(u64, &mut History)> = rooms.filter(|(_, h)| h.bytes > 0).collect();
    let mut freed = 0;
    while excess > 0 {
        let Some(least) = (0..rooms.len()).min_by_key(|&i| rooms[i].0) else {
            break;
        };
        let history = &mut rooms[least].1;
        while excess > 0 && history.bytes > 0 {
            let bytes = history.drop_oldest();
            freed += bytes;
            excess = excess.saturating_sub(bytes);
        }
        rooms.swap_remove(least);
    }
    freed
}

#[cfg(test)]
mod tests {
    use super::*;

    fn msg(id: u64) -> Arc<ChatMessage> {
        Arc::new(ChatMessage {
            id,
            ts: id,
            nick: "n".into(),
            text: format!("m{id}"),
        })
    }

    #[test]
    fn messages_past_an_age_go_oldest_first_and_are_counted_out() {
        let mut history = History::new(10, usize::MAX);
        for id in 1..=5 {
            history.push(msg(id), None);
        }
        let before = history.bytes();
        // msg(id) is accepted at time `id`: before 4 means ids 1 to 3.
        let freed = history.drop_sent_before(4);
        assert_eq!(freed, 3 * cost(&msg(1)));
        assert_eq!(history.bytes(), before - freed);
        assert_eq!(
            history.last(10).iter().map(|m| m.id).collect::<Vec<_>>(),
            [4, 5]
        );
        assert!(
            history.before(4, 10).messages.is_empty(),
            "nothing older is kept"
        );
        assert_eq!(history.drop_sent_before(4), 0, "nothing more to drop");
    }

    #[test]
    fn a_message_is_measured_as_its_json_with_escapes() {
        for text in [
            "plain",
            "say \"hi\"",
            "back\\slash",
            "tab\there",
            "\u{1}",
            "é 🎉",
        ] {
            let message = ChatMessage {
                id: u64::MAX,
                ts: u64::MAX,
                nick: "a\"b".into(),
                text: text.into(),
            };
            let json = serde_json::to_string(&message).unwrap();
            assert!(json.len() <= framed_len(&message), "{json}");
        }
    }

    #[test]
    fn a_replay_keeps_the_newest_that_fit_and_says_what_it_left_out() {
        let replay = || Replay {
            messages: (1..=5).map(msg).collect(),
            gap: false,
        };
        let each = framed_len(&msg(1)) + 1;
        let cut = replay().within(2 * each, true);
        assert_eq!(
            cut.messages.iter().map(|m| m.id).collect::<Vec<_>>(),
            [4, 5]
        );
        assert!(cut.gap, "a resume that asked for them has missed some");
        assert!(
            !replay().within(2 * each, false).gap,
            "a first join has not"
        );
        let whole = replay().within(5 * each, true);
        assert_eq!(whole.messages.len(), 5);
        assert!(!whole.gap);
    }

    fn ids(messages: &[Arc<ChatMessage>]) -> Vec<u64> {
        messages.iter().map(|m| m.id).collect()
    }

    #[test]
    fn keeps_the_newest_and_replays_after_a_cursor() {
        let mut history = History::new(3, usize::MAX);
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
        assert!(!History::new(3, usize::MAX).after(9).gap);
    }

    #[test]
    fn pages_back_from_an_id_to_the_oldest_kept() {
        let mut history = History::new(5, usize::MAX);
        for id in 1..=8 {
            history.push(msg(id), None);
        }
        let page = history.before(9, 2);
        assert_eq!((ids(&page.messages), page.more), (vec![7, 8], true));
        let page = history.before(7, 2);
        assert_eq!((ids(&page.messages), page.more), (vec![5, 6], true));
        let page = history.before(5, 2);
        assert_eq!(
            (ids(&page.messages), page.more),
            (vec![4], false),
            "1 to 3 are no longer kept"
        );
        let page = history.before(4, 2);
        assert_eq!((ids(&page.messages), page.more), (vec![], false));
        let page = history.before(6, 2);
        assert_eq!(
            (ids(&page.messages), page.more),
            (vec![4, 5], false),
            "exactly the oldest two: nothing older"
        );
        let page = history.before(u64::MAX, 100);
        assert_eq!(ids(&page.messages), vec![4, 5, 6, 7, 8]);
        assert!(!History::new(5, usize::MAX).before(1, 5).more);
    }

    #[test]
    fn a_page_keeps_its_newest_that_fit_and_at_least_one() {
        let page = || Page {
            messages: (1..=5).map(msg).collect(),
            more: false,
        };
        let each = framed_len(&msg(1)) + 1;
        let cut = page().within(2 * each);
        assert_eq!((ids(&cut.messages), cut.more), (vec![4, 5], true));
        let whole = page().within(5 * each);
        assert_eq!((whole.messages.len(), whole.more), (5, false));
        let tiny = page().within(1);
        assert_eq!((ids(&tiny.messages), tiny.more), (vec![5], true));
        let empty = Page {
            messages: Vec::new(),
            more: false,
        };
        assert_eq!(empty.clone().within(0), empty);
    }

    #[test]
    fn remembers_origins_only_while_the_entry_is_kept() {
        let token: Arc<str> = Arc::from("t");
        let mut history = History::new(2, usize::MAX);
        history.push(msg(1), Some((token.clone(), "a".into())));
        history.push(msg(2), Some((token.clone(), "b".into())));
        assert_eq!(history.id_for(&token, "a"), Some(1));
        history.push(msg(3), None);
        assert_eq!(history.id_for(&token, "a"), None);
        assert_eq!(history.id_for(&token, "b"), Some(2));
    }

    #[test]
    fn an_origin_is_the_pair_and_outlives_an_older_copy_of_itself() {
        let (ann, bob): (Arc<str>, Arc<str>) = (Arc::from("ann"), Arc::from("bob"));
        let mut history = History::new(3, usize::MAX);
        history.push(msg(1), Some((ann.clone(), "r".into())));
        history.push(msg(2), Some((bob.clone(), "r".into())));
        assert_eq!(history.id_for(&ann, "r"), Some(1));
        assert_eq!(history.id_for(&bob, "r"), Some(2));
        assert_eq!(history.id_for(&ann, "x"), None);
        // The same pair again (a client that reuses refs): the newer wins,
        // and dropping the older does not forget it.
        history.push(msg(3), Some((ann.clone(), "r".into())));
        history.push(msg(4), None);
        assert_eq!(history.id_for(&ann, "r"), Some(3));
        assert_eq!(history.by_origin.len(), 2, "one slot an origin");
    }

    #[test]
    fn the_byte_bound_drops_the_oldest_but_keeps_the_newest() {
        let one = cost(&msg(1));
        let mut history = History::new(100, 3 * one);
        for id in 1..=5 {
            history.push(msg(id), None);
        }
        assert_eq!(ids(&history.last(10)), vec![3, 4, 5]);
        assert_eq!(history.bytes(), 3 * one);
        assert!(history.after(1).gap);
        assert!(!history.after(2).gap);
        let mut tiny = History::new(100, 1);
        tiny.push(msg(1), None);
        tiny.push(msg(2), None);
        assert_eq!(ids(&tiny.last(10)), vec![2], "the newest stays");
    }

    #[test]
    fn a_history_emptied_by_eviction_still_reports_the_gap() {
        let mut history = History::new(10, usize::MAX);
        history.push(msg(1), None);
        history.push(msg(2), None);
        while history.drop_oldest() > 0 {}
        assert_eq!(history.bytes(), 0);
        assert!(history.after(1).gap);
        assert!(!history.after(2).gap);
        let mut partial = History::new(10, usize::MAX);
        partial.dropped_through(7);
        assert!(partial.after(3).gap);
    }

    #[test]
    fn eviction_takes_the_least_recent_rooms_oldest_first() {
        let one = cost(&msg(1));
        let mut quiet = History::new(10, usize::MAX);
        let mut busy = History::new(10, usize::MAX);
        for id in 1..=3 {
            quiet.push(msg(id), None);
            busy.push(msg(id), None);
        }
        let rooms = vec![(9, &mut busy), (2, &mut quiet)];
        let freed = evict_least_recent(rooms.into_iter(), 4 * one);
        assert_eq!(freed, 4 * one);
        assert_eq!(quiet.bytes(), 0, "the quiet room goes first, whole");
        assert_eq!(
            ids(&busy.last(10)),
            vec![2, 3],
            "then the busy one's oldest"
        );
    }
}
