//! The room shards: an instance's rooms spread over several ChatRoom
//! actors, each on a thread of its own, so that many busy rooms use every
//! core. A room always belongs to the same shard, [`shard_of`] its name (a
//! hash with fixed keys, the same in every process and every release that
//! keeps this function). A connection is served by one shard at a time:
//! its "home" shard ([`RoomShards::connect`]) until it joins a room, then
//! that room's shard. [`RoomShards`] is the handle the transports hold: it
//! sends each message to the shard serving the connection, as
//! [`Placements`] records it.
//!
//! Moving is the shards' business, not the transports': the shard that
//! receives a `join` for a room of another shard hands the connection
//! over (`chat_room.rs`, [`MoveIn`](crate::room_server::chat_room::MoveIn))
//! and only then records the new shard, so anything sent after the
//! record changed arrives after the handover, and anything that reached
//! the old shard first is passed on behind it. With one shard, nothing
//! moves and no placement is recorded: the ChatRoom behaves as it always
//! did.

use std::collections::HashMap;
use std::sync::{Arc, Mutex, PoisonError};

use actix::prelude::*;

use crate::core::backplane::LeftWhy;
use crate::core::ids::MemberId;
use crate::core::rules::room_name::RoomName;
use crate::protocol::ClientFrame;
use crate::room_server::chat_room::{
    Attach, ChatRoom, Connect, Disconnect, FindPoll, Inbound, Reattach,
};

/// The shard that owns `room` among `shards`: FNV-1a (64-bit, its
/// published offset and prime) over the room's canonical name, then
/// MurmurHash3's 64-bit finalizer so that short names that differ in one
/// byte spread too; fixed constants, so every instance and every restart
/// agrees without coordinating.
pub(crate) fn shard_of(room: &RoomName, shards: usize) -> usize {
    if shards <= 1 {
        return 0;
    }
    let mut hash: u64 = 0xcbf2_9ce4_8422_2325;
    for byte in room.as_str().bytes() {
        hash ^= u64::from(byte);
        hash = hash.wrapping_mul(0x0000_0100_0000_01b3);
    }
    hash ^= hash >> 33;
    hash = hash.wrapping_mul(0xff51_afd7_ed55_8ccd);
    hash ^= hash >> 33;
    hash = hash.wrapping_mul(0xc4ce_b9fe_1a85_ec53);
    hash ^= hash >> 33;
    // The remainder is below `shards`, a usize.
    (hash % shards as u64) as usize
}

/// The room a `join` frame names (the default room when it names none),
/// if the name is valid.
pub(crate) fn joined_room(frame: &ClientFrame) -> Option<RoomName> {
    match frame {
        ClientFrame::Join { room, .. } => room
            .as_deref()
            .map_or_else(|| Ok(RoomName::default_room()), RoomName::parse)
            .ok(),
        _ => None,
    }
}

/// Stripes of the placement map: connections are spread over this many
/// locks, so the transports' lookups on many threads seldom meet.
const STRIPES: usize = 64;

/// Which shard serves each connection, for the instance's connections.
pub(crate) struct Placements {
    stripes: Vec<Mutex<HashMap<MemberId, usize>>>,
}

impl Placements {
    fn new() -> Self {
        Placements {
            stripes: (0..STRIPES).map(|_| Mutex::new(HashMap::new())).collect(),
        }
    }

    fn stripe(&self, id: MemberId) -> std::sync::MutexGuard<'_, HashMap<MemberId, usize>> {
        // The remainder is below STRIPES, which fits a usize.
        self.stripes[(id % STRIPES as u64) as usize]
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
    }

    /// The shard serving `id`, if recorded.
    pub(crate) fn get(&self, id: MemberId) -> Option<usize> {
        self.stripe(id).get(&id).copied()
    }

    /// Records that shard `shard` serves `id`.
    pub(crate) fn set(&self, id: MemberId, shard: usize) {
        self.stripe(id).insert(id, shard);
    }

    /// Forgets `id`, which has ended.
    pub(crate) fn remove(&self, id: MemberId) {
        let mut stripe = self.stripe(id);
        stripe.remove(&id);
        crate::core::shrink::when_sparse(&mut stripe);
    }
}

/// The instance's shards, as the transports and the shards reach them.
#[derive(Clone)]
pub(crate) struct RoomShards {
    shards: Arc<[Addr<ChatRoom>]>,
    placements: Arc<Placements>,
}

impl RoomShards {
    /// The handle on these started shards (at least one).
    pub(crate) fn new(shards: Vec<Addr<ChatRoom>>) -> Self {
        RoomShards {
            shards: shards.into(),
            placements: Arc::new(Placements::new()),
        }
    }

    /// How many shards there are.
    pub(crate) fn len(&self) -> usize {
        self.shards.len()
    }

    /// Every shard, by index.
    pub(crate) fn all(&self) -> &[Addr<ChatRoom>] {
        &self.shards
    }

    /// Shard `index`.
    pub(crate) fn shard(&self, index: usize) -> &Addr<ChatRoom> {
        &self.shards[index]
    }

    /// The index of the shard owning `room`.
    pub(crate) fn index_of(&self, room: &RoomName) -> usize {
        shard_of(room, self.shards.len())
    }

    /// The placements, for the shards to move connections.
    pub(crate) fn placements(&self) -> &Placements {
        &self.placements
    }

    /// The index of the shard serving connection `id`.
    pub(crate) fn serving(&self, id: MemberId) -> usize {
        if self.shards.len() == 1 {
            return 0;
        }
        self.placements.get(id).unwrap_or_else(|| self.home(id))
    }

    /// The shard a connection starts on when it names no room yet.
    fn home(&self, id: MemberId) -> usize {
        // The remainder is below the number of shards, a usize.
        (id % self.shards.len() as u64) as usize
    }

    fn of(&self, id: MemberId) -> &Addr<ChatRoom> {
        &self.shards[self.serving(id)]
    }

    /// Registers a new connection: with the shard of `room` when the
    /// transport knows where it goes (a polling session opens with its
    /// join), else with its home shard.
    pub(crate) fn connect(&self, msg: Connect, room: Option<&RoomName>) {
        let index = match room {
            Some(room) => self.index_of(room),
            None => self.home(msg.id),
        };
        if self.shards.len() > 1 {
            self.placements.set(msg.id, index);
        }
        self.shards[index].do_send(msg);
    }

    /// Hands a connection's frame to its shard.
    pub(crate) fn inbound(&self, id: MemberId, frame: ClientFrame) {
        self.of(id).do_send(Inbound { id, frame });
    }

    /// Hands a connection's frame to its shard; answers once it is handled
    /// (see [`Inbound`]).
    pub(crate) async fn handled(
        &self,
        id: MemberId,
        frame: ClientFrame,
    ) -> Result<(), ClientFrame> {
        match self.of(id).send(Inbound { id, frame }).await {
            Ok(answer) => answer,
            // The shard stopped (the server is stopping): not handled.
            Err(_) => Ok(()),
        }
    }

    /// A connection is gone.
    pub(crate) fn disconnect(&self, id: MemberId, why: Option<LeftWhy>) {
        self.of(id).do_send(Disconnect { id, why });
    }

    /// A connection is gone; answers once its shard has handled that.
    pub(crate) async fn disconnected(&self, id: MemberId, why: Option<LeftWhy>) {
        let _ = self.of(id).send(Disconnect { id, why }).await;
    }

    /// A polling session adopted here (connected already, with the shard of
    /// its record's room).
    pub(crate) fn attach(&self, msg: Attach) {
        self.of(msg.id).do_send(msg);
    }

    /// A polling session asks for what it missed.
    pub(crate) fn reattach(&self, msg: Reattach) {
        self.of(msg.id).do_send(msg);
    }

    /// Where a polling session is: a backplane read any shard can make.
    pub(crate) fn find_poll(&self, msg: FindPoll) -> Request<ChatRoom, FindPoll> {
        self.shards[0].send(msg)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_room_always_has_the_same_shard() {
        // Pinned: a change here moves rooms between shards, which instances
        // of different releases sharing one Redis would disagree on.
        let placed: Vec<usize> = ["tea", "lobby", "a", "b", "c", "d"]
            .iter()
            .map(|r| shard_of(&RoomName::parse(r).unwrap(), 4))
            .collect();
        assert_eq!(placed, [1, 3, 3, 0, 2, 2]);
        assert_eq!(shard_of(&RoomName::parse("tea").unwrap(), 1), 0);
    }

    #[test]
    fn rooms_spread_over_the_shards() {
        let mut counts = [0usize; 2];
        for i in 0..1000 {
            let room = RoomName::parse(&format!("room-{i}")).unwrap();
            counts[shard_of(&room, 2)] += 1;
        }
        assert!(counts.iter().all(|&c| c > 400), "{counts:?}");
    }
}
