//! The ChatRoom actor: one shard of this instance's chat state, the rooms
//! `placement.rs` gives it and the connections in them (with one shard,
//! all of them; `chat_room/moving.rs` hands a connection over when it
//! joins a room of another shard). It is a thin shell around [`ChatCore`]: it stamps the clock, feeds the core one
//! event at a time (client frames, and log entries other instances wrote,
//! as [`FromBackplane`]), encodes each outgoing frame once and hands the same bytes
//! to the hub of every recipient's worker thread, one message per hub per
//! event (`delivery/hub.rs`, `room_server/connections.rs`), holding
//! joins and leaves back briefly to send them together
//! (`core/presence_batch.rs`). It runs the core's housekeeping (typing expiry, leases, the reaper) and tells
//! everyone when the backplane is lost or back. It knows no transport.

use std::collections::HashMap;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use actix::prelude::*;

use crate::core::backplane::{Backplane, LeftWhy, Logged, PollRecord, Refusal};
use crate::core::chat_core::{Audience, ChatCore, CloseReason, Effect};
use crate::core::client_key::ClientKey;
use crate::core::ids::MemberId;
use crate::core::instance_share::InstanceShare;
use crate::core::limits::Limits;
use crate::core::presence_batch::{PendingPresence, BATCH_FROM_MEMBERS, PRESENCE_FLUSH};
use crate::core::rules::room_name::RoomName;
use crate::delivery::hub::{HubHandle, Order, Orders, Polled, SlowReaders};
use crate::delivery::member::CloseKind;
use crate::delivery::outbox::SharedFrame;
use crate::metrics::Metrics;
use crate::protocol::{ClientFrame, ServerFrame};
use crate::room_server::connections::Connections;

static NEXT_MEMBER_ID: AtomicU64 = AtomicU64::new(1);

/// A process-wide unique id for a new connection.
pub(crate) fn next_member_id() -> MemberId {
    NEXT_MEMBER_ID.fetch_add(1, Ordering::Relaxed)
}

/// Milliseconds since the Unix epoch: the clock of the room core.
pub(crate) fn now_ms() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_millis() as u64)
}

/// A connection arrived, registered already with the hub of its thread
/// ([`crate::delivery::hub::join`]), through which it gets everything.
#[derive(Message)]
#[rtype(result = "()")]
pub(crate) struct Connect {
    /// The connection's id, from [`next_member_id`].
    pub(crate) id: MemberId,
    /// Its thread's hub.
    pub(crate) hub: HubHandle,
    /// Its client's address, reduced to the subnet that names the client.
    pub(crate) client: ClientKey,
    /// For a polling session, its session token: the session's record in
    /// the backplane lets any instance serve it.
    pub(crate) poll: Option<Arc<str>>,
}

/// A parsed frame from a connection. Answered with the frame itself when
/// the room no longer knows the connection (it ended while the frame was
/// on its way): it was not handled, and nothing about it will be sent.
#[derive(Message)]
#[rtype(result = "Result<(), ClientFrame>")]
pub(crate) struct Inbound {
    /// The sender.
    pub(crate) id: MemberId,
    /// What it sent.
    pub(crate) frame: ClientFrame,
}

/// A connection is gone.
#[derive(Message)]
#[rtype(result = "()")]
pub(crate) struct Disconnect {
    /// The connection.
    pub(crate) id: MemberId,
    /// Why its member leaves its room; `None` when it does not: a polling
    /// session this instance stops serving, which another may go on with.
    pub(crate) why: Option<LeftWhy>,
}

/// A polling session first served here: make connection `id` (already
/// `Connect`ed) the member `token` is, and queue what it missed after
/// `after` (a log seq).
#[derive(Message)]
#[rtype(result = "()")]
pub(crate) struct Attach {
    /// The connection.
    pub(crate) id: MemberId,
    /// The session's record.
    pub(crate) record: PollRecord,
    /// The log position the client has reached.
    pub(crate) after: u64,
}

/// A polling session served here was polled with a cursor from before
/// this instance served it: resend it what it missed after log seq `after`.
#[derive(Message)]
#[rtype(result = "()")]
pub(crate) struct Reattach {
    /// The connection.
    pub(crate) id: MemberId,
    /// The log seq the client has reached.
    pub(crate) after: u64,
}

/// Where a polling session's member is, for a session unknown here.
#[derive(Message)]
#[rtype(result = "Result<Option<PollRecord>, Refusal>")]
pub(crate) struct FindPoll {
    /// The session token.
    pub(crate) poll: Arc<str>,
}

/// What the backplane heard from other instances, posted to the room's
/// mailbox by the feed it was given ([`crate::core::backplane::LogFeed`]).
#[derive(Message)]
#[rtype(result = "()")]
pub(crate) struct FromBackplane(pub(crate) Logged);

/// The server is stopping: close every connection with "going away" and
/// refuse new ones. Answers how many connections were told.
#[derive(Message)]
#[rtype(result = "usize")]
pub(crate) struct Shutdown;

/// The server has stopped serving: stop the actor, which drops the
/// backplane (the embedded store then commits and syncs what it holds and
/// closes its file). Watch [`ChatRoom::on_release`] to know when it is done.
#[derive(Message)]
#[rtype(result = "()")]
pub(crate) struct Release;

/// The gauges' values as this shard last added them: the instance's
/// gauges are the sums of every shard's.
#[derive(Default)]
struct Reported {
    rooms: i64,
    users: i64,
    mirror_bytes: i64,
}

/// Which shard a ChatRoom is, of which instance.
pub(crate) struct Shard {
    /// Its index among the instance's shards.
    pub(crate) index: usize,
    /// The instance's id in the cluster, the same for all its shards.
    pub(crate) node: Arc<str>,
    /// What the instance's shards share.
    pub(crate) share: Arc<InstanceShare>,
}

/// The actor.
pub(crate) struct ChatRoom {
    /// This shard's index among the instance's shards.
    index: usize,
    /// Every shard, once started (`None` in a test of one alone).
    peers: Option<Peers>,
    reported: Reported,
    /// Whether this shard last heard the backplane was lost.
    degraded_here: bool,
    core: ChatCore,
    connections: Connections,
    /// Joins and leaves not yet sent, per room.
    pending: HashMap<RoomName, PendingPresence>,
    /// Rooms of this many members or more are big (`presence_batch.rs`).
    big_room_members: usize,
    metrics: Arc<Metrics>,
    lease: Duration,
    /// Shared with `/readyz`.
    degraded: Arc<AtomicBool>,
    /// The reaper waits this long after the backplane comes back, so that
    /// every instance has renewed its members' leases first.
    reap_after: Instant,
    /// When this instance last renewed its members' leases.
    renewed: Instant,
    shutting_down: bool,
    /// Dropped with the actor, after the core and its backplane (fields
    /// drop in order): its receivers then learn the backplane is closed.
    released: tokio::sync::watch::Sender<()>,
}

impl ChatRoom {
    /// A room server of one shard (tests) with these limits over `backplane`, reporting to
    /// `metrics` and `degraded`. `lease` is how long a member outlives its
    /// instance's last renewal.
    #[cfg(test)]
    pub(crate) fn new(
        limits: Limits,
        metrics: Arc<Metrics>,
        backplane: Box<dyn Backplane>,
        lease: Duration,
        degraded: Arc<AtomicBool>,
    ) -> Self {
        let node: Arc<str> = Arc::from(&crate::core::ids::new_secret()[..12]);
        let share = Arc::new(InstanceShare::new(&limits));
        let shard = Shard {
            index: 0,
            node,
            share,
        };
        ChatRoom::shard(limits, metrics, backplane, lease, degraded, shard)
    }

    /// Shard `shard.index` of an instance called `shard.node`, sharing
    /// `shard.share` with the others.
    pub(crate) fn shard(
        limits: Limits,
        metrics: Arc<Metrics>,
        backplane: Box<dyn Backplane>,
        lease: Duration,
        degraded: Arc<AtomicBool>,
        shard: Shard,
    ) -> Self {
        let lease_ms = lease.as_millis() as u64;
        ChatRoom {
            index: shard.index,
            peers: None,
            reported: Reported::default(),
            degraded_here: false,
            core: ChatCore::sharing(limits, shard.node, lease_ms, backplane, shard.share),
            connections: Connections::default(),
            pending: HashMap::new(),
            big_room_members: limits.big_room_members,
            metrics,
            lease,
            degraded,
            reap_after: Instant::now(),
            renewed: Instant::now(),
            shutting_down: false,
            released: tokio::sync::watch::channel(()).0,
        }
    }

    /// A receiver whose `changed()` fails once the actor and its backplane
    /// are dropped.
    pub(crate) fn on_release(&self) -> tokio::sync::watch::Receiver<()> {
        self.released.subscribe()
    }

    /// Carries out the core's effects and sends the hubs what they
    /// gathered.
    fn apply(&mut self, effects: Vec<Effect>) {
        self.apply_effects(effects);
        self.connections.dispatch();
        let (rooms, users) = self.core.stats();
        let (backplane, mirrors) = self.core.history_bytes();
        let now = Reported {
            rooms: rooms as i64,
            users: users as i64,
            mirror_bytes: mirrors as i64,
        };
        self.metrics.rooms.add(now.rooms - self.reported.rooms);
        self.metrics.users.add(now.users - self.reported.users);
        self.metrics.history_bytes[1].add(now.mirror_bytes - self.reported.mirror_bytes);
        self.reported = now;
        self.metrics.history_bytes[0].set(backplane as i64);
        for (gauge, kept) in self.metrics.rate_buckets.iter().zip(self.core.buckets()) {
            gauge.set(kept as i64);
        }
    }

    /// Whether a presence change in `room` waits for a batch: in rooms of
    /// [`BATCH_FROM_MEMBERS`] or more, in big rooms (even when big starts
    /// lower), and behind a batch already waiting.
    fn batches_presence(&self, room: &RoomName) -> bool {
        self.core.count(room) >= BATCH_FROM_MEMBERS.min(self.big_room_members)
            || self.pending.get(room).is_some_and(|p| !p.is_empty())
    }

    /// The batch of `room`, noting a change at log seq `at` now.
    fn batch_for(&mut self, room: RoomName, at: u64) -> &mut PendingPresence {
        let big = self.core.count(&room) >= self.big_room_members;
        self.pending
            .entry(room)
            .or_default()
            .at_seq(at, now_ms(), big)
    }

    /// Sends a room's waiting joins and leaves, if any.
    fn flush_presence(&mut self, room: &RoomName) -> u64 {
        let Some(mut pending) = self.pending.remove(room) else {
            return 0;
        };
        let at = pending.at();
        let Some((frame, except)) = pending.take(self.core.count(room)) else {
            return 0;
        };
        let frame = Arc::new(SharedFrame::new(frame.encode(), at));
        self.core
            .members_of(room)
            .filter(|&id| Some(id) != except)
            .map(|id| self.connections.deliver(id, &frame))
            .sum()
    }

    /// The periodic flush: every room's waiting joins and leaves go out,
    /// those of big rooms once they have waited their longer while.
    fn flush_all_presence(&mut self) {
        if self.pending.is_empty() {
            return;
        }
        let now = now_ms();
        let rooms: Vec<RoomName> = self
            .pending
            .iter()
            .filter(|(_, pending)| pending.due(now))
            .map(|(room, _)| room.clone())
            .collect();
        let mut delivered = 0;
        for room in rooms {
            delivered += self.flush_presence(&room);
        }
        self.metrics.deliveries.inc_by(delivered);
        self.connections.dispatch();
    }

    fn apply_effects(&mut self, effects: Vec<Effect>) {
        let mut delivered = 0;
        for effect in effects {
            match effect {
                // In large rooms, arrivals and departures wait to be sent
                // together; once a batch waits, later changes join it to
                // keep their order.
                Effect::Send {
                    to: Audience::RoomExcept(room, joiner),
                    frame: ServerFrame::Joined { nick, .. },
                    at,
                } if self.batches_presence(&room) => {
                    self.batch_for(room, at).joined(nick, joiner);
                }
                Effect::Send {
                    to: Audience::Room(room),
                    frame: ServerFrame::Left { nick, .. },
                    at,
                } if self.batches_presence(&room) => {
                    self.batch_for(room, at).left(nick);
                }
                Effect::Send { to, frame, at } => {
                    // Anything else to a room goes after the room's waiting
                    // presence, so nobody hears from someone not yet arrived.
                    if let Audience::Room(room) | Audience::RoomExcept(room, _) = &to {
                        delivered += self.flush_presence(room);
                    }
                    match &frame {
                        ServerFrame::Error { code, .. } => self.metrics.error(*code),
                        ServerFrame::Message(_) => self.metrics.messages_in.inc(),
                        _ => {}
                    }
                    let frame = Arc::new(SharedFrame::new(frame.encode(), at));
                    delivered += match to {
                        Audience::Member(id) => self.connections.deliver(id, &frame),
                        Audience::Room(room) => self
                            .core
                            .members_of(&room)
                            .map(|id| self.connections.deliver(id, &frame))
                            .sum(),
                        Audience::RoomExcept(room, except) => self
                            .core
                            .members_of(&room)
                            .filter(|&id| id != except)
                            .map(|id| self.connections.deliver(id, &frame))
                            .sum(),
                    };
                }
                Effect::Close { member, reason } => {
                    let kind = match reason {
                        CloseReason::Replaced => CloseKind::Replaced,
                        CloseReason::Expired => CloseKind::Expired,
                        CloseReason::Lost => CloseKind::GoingAway,
                    };
                    self.connections.close(member, kind);
                }
            }
        }
        self.metrics.deliveries.inc_by(delivered);
    }

    /// Tells every connection here whether the chat is degraded, once per
    /// change.
    fn set_degraded(&mut self, degraded: bool) {
        if std::mem::replace(&mut self.degraded_here, degraded) == degraded {
            return;
        }
        // Every shard hears it; the instance's flag and log say it once.
        if self.degraded.swap(degraded, Ordering::SeqCst) != degraded {
            self.metrics.degraded.set(i64::from(degraded));
            if degraded {
                log::error!("the backplane is unreachable: the chat is degraded");
            } else {
                log::warn!("the backplane is back: renewing leases before reaping");
            }
        }
        if !degraded {
            // Leases may have lapsed while nobody could renew them: renew
            // ours now and give the others one lease to do the same.
            self.reap_after = Instant::now() + self.lease;
            self.renew_leases();
        }
        let frame = Arc::new(SharedFrame::new(
            ServerFrame::Status { degraded }.encode(),
            0,
        ));
        for id in self.connections.ids() {
            self.connections.deliver(id, &frame);
        }
        let mut effects = Vec::new();
        if !degraded {
            // What other instances wrote while the feed was down.
            effects.extend(self.core.refresh(now_ms()));
        }
        self.apply(effects);
    }

    /// Extends the leases of this instance's WebSocket members by a lease.
    fn renew_leases(&mut self) {
        self.renewed = Instant::now();
        let tokens = self.core.leased_tokens();
        let lease_ms = self.lease.as_millis() as u64;
        let _ = self.core.backplane().renew(&tokens, lease_ms);
    }

    /// Leases, the reaper, and the health check.
    fn housekeeping(&mut self) {
        // The store is the instance's: one shard reports it.
        let stats = match self.index {
            0 => self.core.backplane().store_stats(),
            _ => None,
        };
        if let Some(stats) = stats {
            self.metrics.store_bytes.set(stats.bytes as i64);
            let counters = [
                (&self.metrics.store_swept_messages, stats.swept_messages),
                (&self.metrics.store_swept_rooms, stats.swept_rooms),
            ];
            for (counter, total) in counters {
                counter.inc_by(total.saturating_sub(counter.get()));
            }
        }
        let healthy = self.core.backplane().probe();
        self.set_degraded(!healthy);
        if !healthy {
            return;
        }
        // Renewing every third of a lease leaves two renewals' slack
        // before a live member could lapse.
        if self.renewed.elapsed() >= (self.lease / 3).max(HOUSEKEEPING) {
            self.renew_leases();
        }
        if Instant::now() >= self.reap_after {
            let effects = self.core.reap(now_ms());
            self.apply(effects);
        }
    }
}

/// How often the room ends stale typing indicators.
const TYPING_SWEEP: Duration = Duration::from_secs(1);

/// How often the room runs the reaper and checks the backplane's health.
const HOUSEKEEPING: Duration = Duration::from_secs(1);

impl Actor for ChatRoom {
    type Context = Context<Self>;

    fn started(&mut self, ctx: &mut Context<Self>) {
        // The shards' messages are sent on to one another (`moved_to`);
        // an unbounded mailbox (0) takes each at once, in the order sent.
        ctx.set_mailbox_capacity(0);
        let room = ctx.address();
        self.core
            .backplane()
            .subscribe(Box::new(move |logged| room.do_send(FromBackplane(logged))));
        ctx.run_interval(PRESENCE_FLUSH, |act, _| act.flush_all_presence());
        ctx.run_interval(TYPING_SWEEP, |act, _| {
            let effects = act.core.expire_typing(now_ms());
            if !effects.is_empty() {
                act.apply(effects);
            }
        });
        ctx.run_interval(HOUSEKEEPING, |act, _| act.housekeeping());
    }
}

impl Handler<Connect> for ChatRoom {
    type Result = ();

    fn handle(&mut self, msg: Connect, _: &mut Context<Self>) {
        if self.shutting_down {
            let close = Order::Close(msg.id, CloseKind::GoingAway);
            msg.hub.addr.do_send(Orders::new(vec![close]));
            return;
        }
        self.core.connect(msg.id, msg.client, msg.poll);
        self.connections.insert(msg.id, msg.hub);
        // A newcomer while degraded learns it before anything is refused.
        if self.degraded.load(Ordering::SeqCst) {
            let status = ServerFrame::Status { degraded: true }.encode();
            self.connections
                .deliver(msg.id, &Arc::new(SharedFrame::new(status, 0)));
            self.connections.dispatch();
        }
    }
}

impl Handler<Inbound> for ChatRoom {
    type Result = Response<Result<(), ClientFrame>>;

    fn handle(&mut self, msg: Inbound, _: &mut Context<Self>) -> Self::Result {
        if !self.core.knows(msg.id) {
            if let Some(shard) = self.moved_to(msg.id) {
                let answer = shard.send(msg);
                return Response::fut(async move { answer.await.unwrap_or(Ok(())) });
            }
            self.metrics.frames_unheard.inc();
            log::debug!("a frame from connection {} after it ended", msg.id);
            return Response::reply(Err(msg.frame));
        }
        if let Some(to) = self.moves_to(&msg.frame) {
            // A stopping shard closed its connections: none moves.
            if self.shutting_down {
                return Response::reply(Ok(()));
            }
            return self.move_out(msg.id, to, Some(msg.frame));
        }
        let effects = self.core.handle(msg.id, msg.frame, now_ms());
        self.apply(effects);
        Response::reply(Ok(()))
    }
}

impl Handler<Disconnect> for ChatRoom {
    type Result = Response<()>;

    fn handle(&mut self, msg: Disconnect, _: &mut Context<Self>) -> Self::Result {
        if !self.core.knows(msg.id) {
            if let Some(shard) = self.moved_to(msg.id) {
                let answer = shard.send(msg);
                return Response::fut(async move {
                    let _ = answer.await;
                });
            }
        }
        if let Some(peers) = &self.peers {
            peers.placements.remove(msg.id);
        }
        self.connections.remove(msg.id);
        match msg.why {
            // A connection closed by the stop does not leave its room: its
            // lease holds its place (restored by the embedded store after
            // the restart, kept by Redis for another instance), so a client
            // that resumes in time is back with nobody told.
            Some(why) if !self.shutting_down => {
                let effects = self.core.disconnect(msg.id, why, now_ms());
                self.apply(effects);
            }
            _ => self.core.detach(msg.id),
        }
        Response::reply(())
    }
}

impl Handler<Attach> for ChatRoom {
    type Result = ();

    fn handle(&mut self, msg: Attach, _: &mut Context<Self>) {
        let room = msg
            .record
            .room
            .as_deref()
            .and_then(|r| RoomName::parse(r).ok());
        let effects = self.core.attach(msg.id, msg.record.token, room, msg.after);
        self.apply(effects);
    }
}

impl Handler<Reattach> for ChatRoom {
    type Result = ();

    fn handle(&mut self, msg: Reattach, _: &mut Context<Self>) {
        if !self.core.knows(msg.id) {
            if let Some(shard) = self.moved_to(msg.id) {
                shard.do_send(msg);
                return;
            }
        }
        self.connections.restart(msg.id, msg.after);
        let effects = self.core.catch_up_or_welcome(msg.id, msg.after);
        self.apply(effects);
    }
}

impl Handler<FindPoll> for ChatRoom {
    type Result = Result<Option<PollRecord>, Refusal>;

    fn handle(&mut self, msg: FindPoll, _: &mut Context<Self>) -> Self::Result {
        self.core.backplane().find_poll(&msg.poll)
    }
}

impl Handler<Polled> for ChatRoom {
    type Result = ();

    fn handle(&mut self, msg: Polled, _: &mut Context<Self>) {
        // The hubs tell the first shard about every session.
        let elsewhere = self.split_off_elsewhere(msg.0, |id| self.core.knows(id));
        for (shard, ids) in elsewhere.1 {
            shard.do_send(Polled(ids));
        }
        for id in elsewhere.0 {
            self.core.touch(id);
        }
    }
}

impl Handler<FromBackplane> for ChatRoom {
    type Result = ();

    fn handle(&mut self, msg: FromBackplane, _: &mut Context<Self>) {
        match msg.0 {
            Logged::Entries(entries) => {
                let effects = self.core.apply(entries, now_ms());
                self.apply(effects);
            }
            Logged::Degraded(degraded) => self.set_degraded(degraded),
            Logged::Answered {
                token,
                reference,
                answer,
                ..
            } => {
                let effects = self.core.answered(&token, reference, answer);
                self.apply(effects);
            }
            Logged::Refused {
                room,
                member,
                refusal,
            } => {
                let effects = self.core.join_refused(member, &room, refusal);
                self.apply(effects);
            }
            Logged::Opened { room, snapshot } => {
                let effects = self.core.opened(&room, snapshot, now_ms());
                self.apply(effects);
            }
        }
    }
}

impl Handler<SlowReaders> for ChatRoom {
    type Result = ();

    /// Readers a hub dropped for not reading leave their rooms.
    fn handle(&mut self, msg: SlowReaders, _: &mut Context<Self>) {
        // The hubs tell the first shard about every connection.
        let (here, elsewhere) = self.split_off_elsewhere(msg.0, |id| self.core.knows(id));
        for (shard, ids) in elsewhere {
            shard.do_send(SlowReaders(ids));
        }
        let mut effects = Vec::new();
        for id in here {
            if self.connections.remove(id) {
                effects.extend(self.core.disconnect(id, LeftWhy::Dropped, now_ms()));
            }
        }
        self.apply(effects);
    }
}

impl Handler<Shutdown> for ChatRoom {
    type Result = usize;

    fn handle(&mut self, _: Shutdown, _: &mut Context<Self>) -> usize {
        self.shutting_down = true;
        let told = self.connections.close_all(CloseKind::GoingAway);
        self.connections.dispatch();
        told
    }
}

impl Handler<Release> for ChatRoom {
    type Result = ();

    fn handle(&mut self, _: Release, ctx: &mut Context<Self>) {
        ctx.stop();
    }
}

#[path = "chat_room/moving.rs"]
mod moving;

pub(crate) use moving::{MeetPeers, Peers};

#[cfg(test)]
#[path = "chat_room/tests.rs"]
mod tests;
