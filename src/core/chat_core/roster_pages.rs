//! Paging through the roster: a member's `roster` request (minor version
//! 2) for the members of its room in name order, after a cursor and
//! optionally only those whose name starts with a prefix. Checked here (in
//! a room, a `ref`, `limit`, `after` and `prefix` that make sense), read
//! from the room's mirror (which every instance keeps whole, from the same
//! log, so any instance answers the same page), held to a byte bound, and
//! answered to the asker alone. It costs one frame token like any frame and
//! nothing else: a page is small (`Limits::roster_page_bytes`), so a burst
//! of them fits the asker's outbox. Part of the pure core; it sees
//! `ChatCore`'s private state as a child module.

use super::{page_limit, refused, to_member, ChatCore, Effect, MemberId};
use crate::core::backplane::Refusal;
use crate::core::limits::MAX_ROSTER_LIMIT;
use crate::core::roster::PageAsk;
use crate::protocol::{ErrorCode, ServerFrame, DEFAULT_ROSTER_LIMIT};

/// A `roster` frame's fields.
pub(super) struct RosterAsk {
    /// Only names after this one.
    pub(super) after: Option<String>,
    /// Only names starting with this.
    pub(super) prefix: Option<String>,
    /// Most members wanted, if given.
    pub(super) limit: Option<u64>,
    /// The client's reference, echoed.
    pub(super) reference: Option<String>,
}

impl ChatCore {
    /// Answers a `roster` request of connection `id`: the page, or one
    /// error naming what was wrong, each carrying the request's `ref`.
    pub(super) fn page_roster(&mut self, id: MemberId, ask: RosterAsk) -> Vec<Effect> {
        let RosterAsk {
            after,
            prefix,
            limit,
            reference,
        } = ask;
        let refuse = |code, message: String, reference: Option<String>| {
            refused(id, Refusal::new(code, message), reference)
        };
        let (room_name, _) = match self.place_for(id, &reference, "asking for its roster") {
            Ok(place) => place,
            Err(effects) => return effects,
        };
        let limit = match page_limit(limit, DEFAULT_ROSTER_LIMIT, MAX_ROSTER_LIMIT) {
            Ok(limit) => limit,
            Err(refusal) => return refused(id, refusal, reference),
        };
        // Both are names or the start of one: anything longer matches
        // nobody, and is a client's mistake.
        let max = self.limits.max_nick_chars;
        for (what, value) in [("after", &after), ("prefix", &prefix)] {
            if value.as_ref().is_some_and(|v| v.chars().count() > max) {
                return refuse(
                    ErrorCode::BadFrame,
                    format!("{what} is longer than {max} characters"),
                    reference,
                );
            }
        }
        let Some(room) = self.rooms.get(&room_name) else {
            return Vec::new(); // a member's room is always mirrored
        };
        let page = room.roster_page(PageAsk {
            after: after.as_deref(),
            prefix: prefix.as_deref(),
            // At most MAX_ROSTER_LIMIT: the cast cannot truncate.
            limit: limit as usize,
            max_bytes: self.limits.roster_page_bytes(),
        });
        vec![to_member(
            id,
            ServerFrame::Roster {
                reference,
                members: page.entries,
                next: page.next,
                count: room.len(),
            },
        )]
    }
}

#[cfg(test)]
mod tests;
