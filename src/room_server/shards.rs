//! The room shards: an instance's rooms spread over several ChatRoom
//! actors, each on a thread of its own, so that many busy rooms use every
//! core. A room always belongs to the same shard, [`shard_of`] its name (a
//! hash with fixed keys, the same in every process and every release that
//! keeps this function). A connection is served by one shard at a time:
//! its "home" shard ([`RoomShards::connect`]) until it joins a room, then
//! that room's shard (`placement.rs` says which). [`RoomShards`] is the
//! handle the transports hold: it sends each message to the shard serving
//! the connection, as [`Placements`] records it.
//!
//! Moving is the shards' business, not the transports': the shard that
//! receives a `join` for a room of another shard hands the connection
//! over (`chat_room/moving.rs`) and only then records the new shard, so
//! anything sent after the record changed arrives after the handover, and anything that reached
//! the old shard first is passed on behind it. With one shard, nothing
//! moves and no placement is recorded: the ChatRoom behaves as it always
//! did.

use std::sync::Arc;

use actix::prelude::*;

use crate::core::backplane::LeftWhy;
use crate::core::ids::MemberId;
use crate::core::rules::room_name::RoomName;
use crate::protocol::ClientFrame;
use crate::room_server::chat_room::{
    Attach, ChatRoom, Connect, Disconnect, FindPoll, Inbound, MeetPeers, Peers, Reattach,
};
use crate::room_server::placement::{home_of, Placements};

/// The instance's shards, as the transports reach them.
#[derive(Clone)]
pub(crate) struct RoomShards {
    peers: Peers,
}

impl RoomShards {
    /// The handle on these started shards (at least one); tells each shard
    /// about the others.
    pub(crate) fn new(shards: Vec<Addr<ChatRoom>>) -> Self {
        let peers = Peers {
            shards: shards.into(),
            placements: Arc::new(Placements::new()),
        };
        for shard in peers.shards.iter() {
            shard.do_send(MeetPeers(peers.clone()));
        }
        RoomShards { peers }
    }

    /// Every shard, by index.
    pub(crate) fn all(&self) -> &[Addr<ChatRoom>] {
        &self.peers.shards
    }

    /// The index of the shard serving connection `id`.
    fn serving(&self, id: MemberId) -> usize {
        let n = self.peers.shards.len();
        if n == 1 {
            return 0;
        }
        self.peers
            .placements
            .get(id)
            .unwrap_or_else(|| home_of(id, n))
    }

    fn of(&self, id: MemberId) -> &Addr<ChatRoom> {
        &self.peers.shards[self.serving(id)]
    }

    /// Registers a new connection: with the shard of `room` when the
    /// transport knows where it goes (a polling session opens with its
    /// join, an adopted one has its record), else with its home shard.
    pub(crate) fn connect(&self, msg: Connect, room: Option<&RoomName>) {
        let n = self.peers.shards.len();
        let index = match room {
            Some(room) => self.peers.index_of(room),
            None => home_of(msg.id, n),
        };
        if n > 1 {
            self.peers.placements.set(msg.id, index);
        }
        self.peers.shards[index].do_send(msg);
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
        self.peers.shards[0].send(msg)
    }
}
