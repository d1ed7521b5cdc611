//! The ChatRoom actor: the single owner of the chat state. It is a thin
//! shell around [`ChatCore`]: it stamps the clock, feeds the core one event at
//! a time, encodes each outgoing frame once and hands the same bytes to every
//! recipient's [`ToMember`] recipient, holding joins and leaves back briefly
//! to send them together (`presence_batch.rs`). It knows no transport.

use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{SystemTime, UNIX_EPOCH};

use actix::prelude::*;
use bytestring::ByteString;

use crate::chat_core::{Audience, ChatCore, CloseReason, Effect, MemberId};
use crate::limits::Limits;
use crate::member::{CloseKind, ToMember};
use crate::metrics::Metrics;
use crate::outbox::Outbox;
use crate::presence_batch::{PendingPresence, BATCH_FROM_MEMBERS, PRESENCE_FLUSH};
use crate::protocol::{ClientFrame, ServerFrame};
use crate::room_name::RoomName;

static NEXT_MEMBER_ID: AtomicU64 = AtomicU64::new(1);

/// A process-wide unique id for a new connection.
pub fn next_member_id() -> MemberId {
    NEXT_MEMBER_ID.fetch_add(1, Ordering::Relaxed)
}

/// Milliseconds since the Unix epoch: the clock of the room core.
pub fn now_ms() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_millis() as u64)
}

/// A connection arrived; `to` is where its frames go.
#[derive(Message)]
#[rtype(result = "()")]
pub struct Connect {
    /// The connection's id, from [`next_member_id`].
    pub id: MemberId,
    /// Its mailbox.
    pub to: Recipient<ToMember>,
    /// Its byte-counted outbox, for transports whose writer can stall on a
    /// client that stops reading (WebSocket). Polling sessions bound their
    /// own queue and pass `None`.
    pub outbox: Option<Outbox>,
}

/// One connection as the room reaches it.
struct Member {
    to: Recipient<ToMember>,
    outbox: Option<Outbox>,
}

/// A parsed frame from a connection.
#[derive(Message)]
#[rtype(result = "()")]
pub struct Inbound {
    /// The sender.
    pub id: MemberId,
    /// What it sent.
    pub frame: ClientFrame,
}

/// A connection is gone.
#[derive(Message)]
#[rtype(result = "()")]
pub struct Disconnect {
    /// The connection.
    pub id: MemberId,
}

/// The server is stopping: close every connection with "going away" and
/// refuse new ones. Answers how many connections were told.
#[derive(Message)]
#[rtype(result = "usize")]
pub struct Shutdown;

/// The actor.
pub struct ChatRoom {
    core: ChatCore,
    members: HashMap<MemberId, Member>,
    /// Joins and leaves not yet sent, per room.
    pending: HashMap<RoomName, PendingPresence>,
    metrics: Arc<Metrics>,
    max_outbox_bytes: usize,
    shutting_down: bool,
}

impl ChatRoom {
    /// A room server with these limits, reporting to `metrics`.
    pub fn new(limits: Limits, metrics: Arc<Metrics>) -> Self {
        ChatRoom {
            core: ChatCore::new(limits),
            members: HashMap::new(),
            pending: HashMap::new(),
            metrics,
            max_outbox_bytes: limits.max_outbox_bytes,
            shutting_down: false,
        }
    }

    /// Hands `frame` to `id`, unless its outbox is full: then `id` joins
    /// `slow` and gets nothing more.
    fn deliver(&self, id: MemberId, frame: &ByteString, slow: &mut Vec<MemberId>) -> u64 {
        let Some(member) = self.members.get(&id) else {
            return 0;
        };
        if let Some(outbox) = &member.outbox {
            if !outbox.try_reserve(frame.len(), self.max_outbox_bytes) {
                slow.push(id);
                return 0;
            }
        }
        member.to.do_send(ToMember::Frame(frame.clone()));
        1
    }

    /// Drops readers whose outbox filled: the room sees them leave, their
    /// connection is aborted, and nothing more is queued for them.
    fn drop_slow(&mut self, slow: Vec<MemberId>) -> Vec<Effect> {
        let mut effects = Vec::new();
        for id in slow {
            let Some(member) = self.members.remove(&id) else {
                continue;
            };
            log::warn!("connection {id} is not reading; dropping it");
            self.metrics.slow_clients_dropped.inc();
            if let Some(outbox) = &member.outbox {
                outbox.drop_reader();
            }
            member.to.do_send(ToMember::Close(CloseKind::SlowReader));
            effects.extend(self.core.disconnect(id));
        }
        effects
    }

    fn apply(&mut self, mut effects: Vec<Effect>) {
        // Dropping a slow reader makes its room see it leave, which may find
        // more slow readers; each round removes members, so this ends.
        while !effects.is_empty() {
            let slow = self.apply_once(effects);
            effects = self.drop_slow(slow);
        }
        let (rooms, users) = self.core.stats();
        self.metrics.rooms.set(rooms as i64);
        self.metrics.users.set(users as i64);
    }

    /// Whether a presence change in `room` waits for a batch.
    fn batches_presence(&self, room: &RoomName) -> bool {
        self.core.count(room) >= BATCH_FROM_MEMBERS
            || self.pending.get(room).is_some_and(|p| !p.is_empty())
    }

    /// Sends a room's waiting joins and leaves, if any.
    fn flush_presence(&mut self, room: &RoomName, slow: &mut Vec<MemberId>) -> u64 {
        let Some(mut pending) = self.pending.remove(room) else {
            return 0;
        };
        let Some((frame, except)) = pending.take(self.core.count(room)) else {
            return 0;
        };
        let bytes = frame.encode();
        self.core
            .members_of(room)
            .filter(|&id| Some(id) != except)
            .map(|id| self.deliver(id, &bytes, slow))
            .sum()
    }

    /// The periodic flush: every room's waiting joins and leaves go out.
    fn flush_all_presence(&mut self) {
        if self.pending.is_empty() {
            return;
        }
        let rooms: Vec<RoomName> = self.pending.keys().cloned().collect();
        let mut slow = Vec::new();
        let mut delivered = 0;
        for room in rooms {
            delivered += self.flush_presence(&room, &mut slow);
        }
        self.metrics.deliveries.inc_by(delivered);
        let effects = self.drop_slow(slow);
        self.apply(effects);
    }

    fn apply_once(&mut self, effects: Vec<Effect>) -> Vec<MemberId> {
        let mut delivered = 0;
        let mut slow = Vec::new();
        for effect in effects {
            match effect {
                // In large rooms, arrivals and departures wait to be sent
                // together; once a batch waits, later changes join it to
                // keep their order.
                Effect::Send {
                    to: Audience::RoomExcept(room, joiner),
                    frame: ServerFrame::Joined { nick, .. },
                } if self.batches_presence(&room) => {
                    self.pending.entry(room).or_default().joined(nick, joiner);
                }
                Effect::Send {
                    to: Audience::Room(room),
                    frame: ServerFrame::Left { nick, .. },
                } if self.batches_presence(&room) => {
                    self.pending.entry(room).or_default().left(nick);
                }
                Effect::Send { to, frame } => {
                    // Anything else to a room goes after the room's waiting
                    // presence, so nobody hears from someone not yet arrived.
                    if let Audience::Room(room) | Audience::RoomExcept(room, _) = &to {
                        delivered += self.flush_presence(room, &mut slow);
                    }
                    match &frame {
                        ServerFrame::Error { code, .. } => self.metrics.error(*code),
                        ServerFrame::Message(_) => self.metrics.messages_in.inc(),
                        _ => {}
                    }
                    let bytes = frame.encode();
                    delivered += match to {
                        Audience::Member(id) => self.deliver(id, &bytes, &mut slow),
                        Audience::Room(room) => self
                            .core
                            .members_of(&room)
                            .map(|id| self.deliver(id, &bytes, &mut slow))
                            .sum(),
                        Audience::RoomExcept(room, except) => self
                            .core
                            .members_of(&room)
                            .filter(|&id| id != except)
                            .map(|id| self.deliver(id, &bytes, &mut slow))
                            .sum(),
                    };
                }
                Effect::Close {
                    member,
                    reason: CloseReason::Replaced,
                } => {
                    if let Some(member) = self.members.remove(&member) {
                        member.to.do_send(ToMember::Close(CloseKind::Replaced));
                    }
                }
            }
        }
        self.metrics.deliveries.inc_by(delivered);
        slow
    }
}

/// How often the room ends stale typing indicators.
const TYPING_SWEEP: std::time::Duration = std::time::Duration::from_secs(1);

impl Actor for ChatRoom {
    type Context = Context<Self>;

    fn started(&mut self, ctx: &mut Context<Self>) {
        ctx.run_interval(PRESENCE_FLUSH, |act, _| act.flush_all_presence());
        ctx.run_interval(TYPING_SWEEP, |act, _| {
            let effects = act.core.expire_typing(now_ms());
            if !effects.is_empty() {
                act.apply(effects);
            }
        });
    }
}

impl Handler<Connect> for ChatRoom {
    type Result = ();

    fn handle(&mut self, msg: Connect, _: &mut Context<Self>) {
        if self.shutting_down {
            msg.to.do_send(ToMember::Close(CloseKind::GoingAway));
            return;
        }
        self.core.connect(msg.id, now_ms());
        self.members.insert(
            msg.id,
            Member {
                to: msg.to,
                outbox: msg.outbox,
            },
        );
    }
}

impl Handler<Inbound> for ChatRoom {
    type Result = ();

    fn handle(&mut self, msg: Inbound, _: &mut Context<Self>) {
        let effects = self.core.handle(msg.id, msg.frame, now_ms());
        self.apply(effects);
    }
}

impl Handler<Disconnect> for ChatRoom {
    type Result = ();

    fn handle(&mut self, msg: Disconnect, _: &mut Context<Self>) {
        self.members.remove(&msg.id);
        let effects = self.core.disconnect(msg.id);
        self.apply(effects);
    }
}

impl Handler<Shutdown> for ChatRoom {
    type Result = usize;

    fn handle(&mut self, _: Shutdown, _: &mut Context<Self>) -> usize {
        self.shutting_down = true;
        for member in self.members.values() {
            member.to.do_send(ToMember::Close(CloseKind::GoingAway));
        }
        self.members.len()
    }
}
