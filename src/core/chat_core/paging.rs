//! Paging back: a member's `history` request for the messages of its room
//! older than an id. Checked here (in a room, a `ref`, `limit` and `before`
//! that make sense, the client's allowance of such requests), read from the
//! backplane (which keeps the room's history; this instance's mirror may
//! hold less of it), held to a byte bound, and answered to the asker alone:
//! nobody else in the room is sent or changed anything. Part of the pure
//! core; it sees `ChatCore`'s private state as a child module.

use super::{page_limit, refused, to_member, ChatCore, Effect, MemberId};
use crate::core::backplane::Refusal;
use crate::core::limits::MAX_HISTORY_LIMIT;
use crate::core::mirror::Mirror;
use crate::protocol::{ErrorCode, ServerFrame, DEFAULT_HISTORY_LIMIT};

/// A `history` frame's fields.
pub(super) struct HistoryAsk {
    /// Only messages below this id.
    pub(super) before: u64,
    /// Most messages wanted, if given.
    pub(super) limit: Option<u64>,
    /// The client's reference, echoed.
    pub(super) reference: Option<String>,
}

impl ChatCore {
    /// Answers a `history` request of connection `id`: the page, or one
    /// error naming what was wrong, each carrying the request's `ref`.
    pub(super) fn page_back(&mut self, id: MemberId, ask: HistoryAsk, now_ms: u64) -> Vec<Effect> {
        let HistoryAsk {
            before,
            limit,
            reference,
        } = ask;
        let refuse = |code, message: String, reference: Option<String>| {
            refused(id, Refusal::new(code, message), reference)
        };
        let (room_name, token) = match self.place_for(id, &reference, "asking for its history") {
            Ok(place) => place,
            Err(effects) => return effects,
        };
        let limit = match page_limit(limit, DEFAULT_HISTORY_LIMIT, MAX_HISTORY_LIMIT) {
            Ok(limit) => limit,
            Err(refusal) => return refused(id, refusal, reference),
        };
        // Every id the client holds came through this mirror, so its
        // newest id bounds any `before` the client can mean.
        let bound = self
            .rooms
            .get(&room_name)
            .map_or(0, Mirror::cursor)
            .saturating_add(1);
        if before == 0 || before > bound {
            return refuse(
                ErrorCode::InvalidBefore,
                format!("before must be 1 to {bound} in {room_name} (its newest id + 1); it was {before}"),
                reference,
            );
        }
        if let Err(retry_ms) = self.share.allowances().history.take(&token, now_ms) {
            let mut refusal = Refusal::new(
                ErrorCode::RateLimited,
                format!("too many history requests; retry in {retry_ms} ms"),
            );
            refusal.retry_ms = Some(retry_ms);
            return refused(id, refusal, reference);
        }
        // At most MAX_HISTORY_LIMIT: the cast cannot truncate.
        match self.backplane.before(&room_name, before, limit as usize) {
            Ok(page) => {
                let page = page.within(self.limits.history_page_bytes());
                vec![to_member(
                    id,
                    ServerFrame::History {
                        reference,
                        before,
                        messages: page.messages,
                        more: page.more,
                    },
                )]
            }
            Err(refusal) => refused(id, refusal, reference),
        }
    }
}

#[cfg(test)]
mod tests;
