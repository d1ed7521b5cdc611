//! Where rooms and connections are placed among an instance's room shards
//! (`shards.rs`): the shard that owns a room, for good ([`shard_of`]), and
//! the shard serving each connection now ([`Placements`]), which changes
//! only when the connection joins a room of another shard. Plain data and
//! one hash: no actor, so both the shards and their handle can use it.

use std::collections::HashMap;
use std::sync::{Mutex, MutexGuard, PoisonError};

use crate::core::ids::MemberId;
use crate::core::rules::room_name::RoomName;
use crate::protocol::ClientFrame;

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

/// Where a connection is, and its moves: each move takes a number
/// before its handover is sent ([`Placements::next_move`]) and is recorded
/// only if no later move was recorded first ([`Placements::moved`]), so a
/// connection sent back before the shard that moved it recorded the move
/// is not left placed where it no longer is.
#[derive(Clone, Copy)]
struct Placed {
    shard: usize,
    numbered: u64,
    recorded: u64,
}

/// Which shard serves each connection, for the instance's connections.
pub(crate) struct Placements {
    stripes: Vec<Mutex<HashMap<MemberId, Placed>>>,
}

impl Placements {
    /// An empty map.
    pub(crate) fn new() -> Self {
        Placements {
            stripes: (0..STRIPES).map(|_| Mutex::new(HashMap::new())).collect(),
        }
    }

    fn stripe(&self, id: MemberId) -> MutexGuard<'_, HashMap<MemberId, Placed>> {
        // The remainder is below STRIPES, which fits a usize.
        self.stripes[(id % STRIPES as u64) as usize]
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
    }

    /// The shard serving `id`, if recorded.
    pub(crate) fn get(&self, id: MemberId) -> Option<usize> {
        self.stripe(id).get(&id).map(|placed| placed.shard)
    }

    /// Records that shard `shard` serves `id`, a new connection.
    pub(crate) fn set(&self, id: MemberId, shard: usize) {
        let placed = Placed {
            shard,
            numbered: 0,
            recorded: 0,
        };
        self.stripe(id).insert(id, placed);
    }

    /// Numbers a move of `id` about to be handed over.
    pub(crate) fn next_move(&self, id: MemberId) -> u64 {
        let mut stripe = self.stripe(id);
        let placed = stripe.entry(id).or_insert(Placed {
            shard: 0,
            numbered: 0,
            recorded: 0,
        });
        placed.numbered += 1;
        placed.numbered
    }

    /// Records that move `number` of `id` took it to `shard`, unless a
    /// later move of it was recorded already.
    pub(crate) fn moved(&self, id: MemberId, shard: usize, number: u64) {
        if let Some(placed) = self.stripe(id).get_mut(&id) {
            if number > placed.recorded {
                placed.shard = shard;
                placed.recorded = number;
            }
        }
    }

    /// Forgets `id`, which has ended.
    pub(crate) fn remove(&self, id: MemberId) {
        let mut stripe = self.stripe(id);
        stripe.remove(&id);
        crate::core::shrink::when_sparse(&mut stripe);
    }
}

/// The shard a connection starts on, of `shards`, when it names no room
/// yet.
pub(crate) fn home_of(id: MemberId, shards: usize) -> usize {
    // The remainder is below the number of shards, a usize.
    (id % shards.max(1) as u64) as usize
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
    fn a_move_recorded_late_does_not_undo_a_later_one() {
        let placements = Placements::new();
        placements.set(7, 0);
        // Shard 0 hands 7 to shard 1, which sends it back before shard 0
        // gets to record the first move.
        let there = placements.next_move(7);
        let back = placements.next_move(7);
        placements.moved(7, 0, back);
        placements.moved(7, 1, there);
        assert_eq!(placements.get(7), Some(0));
        let again = placements.next_move(7);
        placements.moved(7, 1, again);
        assert_eq!(placements.get(7), Some(1));
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
