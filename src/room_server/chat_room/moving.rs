//! A connection moving between room shards (`room_server/shards.rs`): the
//! shards' view of one another ([`Peers`]), the handover of a connection to
//! the shard of the room it joins ([`MoveIn`]) and back when that join is
//! refused, and passing on what reached a shard after its connection moved
//! on. Part of the ChatRoom actor; it sees the actor's private state as a
//! child module.

use std::collections::HashMap;
use std::sync::Arc;

use actix::prelude::*;

use super::{now_ms, ChatRoom};
use crate::core::chat_core::Carried;
use crate::core::ids::MemberId;
use crate::core::rules::room_name::RoomName;
use crate::delivery::hub::{HubHandle, Order, Orders};
use crate::delivery::member::CloseKind;
use crate::protocol::ClientFrame;
use crate::room_server::placement::{joined_room, shard_of, Placements};

/// Every shard of the instance, and which serves each connection.
#[derive(Clone)]
pub(crate) struct Peers {
    /// The shards, by index.
    pub(crate) shards: Arc<[Addr<ChatRoom>]>,
    /// The shard serving each connection, when there are several.
    pub(crate) placements: Arc<Placements>,
}

impl Peers {
    /// The index of the shard owning `room`.
    pub(crate) fn index_of(&self, room: &RoomName) -> usize {
        shard_of(room, self.shards.len())
    }
}

/// The other shards, sent to each once all are started; the first message
/// a shard handles.
#[derive(Message)]
#[rtype(result = "()")]
pub(crate) struct MeetPeers(pub(crate) Peers);

/// A connection handed over by another shard: with `frame`, its `join` of
/// a room of this shard, to decide here; without, its join elsewhere was
/// refused and it comes back to its place here. Answered like [`Inbound`].
#[derive(Message)]
#[rtype(result = "Result<(), ClientFrame>")]
pub(crate) struct MoveIn {
    /// The connection.
    pub(crate) id: MemberId,
    /// Its thread's hub.
    pub(crate) hub: HubHandle,
    /// Its state.
    pub(crate) carried: Carried,
    /// The join that moves it.
    pub(crate) frame: Option<ClientFrame>,
}

/// Connections of another shard, with its address.
pub(super) type ShardIds = (Addr<ChatRoom>, Vec<MemberId>);

impl ChatRoom {
    /// The shard now serving connection `id`, when that is another one:
    /// a message for it that reached this shard is passed on (it was sent
    /// before the transport learnt of a move, and arrives there after the
    /// move, having followed it).
    pub(super) fn moved_to(&self, id: MemberId) -> Option<Addr<ChatRoom>> {
        let peers = self.peers.as_ref()?;
        let at = peers.placements.get(id)?;
        (at != self.index).then(|| peers.shards[at].clone())
    }

    /// The shard a frame from one of this shard's connections belongs to,
    /// when that is another one: the shard of the room a `join` names.
    pub(super) fn moves_to(&self, frame: &ClientFrame) -> Option<usize> {
        let peers = self.peers.as_ref().filter(|p| p.shards.len() > 1)?;
        let index = peers.index_of(&joined_room(frame)?);
        (index != self.index).then_some(index)
    }

    /// Hands connection `id` over to shard `to`, with the join that moves
    /// it (none when it goes back after a refused one), and records the
    /// move only once the handover is in `to`'s mailbox. Answers when
    /// `to` has handled it.
    pub(super) fn move_out(
        &mut self,
        id: MemberId,
        to: usize,
        frame: Option<ClientFrame>,
    ) -> Response<Result<(), ClientFrame>> {
        let (Some(peers), Some(hub)) = (self.peers.clone(), self.connections.hub_of(id)) else {
            return Response::reply(Ok(()));
        };
        let Some(carried) = self.core.carry_out(id) else {
            return Response::reply(Ok(()));
        };
        self.connections.remove(id);
        let number = peers.placements.next_move(id);
        let answer = peers.shards[to].send(MoveIn {
            id,
            hub,
            carried,
            frame,
        });
        // `to` may have sent it on already (a refused join sends it back):
        // then that later move stands.
        peers.placements.moved(id, to, number);
        // Its room here may have been left with nobody local.
        self.apply(Vec::new());
        Response::fut(async move { answer.await.unwrap_or(Ok(())) })
    }

    /// Splits `ids` into those to handle here and those served by other
    /// shards, grouped by shard.
    pub(super) fn split_off_elsewhere(
        &self,
        ids: Vec<MemberId>,
        known: impl Fn(MemberId) -> bool,
    ) -> (Vec<MemberId>, Vec<ShardIds>) {
        let mut here = Vec::new();
        let mut elsewhere: HashMap<usize, (Addr<ChatRoom>, Vec<MemberId>)> = HashMap::new();
        for id in ids {
            match self.peers.as_ref().filter(|_| !known(id)).and_then(|p| {
                let at = p.placements.get(id).filter(|&at| at != self.index)?;
                Some((at, p.shards[at].clone()))
            }) {
                Some((at, shard)) => elsewhere
                    .entry(at)
                    .or_insert((shard, Vec::new()))
                    .1
                    .push(id),
                None => here.push(id),
            }
        }
        (here, elsewhere.into_values().collect())
    }
}

impl Handler<MeetPeers> for ChatRoom {
    type Result = ();

    fn handle(&mut self, msg: MeetPeers, _: &mut Context<Self>) {
        self.peers = Some(msg.0);
    }
}

impl Handler<MoveIn> for ChatRoom {
    type Result = Response<Result<(), ClientFrame>>;

    fn handle(&mut self, msg: MoveIn, _: &mut Context<Self>) -> Self::Result {
        let MoveIn {
            id,
            hub,
            carried,
            frame,
        } = msg;
        if self.shutting_down {
            let close = Order::Close(id, CloseKind::GoingAway);
            hub.addr.do_send(Orders::new(vec![close]));
            return Response::reply(Ok(()));
        }
        let place = carried.place.clone();
        let token = carried.token.clone();
        self.core.carry_in(id, carried);
        self.connections.insert(id, hub);
        let Some(frame) = frame else {
            // Back from a refused join: to its place here, with what its
            // room said meanwhile.
            if let (Some((room, after)), Some(token)) = (place, token) {
                let effects = self.core.attach(id, token, Some(room), after);
                self.apply(effects);
            }
            return Response::reply(Ok(()));
        };
        let room = joined_room(&frame);
        let effects = self.core.handle(id, frame, now_ms());
        self.apply(effects);
        // unwrap: the frame was moved here for naming a valid room.
        let room = room.unwrap();
        if self.core.settle(id, &room) {
            return Response::reply(Ok(()));
        }
        // Refused (a taken nickname, a full room, a limit): a member of a
        // room goes back to it; one in none may as well stay here.
        match place.map(|(room, _)| self.peers.as_ref().map_or(0, |p| p.index_of(&room))) {
            Some(back) if back != self.index => self.move_out(id, back, None),
            _ => Response::reply(Ok(())),
        }
    }
}
