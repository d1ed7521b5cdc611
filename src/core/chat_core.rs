//! The transport-agnostic chat core: this instance's connections (WebSocket
//! or polling, it never knows which), the mirrors of the rooms they are in,
//! and the rules between them. A client frame is checked here (rate limit,
//! syntax, being in a room), then decided by the [`Backplane`], which
//! writes it to the room's log; the log entries, whether written here or by
//! another instance, are applied to the mirrors in order by [`ChatCore::apply`],
//! and only that turns into frames for local connections. So every instance
//! shows the same room in the same order. Pure apart from the backplane: each
//! call takes the clock and returns [`Effect`]s saying what to deliver to
//! whom. The ChatRoom actor (`room_server/chat_room.rs`) is its thin shell. Entering a
//! room and the welcome are in `chat_core/joining.rs`; turning entries into
//! frames is in `chat_core/applying.rs`; a member paging back through its
//! room's history is in `chat_core/paging.rs`, and through its roster in
//! `chat_core/roster_pages.rs`; a connection moving to another room shard
//! of the instance is in `chat_core/carrying.rs`. The per-client frame
//! allowances and the instance-wide bounds are shared with the other
//! shards (`core/instance_share.rs`).

use std::collections::HashMap;
use std::sync::Arc;

use crate::core::backplane::{Backplane, Entry, LeftWhy, PollRecord, Refusal, ResumeToken};
use crate::core::client_key::ClientKey;
use crate::core::instance_share::InstanceShare;
use crate::core::limits::Limits;
use crate::core::mirror::Mirror;
use crate::core::rules::message_text::MessageText;
use crate::core::rules::nickname::Nickname;
use crate::core::rules::rate_limit::RateBucket;
use crate::core::rules::room_name::RoomName;
use crate::protocol::{error, ClientFrame, ErrorCode, ServerFrame};

mod applying;
mod carrying;
mod joining;
mod paging;
mod roster_pages;

pub(crate) use self::carrying::Carried;
pub(crate) use crate::core::ids::MemberId;

/// A typing indicator not renewed or ended for this long is ended by the
/// server. Clients renew it (send `typing` `on` again) while typing; the
/// page sends off after 3 s without a keystroke, well inside this.
pub(crate) const TYPING_TIMEOUT_MS: u64 = 8_000;

pub(crate) use crate::core::instance_share::MAX_BUCKETS;

/// Longest `ref` a client may attach to a `say`.
pub(crate) const MAX_REF_CHARS: usize = 64;

/// Who receives a frame.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Audience {
    /// One connection.
    Member(MemberId),
    /// Everyone in the room connected here.
    Room(RoomName),
    /// Everyone in the room connected here but one.
    RoomExcept(RoomName, MemberId),
}

/// Why the core ends a connection.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum CloseReason {
    /// The same user resumed on another connection.
    Replaced,
    /// The member's lease lapsed (a polling session not polled in time).
    Expired,
    /// The shared store forgot the member (Redis came back empty): the
    /// client should reconnect and resume.
    Lost,
}

/// What the shell must do after a call.
// `Send` is large and `Close` small, but effects live only until the shell
// applies them, and boxing the frame would allocate once more per message.
#[allow(clippy::large_enum_variant)]
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Effect {
    /// Deliver `frame` to `to`.
    Send {
        /// The recipients.
        to: Audience,
        /// The frame.
        frame: ServerFrame,
        /// The seq of the log entry the frame comes from, 0 for a frame of
        /// this connection alone (an error, a pong). Polling sessions number
        /// frames by it, so every instance numbers them alike.
        at: u64,
    },
    /// Close a connection (it is already forgotten by the core).
    Close {
        /// The connection.
        member: MemberId,
        /// Why.
        reason: CloseReason,
    },
}

#[derive(Debug)]
struct Attachment {
    /// The room this connection is a member of.
    room: Option<RoomName>,
    /// Its member token, from its first join on; kept across rooms.
    token: Option<ResumeToken>,
    /// Whose address (subnet) it comes from: its frames draw on that
    /// address's bucket as well as on its token's.
    client: ClientKey,
    /// A polling session's token: its lease is renewed by its polls, not
    /// by this instance, and its record lets any instance serve it.
    poll: Option<Arc<str>>,
    /// The minor version its last `join` said it understands (0 when it
    /// said none): from 2 on, its welcomes carry the roster in pages.
    minor: u32,
    /// The room and token it is still a member of on another shard, while
    /// its move here to join another room is decided (see [`Carried`]),
    /// and the log seq it had been sent that room's frames up to.
    away: Option<(RoomName, ResumeToken, u64)>,
}

/// This instance's connections and room mirrors, over a backplane.
pub(crate) struct ChatCore {
    limits: Limits,
    /// This instance's id in the cluster.
    node: Arc<str>,
    /// How long a WebSocket member outlives this instance's last renewal.
    lease_ms: u64,
    backplane: Box<dyn Backplane>,
    connections: HashMap<MemberId, Attachment>,
    rooms: HashMap<RoomName, Mirror>,
    /// The connection here that holds each token.
    tokens: HashMap<ResumeToken, MemberId>,
    /// Members in rooms, kept as they enter and leave so that the metrics
    /// read after every event do not walk every room.
    members_in_rooms: usize,
    /// The per-client frame allowances and the instance-wide counts,
    /// shared with this instance's other shards.
    share: Arc<InstanceShare>,
    /// Message allowance per room mirrored here; dropped with the mirror.
    room_buckets: HashMap<RoomName, RateBucket>,
    /// Bytes the mirrors' histories hold, kept as they change.
    mirror_history_bytes: usize,
    /// Connections whose join the backplane took but whose entry has not
    /// come back yet (a store commits first), and the room: that room's
    /// mirror must stay, or the entry would find nobody to welcome.
    joining: HashMap<MemberId, RoomName>,
    /// Rooms whose mirror waits for its snapshot (a join decided later
    /// opens them), with the entries heard meanwhile, at most
    /// [`crate::core::backplane::LOG_TAIL`] (past that, what is missed is read back as a gap).
    opening: HashMap<RoomName, Vec<Entry>>,
    /// The room epoch a joiner's cursor is from, while its room opens:
    /// checked when it is welcomed.
    seen_epochs: HashMap<MemberId, String>,
}

fn to_member(id: MemberId, frame: ServerFrame) -> Effect {
    Effect::Send {
        to: Audience::Member(id),
        frame,
        at: 0,
    }
}

fn refusal(id: MemberId, code: ErrorCode, message: impl Into<String>) -> Vec<Effect> {
    vec![to_member(id, error(code, message))]
}

/// The page size a `history` or `roster` request asks for: `limit`, or
/// `default` when it names none; outside 1 to `max`, the refusal to send.
fn page_limit(limit: Option<u64>, default: u64, max: u64) -> Result<u64, Refusal> {
    let limit = limit.unwrap_or(default);
    if (1..=max).contains(&limit) {
        Ok(limit)
    } else {
        Err(Refusal::new(
            ErrorCode::InvalidLimit,
            format!("limit must be 1 to {max}; it was {limit}"),
        ))
    }
}

/// The error frame for a backplane refusal, carrying the `say`'s ref.
fn refused(id: MemberId, refusal: Refusal, reference: Option<String>) -> Vec<Effect> {
    vec![to_member(
        id,
        ServerFrame::Error {
            code: refusal.code,
            message: refusal.message,
            reference,
            retry_ms: refusal.retry_ms,
        },
    )]
}

impl ChatCore {
    /// An instance called `node` with these limits over `backplane`, whose
    /// WebSocket members' leases last `lease_ms`.
    /// A single shard (tests).
    #[cfg(test)]
    pub(crate) fn new(
        limits: Limits,
        node: Arc<str>,
        lease_ms: u64,
        backplane: Box<dyn Backplane>,
    ) -> Self {
        let share = Arc::new(InstanceShare::new(&limits));
        ChatCore::sharing(limits, node, lease_ms, backplane, share)
    }

    /// A core that is one shard of an instance: the others hold the same
    /// `share`.
    pub(crate) fn sharing(
        limits: Limits,
        node: Arc<str>,
        lease_ms: u64,
        backplane: Box<dyn Backplane>,
        share: Arc<InstanceShare>,
    ) -> Self {
        ChatCore {
            limits,
            node,
            lease_ms,
            backplane,
            connections: HashMap::new(),
            rooms: HashMap::new(),
            tokens: HashMap::new(),
            members_in_rooms: 0,
            share,
            room_buckets: HashMap::new(),
            mirror_history_bytes: 0,
            joining: HashMap::new(),
            opening: HashMap::new(),
            seen_epochs: HashMap::new(),
        }
    }

    /// The backplane, for the shell's housekeeping (subscriptions, health).
    pub(crate) fn backplane(&mut self) -> &mut dyn Backplane {
        self.backplane.as_mut()
    }

    /// Registers a new connection (not yet in a room) from `client`;
    /// `poll` is the session token of a polling session.
    pub(crate) fn connect(&mut self, id: MemberId, client: ClientKey, poll: Option<Arc<str>>) {
        self.connections.insert(
            id,
            Attachment {
                room: None,
                token: None,
                client,
                poll,
                minor: 0,
                away: None,
            },
        );
    }

    /// Whether connection `id` is registered (connected and not yet
    /// gone): frames from any other are not handled.
    pub(crate) fn knows(&self, id: MemberId) -> bool {
        self.connections.contains_key(&id)
    }

    /// Takes a frame's token from the connection's address bucket and,
    /// once it has a resume token, from that token's bucket: neither a new
    /// connection nor a takeover starts with a full allowance.
    fn take_frame(&mut self, id: MemberId, now_ms: u64) -> Option<Result<(), u64>> {
        let conn = self.connections.get(&id)?;
        let mut allowances = self.share.allowances();
        let taken = allowances
            .address
            .take(&conn.client, now_ms)
            .and_then(|()| match &conn.token {
                Some(token) => allowances.token.take(token, now_ms),
                None => Ok(()),
            });
        Some(taken)
    }

    /// A polling session was polled: its member's lease and its record
    /// last one grace period more (queued by a pipelined backplane).
    pub(crate) fn touch(&mut self, id: MemberId) {
        if let Some((poll, record, ttl)) = self.poll_record(id) {
            self.backplane.refresh_poll(&poll, &record, ttl);
        }
    }

    /// A polling session's member moved: its record says so at once, as
    /// the session's next request may reach another instance.
    pub(super) fn save_place(&mut self, id: MemberId) {
        if let Some((poll, record, ttl)) = self.poll_record(id) {
            let _ = self.backplane.save_poll(&poll, &record, ttl);
            let _ = self
                .backplane
                .renew(std::slice::from_ref(&record.token), ttl);
        }
    }

    /// A polling session's token, its record, and how long both last.
    fn poll_record(&self, id: MemberId) -> Option<(Arc<str>, PollRecord, u64)> {
        let conn = self.connections.get(&id)?;
        let (Some(poll), Some(token)) = (conn.poll.clone(), conn.token.clone()) else {
            return None;
        };
        let record = PollRecord {
            token,
            room: conn.room.as_ref().map(|r| r.to_string()),
        };
        Some((poll, record, self.limits.poll_lease().as_millis() as u64))
    }

    /// Forgets a connection; its room sees it leave (`why`).
    pub(crate) fn disconnect(&mut self, id: MemberId, why: LeftWhy, now_ms: u64) -> Vec<Effect> {
        let effects = match self.place_of(id) {
            Some((room, token)) => {
                let result = self.leave_now_or_later(id, &room, &token, why);
                // Unreachable backplane: the member's lease lapses instead,
                // and the reaper tells the room; we stop delivering now.
                self.unbind(id);
                match result {
                    Ok(entries) => self.apply(entries, now_ms),
                    Err(_) => Vec::new(),
                }
            }
            None => Vec::new(),
        };
        // A polling session that ends here ends everywhere: no other
        // instance may adopt it afterwards.
        if let Some(poll) = self.connections.get(&id).and_then(|c| c.poll.clone()) {
            let _ = self.backplane.drop_poll(&poll);
        }
        self.forget(id);
        effects
    }

    /// Forgets a connection without telling its room: a polling session
    /// that another instance may still be serving, or one being resumed.
    pub(crate) fn detach(&mut self, id: MemberId) {
        self.unbind(id);
        self.forget(id);
    }

    fn forget(&mut self, id: MemberId) {
        self.seen_epochs.remove(&id);
        if let Some(room) = self.joining.remove(&id) {
            self.drop_mirror_if_unused(&room);
        }
        if let Some(conn) = self.connections.remove(&id) {
            if let Some(token) = conn.token {
                if self.tokens.get(&token) == Some(&id) {
                    self.tokens.remove(&token);
                    crate::core::shrink::when_sparse(&mut self.tokens);
                }
            }
            crate::core::shrink::when_sparse(&mut self.connections);
        }
    }

    /// Takes connection `id` out of its room's mirror, locally only.
    fn unbind(&mut self, id: MemberId) {
        if let Some(room_name) = self.unbind_keeping_mirror(id) {
            self.drop_mirror_if_unused(&room_name);
        }
    }

    /// Stops mirroring (or opening) a room nobody here is in or joining.
    fn drop_mirror_if_unused(&mut self, room_name: &RoomName) {
        if self.joining.values().any(|r| r == room_name) {
            return;
        }
        if self.rooms.get(room_name).is_some_and(Mirror::has_no_local) {
            self.forget_mirror(room_name);
            self.room_buckets.remove(room_name);
            crate::core::shrink::when_sparse(&mut self.room_buckets);
            self.backplane.watch(room_name, false);
        } else if !self.rooms.contains_key(room_name) && self.opening.remove(room_name).is_some() {
            self.backplane.watch(room_name, false);
        }
    }

    /// Starts mirroring a room from its snapshot.
    fn keep_mirror(&mut self, room_name: &RoomName, mirror: Mirror) {
        self.count_history(mirror.history_bytes(), 0);
        match self.rooms.insert(room_name.clone(), mirror) {
            Some(old) => self.count_history(0, old.history_bytes()),
            None => self.share.count_mirror(true),
        }
        self.hold_history_bound();
    }

    /// The mirrors here hold `added` bytes more and `removed` fewer.
    pub(super) fn count_history(&mut self, added: usize, removed: usize) {
        self.mirror_history_bytes = self.mirror_history_bytes + added - removed;
        self.share.count_bytes(added, removed);
    }

    /// Stops mirroring a room; answers its mirror.
    fn forget_mirror(&mut self, room_name: &RoomName) -> Option<Mirror> {
        let old = self.rooms.remove(room_name)?;
        self.count_history(0, old.history_bytes());
        self.share.count_mirror(false);
        Some(old)
    }

    /// Holds the mirrors' histories to `max_history_bytes` in all (across
    /// the instance's shards), taking the oldest messages of the least
    /// recently active rooms first: the shard that sees the excess sheds it
    /// from its own rooms, as far as they hold it.
    fn hold_history_bound(&mut self) {
        let total = self.share.mirror_bytes();
        if total > self.limits.max_history_bytes {
            let excess = (total - self.limits.max_history_bytes).min(self.mirror_history_bytes);
            let rooms = self.rooms.values_mut().map(Mirror::recency_and_history);
            let freed = crate::core::history::evict_least_recent(rooms, excess);
            self.count_history(0, freed);
        }
    }

    /// Bytes of history held here: by the backplane (the in-memory one
    /// keeps every room's) and by this instance's mirrors. With the
    /// in-memory backplane the two share their messages' allocations.
    pub(crate) fn history_bytes(&self) -> (usize, usize) {
        (self.backplane.history_bytes(), self.mirror_history_bytes)
    }

    /// Number of rooms mirrored and of members connected here.
    pub(crate) fn stats(&self) -> (usize, usize) {
        (self.rooms.len(), self.members_in_rooms)
    }

    /// Rate buckets kept: per address, per resume token, and per resume
    /// token for `history` requests.
    pub(crate) fn buckets(&self) -> [usize; 3] {
        let allowances = self.share.allowances();
        [
            allowances.address.len(),
            allowances.token.len(),
            allowances.history.len(),
        ]
    }

    /// Number of participants in a room, cluster-wide.
    pub(crate) fn count(&self, room: &RoomName) -> usize {
        self.rooms.get(room).map_or(0, Mirror::len)
    }

    /// The connections here in a room.
    pub(crate) fn members_of<'a>(&'a self, room: &RoomName) -> impl Iterator<Item = MemberId> + 'a {
        self.rooms.get(room).into_iter().flat_map(Mirror::local_ids)
    }

    /// Tokens whose leases this instance renews: its WebSocket members.
    /// Polling sessions renew theirs with every poll, wherever it lands.
    pub(crate) fn leased_tokens(&self) -> Vec<ResumeToken> {
        self.connections
            .values()
            .filter(|c| c.poll.is_none() && c.room.is_some())
            .filter_map(|c| c.token.clone())
            .collect()
    }

    /// The room and token of a connection that is in a room here, or,
    /// while its move here is decided, on the shard it comes from.
    fn place_or_away(&self, id: MemberId) -> Option<(RoomName, ResumeToken)> {
        self.place_of(id).or_else(|| {
            let (room, token, _) = self.connections.get(&id)?.away.clone()?;
            Some((room, token))
        })
    }

    /// The room and token of a connection that is in a room.
    fn place_of(&self, id: MemberId) -> Option<(RoomName, ResumeToken)> {
        let conn = self.connections.get(&id)?;
        Some((conn.room.clone()?, conn.token.clone()?))
    }

    /// The room and token of connection `id` for a request carrying
    /// `reference`, or the error to answer: `not_joined` (with the `ref`,
    /// saying "join a room before `doing`"), or `bad_frame` for a `ref`
    /// too long to echo.
    fn place_for(
        &self,
        id: MemberId,
        reference: &Option<String>,
        doing: &str,
    ) -> Result<(RoomName, ResumeToken), Vec<Effect>> {
        let Some(place) = self.place_of(id) else {
            return Err(refused(
                id,
                Refusal::new(ErrorCode::NotJoined, format!("join a room before {doing}")),
                reference.clone(),
            ));
        };
        if reference
            .as_ref()
            .is_some_and(|r| r.chars().count() > MAX_REF_CHARS)
        {
            return Err(refused(
                id,
                Refusal::new(
                    ErrorCode::BadFrame,
                    format!("ref is longer than {MAX_REF_CHARS} characters"),
                ),
                None,
            ));
        }
        Ok(place)
    }

    /// Handles one frame from a connection.
    pub(crate) fn handle(&mut self, id: MemberId, frame: ClientFrame, now_ms: u64) -> Vec<Effect> {
        let Some(taken) = self.take_frame(id, now_ms) else {
            return Vec::new();
        };
        if let Err(retry_ms) = taken {
            let reference = match &frame {
                ClientFrame::Say { reference, .. }
                | ClientFrame::History { reference, .. }
                | ClientFrame::Roster { reference, .. } => reference.clone(),
                _ => None,
            };
            let frame = ServerFrame::Error {
                code: ErrorCode::RateLimited,
                message: format!("too many frames; retry in {retry_ms} ms"),
                reference,
                retry_ms: Some(retry_ms),
            };
            return vec![to_member(id, frame)];
        }
        match frame {
            ClientFrame::Join {
                v,
                nick,
                room,
                since,
                resume,
                epoch,
                minor,
            } => self.join(
                id,
                joining::JoinAsk {
                    v,
                    nick: &nick,
                    room: room.as_deref(),
                    since,
                    resume: resume.as_deref(),
                    epoch: epoch.as_deref(),
                    minor,
                },
                now_ms,
            ),
            ClientFrame::Say { text, reference } => self.say(id, text, reference, now_ms),
            ClientFrame::Typing { on } => self.typing(id, on, now_ms),
            ClientFrame::Nick { nick } => self.rename(id, &nick, now_ms),
            ClientFrame::Leave {} => self.leave(id, now_ms),
            ClientFrame::Ping {} => vec![to_member(id, ServerFrame::Pong {})],
            ClientFrame::History {
                before,
                limit,
                reference,
            } => self.page_back(
                id,
                paging::HistoryAsk {
                    before,
                    limit,
                    reference,
                },
                now_ms,
            ),
            ClientFrame::Roster {
                after,
                prefix,
                limit,
                reference,
            } => self.page_roster(
                id,
                roster_pages::RosterAsk {
                    after,
                    prefix,
                    limit,
                    reference,
                },
            ),
        }
    }

    fn say(
        &mut self,
        id: MemberId,
        text: String,
        reference: Option<String>,
        now_ms: u64,
    ) -> Vec<Effect> {
        let refuse = |code, message: String, reference: Option<String>| {
            refused(id, Refusal::new(code, message), reference)
        };
        let (room_name, token) = match self.place_for(id, &reference, "sending") {
            Ok(place) => place,
            Err(effects) => return effects,
        };
        let text = match MessageText::parse(text, self.limits.max_message_chars) {
            Ok(text) => text.into_string(),
            Err(invalid) => return refuse(invalid.code, invalid.message, reference),
        };
        let (burst, per_sec) = (self.limits.room_rate_burst, self.limits.room_rate_per_sec);
        let room_bucket = self
            .room_buckets
            .entry(room_name.clone())
            .or_insert_with(|| RateBucket::new(burst, per_sec, now_ms));
        if let Err(retry_ms) = room_bucket.take(now_ms) {
            let mut refusal = Refusal::new(
                ErrorCode::RateLimited,
                format!("this room is busy; retry in {retry_ms} ms"),
            );
            refusal.retry_ms = Some(retry_ms);
            return refused(id, refusal, reference);
        }
        match self
            .backplane
            .say(&room_name, &token, text, reference.clone(), now_ms)
        {
            Ok(said) if said.resend => match reference {
                // A resend: the original id is acknowledged again, nothing
                // is broadcast twice.
                Some(reference) => vec![to_member(
                    id,
                    ServerFrame::Ack {
                        reference,
                        id: said.id,
                    },
                )],
                None => Vec::new(),
            },
            // The ack goes out as the message is applied, after it.
            Ok(said) => {
                // A polling session's next request may reach another
                // instance: it must find this message already decided.
                if self.connections.get(&id).is_some_and(|a| a.poll.is_some()) {
                    self.backplane.wait_decided();
                }
                self.apply(said.entries, now_ms)
            }
            Err(refusal) => refused(id, refusal, reference),
        }
    }

    /// A pipelined backplane's later answer to a call that wrote nothing:
    /// the sender, if it is still here under that token, is acknowledged
    /// with the id already logged (a say's resend) or told the refusal.
    pub(crate) fn answered(
        &mut self,
        token: &ResumeToken,
        reference: Option<String>,
        answer: Result<u64, Refusal>,
    ) -> Vec<Effect> {
        let Some(&id) = self.tokens.get(token) else {
            return Vec::new();
        };
        match (answer, reference) {
            (Ok(message), Some(reference)) => vec![to_member(
                id,
                ServerFrame::Ack {
                    reference,
                    id: message,
                },
            )],
            (Ok(_), None) => Vec::new(),
            (Err(refusal), reference) => refused(id, refusal, reference),
        }
    }

    /// Ends typing indicators of members here older than
    /// [`TYPING_TIMEOUT_MS`].
    pub(crate) fn expire_typing(&mut self, now_ms: u64) -> Vec<Effect> {
        let cutoff = now_ms.saturating_sub(TYPING_TIMEOUT_MS);
        let stale: Vec<(RoomName, ResumeToken)> = self
            .rooms
            .iter()
            .flat_map(|(name, room)| {
                room.stale_local_typers(cutoff)
                    .into_iter()
                    .map(move |token| (name.clone(), token))
            })
            .collect();
        let mut effects = Vec::new();
        for (room, token) in stale {
            if let Ok(entries) = self.backplane.typing(&room, &token, false) {
                effects.extend(self.apply(entries, now_ms));
            }
        }
        effects
    }

    /// Takes members whose leases lapsed out of their rooms.
    pub(crate) fn reap(&mut self, now_ms: u64) -> Vec<Effect> {
        {
            let mut allowances = self.share.allowances();
            allowances.address.sweep(now_ms);
            allowances.token.sweep(now_ms);
            allowances.history.sweep(now_ms);
        }
        if let Some(age) = self.limits.history_max_age_ms {
            let cutoff = now_ms.saturating_sub(age);
            let freed: usize = self
                .rooms
                .values_mut()
                .map(|room| room.recency_and_history().1.drop_sent_before(cutoff))
                .sum();
            self.count_history(0, freed);
        }
        match self.backplane.reap() {
            Ok(entries) => self.apply(entries, now_ms),
            Err(_) => Vec::new(),
        }
    }

    fn typing(&mut self, id: MemberId, on: bool, now_ms: u64) -> Vec<Effect> {
        let Some((room_name, token)) = self.place_of(id) else {
            return refusal(id, ErrorCode::NotJoined, "join a room before typing");
        };
        // Only changes are logged; renewing "on" just restarts the clock.
        let Some(room) = self.rooms.get_mut(&room_name) else {
            return Vec::new();
        };
        if room.is_typing(&token) == on {
            if on {
                room.renew_typing(&token, now_ms);
            }
            return Vec::new();
        }
        // In a big room "is typing" is not relayed: a line naming a few of
        // thousands tells nobody anything, and each change would cost a
        // frame per member. One who was typing as the room grew may stop.
        if on && room.len() >= self.limits.big_room_members {
            return Vec::new();
        }
        match self.backplane.typing(&room_name, &token, on) {
            Ok(entries) => self.apply(entries, now_ms),
            Err(refusal) => refused(id, refusal, None),
        }
    }

    fn rename(&mut self, id: MemberId, raw: &str, now_ms: u64) -> Vec<Effect> {
        let Some((room_name, token)) = self.place_of(id) else {
            return refusal(
                id,
                ErrorCode::NotJoined,
                "join a room before changing nickname",
            );
        };
        let nick = match Nickname::parse(raw, self.limits.max_nick_chars) {
            Ok(nick) => nick,
            Err(invalid) => return refusal(id, invalid.code, invalid.message),
        };
        match self.backplane.rename(&room_name, &token, &nick) {
            Ok(entries) => self.apply(entries, now_ms),
            Err(refusal) => refused(id, refusal, None),
        }
    }

    fn leave(&mut self, id: MemberId, now_ms: u64) -> Vec<Effect> {
        let Some((room_name, token)) = self.place_of(id) else {
            return refusal(id, ErrorCode::NotJoined, "not in a room");
        };
        match self.leave_now_or_later(id, &room_name, &token, LeftWhy::Left) {
            Ok(entries) => self.apply(entries, now_ms),
            Err(refusal) => refused(id, refusal, None),
        }
    }

    /// A leave, decided later (its entries come through the feed) unless
    /// the connection is a polling session, whose next request may reach
    /// another instance that must find it out of the room.
    fn leave_now_or_later(
        &mut self,
        id: MemberId,
        room: &RoomName,
        token: &ResumeToken,
        why: LeftWhy,
    ) -> Result<Vec<Entry>, Refusal> {
        let polling = self.connections.get(&id).is_some_and(|c| c.poll.is_some());
        if polling {
            self.backplane.leave(room, token, why)
        } else {
            self.backplane.leave_later(room, token, why)
        }
    }

    /// Brings every mirror up to date with the log: after the backplane
    /// comes back, entries written meanwhile may not have been heard.
    pub(crate) fn refresh(&mut self, now_ms: u64) -> Vec<Effect> {
        let rooms: Vec<(RoomName, u64, String)> = self
            .rooms
            .iter()
            .map(|(name, room)| (name.clone(), room.seq, room.epoch.clone()))
            .collect();
        let mut effects = Vec::new();
        for (room, seq, epoch) in rooms {
            let Ok(snapshot) = self.backplane.snapshot(&room) else {
                continue;
            };
            // Another incarnation (Redis restarted without its data):
            // start over from what it has now.
            if snapshot.epoch != epoch || snapshot.seq < seq {
                self.resync_from(&room, snapshot, &mut effects);
                continue;
            }
            match self.backplane.read(&room, seq) {
                Ok(Some(entries)) => effects.extend(self.apply(entries, now_ms)),
                Ok(None) => self.resync_from(&room, snapshot, &mut effects),
                Err(_) => {}
            }
        }
        effects
    }

    /// Applies log entries to the mirrors, in order, and says what the
    /// connections here must be sent.
    pub(crate) fn apply(&mut self, entries: Vec<Entry>, now_ms: u64) -> Vec<Effect> {
        let mut effects = Vec::new();
        let mut left = Vec::new();
        for entry in entries {
            if matches!(entry.event, crate::core::backplane::Event::Left { .. }) {
                left.push(entry.room.clone());
            }
            self.apply_entry(entry, now_ms, &mut effects);
        }
        // Only once the batch is applied: a rejoin under a new name is a
        // leave then a join of the same room.
        for room in left {
            self.drop_mirror_if_unused(&room);
        }
        effects
    }
}

#[cfg(test)]
mod tests;
