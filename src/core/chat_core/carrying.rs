//! A connection moving between an instance's room shards: what it carries
//! out of one shard's core ([`Carried`]), how the next core takes it in with
//! its old place still its own until its join there is decided, and
//! whether that join was taken. Part of the pure core; it sees
//! `ChatCore`'s private state as a child module.

use std::sync::Arc;

use super::{Attachment, ChatCore, MemberId};
use crate::core::backplane::ResumeToken;
use crate::core::client_key::ClientKey;
use crate::core::rules::room_name::RoomName;

/// A connection's state as it moves from one shard to another
/// (`room_server/shards.rs`): everything its attachment holds, and the
/// place it had, with the log seq its old shard had applied for it.
#[derive(Debug, Clone)]
pub(crate) struct Carried {
    /// Whose address it comes from.
    pub(crate) client: ClientKey,
    /// A polling session's token.
    pub(crate) poll: Option<Arc<str>>,
    /// Its member token, if it has one.
    pub(crate) token: Option<ResumeToken>,
    /// The minor version it reads.
    pub(crate) minor: u32,
    /// The room it was in (or still is, its move being decided), and the
    /// log seq up to which it was sent that room's frames.
    pub(crate) place: Option<(RoomName, u64)>,
}

impl ChatCore {
    /// Registers connection `id` arriving from another shard with what it
    /// carried; its old place stays its own until its join here is decided
    /// (a join with its token moves it, one with another token leaves it).
    pub(crate) fn carry_in(&mut self, id: MemberId, carried: Carried) {
        let away = carried
            .place
            .and_then(|(room, seq)| Some((room, carried.token.clone()?, seq)));
        self.connections.insert(
            id,
            Attachment {
                room: None,
                token: carried.token,
                client: carried.client,
                poll: carried.poll,
                minor: carried.minor,
                away,
            },
        );
    }

    /// Hands connection `id` over to another shard: what it carries, and
    /// it is forgotten here without its room being told (it is still a
    /// member there until its join elsewhere moves it).
    pub(crate) fn carry_out(&mut self, id: MemberId) -> Option<Carried> {
        let conn = self.connections.get(&id)?;
        let place = match (&conn.room, &conn.away) {
            (Some(room), _) => Some((room.clone(), self.rooms.get(room).map_or(0, |r| r.seq))),
            (None, Some((room, _, seq))) => Some((room.clone(), *seq)),
            (None, None) => None,
        };
        let carried = Carried {
            client: conn.client,
            poll: conn.poll.clone(),
            token: conn.token.clone(),
            minor: conn.minor,
            place,
        };
        self.detach(id);
        Some(carried)
    }

    /// Whether connection `id`'s join of `room` was taken (it is in the
    /// room, or its entry is on its way); ends its claim to a place on
    /// another shard when it was.
    pub(crate) fn settle(&mut self, id: MemberId, room: &RoomName) -> bool {
        let taken = self.joining.get(&id) == Some(room)
            || self.connections.get(&id).and_then(|c| c.room.as_ref()) == Some(room);
        if taken {
            if let Some(conn) = self.connections.get_mut(&id) {
                conn.away = None;
            }
        }
        taken
    }
}
