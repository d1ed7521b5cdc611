//! The Redis backplane: the same decisions and logs as the in-memory one,
//! kept in a Redis server or a Redis Cluster (`link.rs`) so that several
//! Parley instances share them. Each decision about a room is one Lua
//! script on the room's hash slot (`redis/scripts.rs`, which also describes
//! the keys) on a blocking connection, run on the ChatRoom's own thread;
//! the entries it wrote come back as its answer, and every instance hears
//! them on one pub/sub channel through a thread of its own (`feed.rs`,
//! started by [`RedisBackplane::subscribe`]), which passes on those of the
//! rooms it watches.
//!
//! No script spans two slots, so what touches a room, a token's place and
//! lease (its lease bucket) and the rooms index is several scripts, run in
//! an order that a crash between any two leaves safe: a token's place
//! lists every room it may be in before it enters one and keeps it until
//! it has left, and its lease lapses when its instance is gone, so the
//! reaper takes it out of whatever rooms remain (docs/DECISIONS.md).
//!
//! Outages fail fast: commands time out after [`IO_TIMEOUT`], a lost
//! connection is dropped and retried at most every [`RETRY_EVERY`], and
//! meanwhile every call is refused with [`Refusal::degraded`]. Either link
//! (commands or subscription) going down or coming back is told to the
//! subscriber as [`Logged::Degraded`]. Lease times are the Redis server's
//! clock, so instances' clocks need not agree.
//!
//! This file owns [`RedisBackplane`]: connecting, the command connection
//! and its health, and the [`Backplane`] calls, each turning a script's
//! reply into backplane types; the lease buckets and the rooms index are
//! `slots.rs`'s. The subscription thread is `feed.rs`'s and
//! the JSON shapes sent and read are `wire.rs`'s; this file must not read
//! the subscription or spell out JSON itself. It does not repair gaps in
//! what the subscription delivered (the core reads the log when an entry's
//! `prev` is not the seq it has).

mod deciders;
mod feed;
mod link;
mod nodes;
mod pipeline;
mod scripts;
mod slots;
#[cfg(test)]
mod tests;
mod wire;

use std::sync::atomic::Ordering;
use std::sync::Arc;
use std::thread;
use std::time::Duration;

use redis::{ErrorKind, RedisError, RedisResult, Value};

use self::deciders::{Decider, Whole, DECIDERS};
use self::feed::{lock, run_feed, FeedState};
use self::link::{NotReady, Slot, Target};
use self::pipeline::{Call, Pipeline, Queued};
use self::scripts::{Op, Scripts};
use self::slots::{bucket, rooms_of};
use self::wire::{
    decode_batch, decode_kept, json, unreadable, Held, JoinedHead, MessageBody, MessageHead,
};
use crate::core::backplane::{
    Backplane, Entry, Event, JoinRequest, LeftWhy, LogFeed, Logged, Page, PollRecord, Refusal,
    ResumeToken, Said, Snapshot, SnapshotMember, LOG_TAIL,
};
use crate::core::ids;
use crate::core::rules::nickname::Nickname;
use crate::core::rules::room_name::RoomName;
use crate::protocol::ErrorCode;

/// Longest wait for Redis to accept a connection or answer a command
/// before it counts as unreachable.
pub(crate) const IO_TIMEOUT: Duration = Duration::from_secs(1);
/// Least time between two attempts to reconnect, for commands and for the
/// subscription alike, so an outage is not met with a storm of connects.
pub(crate) const RETRY_EVERY: Duration = Duration::from_millis(500);
/// How long an empty room's keys (epoch, history, log) outlive its last
/// member, as the in-memory backplane evicts idle empty rooms.
pub(crate) const EMPTY_ROOM_TTL: Duration = Duration::from_secs(24 * 60 * 60);
/// Most lapsed leases one reap takes from each lease bucket, so that the
/// members of a crashed instance do not hold Redis in one long script;
/// the next reap goes on.
pub(crate) const REAP_BATCH: usize = 100;
/// Lease renewals queued to the pipeline at most; past it one renews on
/// the caller's thread. Each holds the tokens of one shard's members.
const MAX_RENEWALS_QUEUED: usize = 8;
/// Lease buckets: a token's place and lease are kept in one of these hash
/// slots, chosen from the token, so renewing and reaping spread over a
/// cluster's shards; every reap reads each bucket once.
pub(crate) const LEASE_BUCKETS: u32 = 16;

/// The Redis backplane.
pub(crate) struct RedisBackplane {
    target: Target,
    /// The command connection (none while Redis is unreachable).
    conn: Slot,
    scripts: Scripts,
    prefix: String,
    /// Rooms the cluster may hold at once (the rooms index: held with
    /// members, idle empty; the empty one idle longest is forgotten to make
    /// space).
    max_rooms: usize,
    /// The URL without its password, for logs.
    shown: String,
    shared: Arc<FeedState>,
    /// Where `say` and `typing` go when pipelined ([`Self::pipelined`]).
    pipeline: Option<Pipeline>,
}

impl std::fmt::Debug for RedisBackplane {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RedisBackplane")
            .field("url", &self.shown)
            .field("prefix", &self.prefix)
            .field("healthy", &self.shared.healthy())
            .finish()
    }
}

impl Drop for RedisBackplane {
    fn drop(&mut self) {
        self.shared.stop.store(true, Ordering::SeqCst);
    }
}

/// The URL with its password replaced by `***`, fit for a log line.
fn redact(url: &str) -> String {
    let Some((scheme, rest)) = url.split_once("://") else {
        return url.to_owned();
    };
    let end = rest.find(['/', '?', '#']).unwrap_or(rest.len());
    let (authority, tail) = rest.split_at(end);
    match authority.rsplit_once('@') {
        Some((userinfo, host)) if userinfo.contains(':') => {
            let user = userinfo.split(':').next().unwrap_or_default();
            format!("{scheme}://{user}:***@{host}{tail}")
        }
        _ => url.to_owned(),
    }
}

/// Whether the connection is beyond use after this error. An error Redis
/// answered (a script's, `LOADING`, `READONLY`) leaves it usable.
fn breaks_link(error: &RedisError) -> bool {
    !matches!(
        error.kind(),
        ErrorKind::Server(_) | ErrorKind::Extension | ErrorKind::UnexpectedReturnType
    )
}

impl RedisBackplane {
    /// Connects to one Redis server at `url`; see [`Self::connect_to`].
    #[cfg(test)]
    pub(crate) fn connect(
        url: &str,
        prefix: &str,
        history_size: usize,
    ) -> Result<RedisBackplane, String> {
        Self::connect_to(url, false, prefix, history_size)
    }

    /// Connects to `url` (`redis://[user:password@]host:port/db`, or
    /// `rediss://` for TLS; with `cluster`, one or more nodes of a Redis
    /// Cluster, comma-separated), checks that Redis answers and takes the
    /// scripts, and keeps `history_size` messages per room under keys
    /// starting with `prefix`. Fails, naming the URL without its password,
    /// when Redis cannot be reached.
    pub(crate) fn connect_to(
        url: &str,
        cluster: bool,
        prefix: &str,
        history_size: usize,
    ) -> Result<RedisBackplane, String> {
        let shown = url.split(',').map(redact).collect::<Vec<_>>().join(",");
        if url.contains("rediss:") {
            // Fails only when a provider is already installed, which is as good.
            let _ = rustls::crypto::ring::default_provider().install_default();
        }
        let target =
            Target::parse(url, cluster).map_err(|e| format!("bad Redis URL {shown}: {e}"))?;
        let mut node = target
            .first_node()
            .map_err(|e| format!("cannot reach Redis at {shown}: {e}"))?;
        match (cluster, link::is_cluster_node(&mut node)) {
            (false, true) => {
                return Err(format!(
                    "Redis at {shown} is a Redis Cluster node: start with --redis-cluster"
                ))
            }
            (true, false) => {
                return Err(format!(
                    "Redis at {shown} is not a Redis Cluster node: start without --redis-cluster"
                ))
            }
            _ => {}
        }
        let mut conn = target
            .open()
            .map_err(|e| format!("cannot reach Redis at {shown}: {e}"))?;
        let scripts = Scripts::new(
            prefix,
            history_size,
            history_size + LOG_TAIL,
            EMPTY_ROOM_TTL.as_millis() as u64,
        );
        scripts
            .load(&mut *conn)
            .map_err(|e| format!("Redis at {shown} refused the backplane's scripts: {e}"))?;
        Ok(RedisBackplane {
            target,
            conn: Slot::new(Some(conn)),
            scripts,
            prefix: prefix.to_owned(),
            max_rooms: usize::MAX,
            shown,
            shared: Arc::default(),
            pipeline: None,
        })
    }

    /// Sends `say` and `typing` through a pipeline on a connection and
    /// thread of their own (`redis/pipeline.rs`): they return at once and
    /// are answered through the feed, so the ChatRoom never waits for
    /// them. Without it, every call is one round trip on the caller's
    /// thread, as the contract tests drive it.
    pub(crate) fn pipelined(mut self) -> Result<Self, String> {
        let deciders = (0..DECIDERS)
            .map(|_| {
                let mut own = self.sibling();
                Box::new(move |whole| own.decide_whole(whole)) as Decider
            })
            .collect();
        let pipeline = Pipeline::start(
            self.target.clone(),
            self.scripts.clone(),
            self.shared.clone(),
            deciders,
        )
        .map_err(|e| format!("cannot start the Redis pipeline thread: {e}"))?;
        self.pipeline = Some(pipeline);
        Ok(self)
    }

    /// A backplane on the same Redis, sharing this one's feed state, with
    /// a command connection of its own (opened at first use) and no
    /// pipeline: a decider's (`deciders.rs`).
    fn sibling(&self) -> RedisBackplane {
        RedisBackplane {
            target: self.target.clone(),
            conn: Slot::new(None),
            scripts: self.scripts.clone(),
            prefix: self.prefix.clone(),
            max_rooms: self.max_rooms,
            shown: self.shown.clone(),
            shared: self.shared.clone(),
            pipeline: None,
        }
    }

    /// Runs a queued decision whole, blocking (on a decider's thread), and
    /// answers what the feed is told besides the entries written, which
    /// the subscription brings in each room's order: a room's snapshot, or
    /// a join's refusal.
    fn decide_whole(&mut self, whole: Whole) -> Vec<Logged> {
        match whole {
            Whole::Join { request, open } => return self.join_whole(request, open),
            // A leave or reap that fails is left to the leases: the
            // member's lapses and a later reap takes it out.
            Whole::Leave { room, token, why } => drop(self.leave(&room, &token, why)),
            // The counts first: a reap or renewal that fails (or panics)
            // must not stop the next from being queued.
            Whole::Reap => {
                self.shared.reap_queued.store(false, Ordering::SeqCst);
                drop(self.reap());
            }
            Whole::Renew { tokens, ttl_ms } => {
                self.shared.renewals_queued.fetch_sub(1, Ordering::SeqCst);
                drop(self.renew(&tokens, ttl_ms));
            }
            // Only the record's time: what it says is written at once
            // when it changes, and a refresh queued before must not undo
            // that.
            Whole::RefreshPoll {
                poll,
                record,
                ttl_ms,
            } => {
                let key = self.key(format_args!("poll:{poll}"));
                drop(self.run(|conn, _| {
                    redis::cmd("PEXPIRE")
                        .arg(&key)
                        .arg(ttl_ms.max(1))
                        .query::<Value>(conn)
                }));
                drop(self.renew(std::slice::from_ref(&record.token), ttl_ms));
            }
        }
        Vec::new()
    }

    /// A queued join: the room's snapshot first when the joiner's
    /// instance does not mirror it (a refused snapshot refuses the join),
    /// then the join.
    fn join_whole(&mut self, request: JoinRequest, open: bool) -> Vec<Logged> {
        let (room, member) = (request.room.clone(), request.origin.member);
        let refused = |refusal| Logged::Refused {
            room: room.clone(),
            member,
            refusal,
        };
        let mut told = Vec::new();
        if open {
            match self.snapshot(&room) {
                Ok(snapshot) => told.push(Logged::Opened {
                    room: room.clone(),
                    snapshot,
                }),
                Err(refusal) => return vec![refused(refusal)],
            }
        }
        if let Err(refusal) = self.join(request) {
            told.push(refused(refusal));
        }
        told
    }

    /// Holds at most `max_rooms` rooms cluster-wide, forgetting the empty
    /// room idle longest to make space and refusing joins when every room
    /// has members (unbounded until set).
    pub(crate) fn with_max_rooms(mut self, max_rooms: usize) -> Self {
        self.max_rooms = max_rooms;
        self
    }

    /// Starts passing entries of watched rooms written by any instance to
    /// `to`, and the backplane's degraded state as it changes. Calling it
    /// again replaces the recipient.
    fn subscribe_with(&mut self, deliver: LogFeed) {
        *lock(&self.shared.deliver) = Some(deliver);
        self.shared.report();
        if self.shared.feed_started.swap(true, Ordering::SeqCst) {
            return;
        }
        let clients = self.target.feed_clients();
        let channel = format!("{}ev", self.prefix);
        let shared = self.shared.clone();
        let spawned = thread::Builder::new()
            .name("parley-redis-feed".into())
            .spawn(move || run_feed(&clients, &channel, &shared));
        if let Err(e) = spawned {
            log::error!("redis backplane: cannot start the subscription thread: {e}");
            self.shared.feed_started.store(false, Ordering::SeqCst);
            self.shared.set(&self.shared.feed_down, true);
        }
    }

    /// Runs `call` on the connection, reconnecting first when it is time
    /// to; any failure is an outage, told once and refused as degraded.
    fn run<T>(
        &mut self,
        call: impl FnOnce(&mut dyn redis::ConnectionLike, &Scripts) -> RedisResult<T>,
    ) -> Result<T, Refusal> {
        // Nothing may overtake a pipelined call sent before it.
        if let Some(pipeline) = &self.pipeline {
            pipeline.drain();
        }
        // A connection left idle through an outage that another link
        // noticed (the pipeline's thread and the ChatRoom's each have one)
        // would fail this call: the slot opens a new one.
        let outages = self.shared.outages.load(Ordering::SeqCst);
        let conn = match self.conn.ready(&self.target, outages) {
            Ok((conn, _)) => conn,
            Err(NotReady::Waiting) => return Err(Refusal::degraded()),
            Err(NotReady::Failed(e)) => return Err(self.failed(&e, false)),
        };
        match call(&mut **conn, &self.scripts) {
            Ok(value) => {
                if self.shared.command_down.load(Ordering::SeqCst) {
                    log::info!("redis backplane: {} answers again", self.shown);
                }
                self.shared.set(&self.shared.command_down, false);
                Ok(value)
            }
            Err(e) => {
                let broken = breaks_link(&e);
                Err(self.failed(&e, broken))
            }
        }
    }

    fn failed(&mut self, error: &RedisError, drop_link: bool) -> Refusal {
        self.conn.failed(drop_link);
        if !self.shared.command_down.load(Ordering::SeqCst) {
            log::warn!("redis backplane: {} failed: {error}", self.shown);
        }
        self.shared.set(&self.shared.command_down, true);
        Refusal::degraded()
    }

    /// Runs a room's script that answers `{status, payload}`.
    fn decide(&mut self, op: Op, room: &str, args: &[&str]) -> Result<(String, String), Refusal> {
        let key = self.room_key(room, "meta");
        self.run(|conn, scripts| scripts.run(op, &key, args, conn))
    }

    /// The entries of an `ok` answer of a room's script, told to
    /// [`Self::heard`].
    fn entries(&mut self, op: Op, room: &str, args: &[&str]) -> Result<Vec<Entry>, Refusal> {
        let (_, payload) = self.decide(op, room, args)?;
        let entries = decode_batch(&payload).map_err(|e| unreadable("entries", e))?;
        self.heard(&entries);
        Ok(entries)
    }

    /// The pipeline, while commands reach Redis. During an outage calls
    /// take the command path, which refuses them at once and reconnects.
    fn live_pipeline(&self) -> Option<&Pipeline> {
        let down = self.shared.command_down.load(Ordering::SeqCst);
        self.pipeline.as_ref().filter(|_| !down)
    }

    fn key(&self, rest: std::fmt::Arguments<'_>) -> String {
        format!("{}{rest}", self.prefix)
    }

    /// A room's key: every key of a room has the hash tag `{room}`.
    fn room_key(&self, room: &str, part: &str) -> String {
        self.key(format_args!("{{{room}}}:{part}"))
    }
}

fn nick_taken(nick: &Nickname, room: &RoomName) -> Refusal {
    Refusal::new(
        ErrorCode::NickTaken,
        format!("the nickname {nick} is taken in {room}"),
    )
}

/// The refusal of a new room when every room held has members.
fn too_many_rooms() -> Refusal {
    Refusal::new(
        ErrorCode::TooManyRooms,
        "the server holds as many rooms as it may; try an existing room",
    )
}

impl Backplane for RedisBackplane {
    /// A join in up to five steps, each on one slot, in an order safe to
    /// stop between: (1) the token's place; when it is in another room,
    /// (2) a check that the join would pass, so a refused move leaves the
    /// member where it was; (3) the place lists the old rooms and the new
    /// one, under a fresh lease; (4) leaving the old rooms ('moved'); (5)
    /// joining, numbered past everything this instance has heard; then the
    /// place lists the new room alone. A stop anywhere leaves the place
    /// listing every room the token may be in, and its lapsed lease takes
    /// it out of them.
    fn join(&mut self, request: JoinRequest) -> Result<Vec<Entry>, Refusal> {
        let room = request.room.as_str();
        let token: &str = &request.token;
        let place = self.place(token)?;
        let was_here = rooms_of(&place).any(|r| r == room);
        let from: Vec<String> = rooms_of(&place)
            .filter(|r| *r != room)
            .map(str::to_owned)
            .collect();
        if !self.admit(room)? {
            return Err(too_many_rooms());
        }
        let head = json(&JoinedHead {
            e: "joined",
            token,
            nick: request.nick.as_str(),
            origin: &request.origin,
            since: request.since,
        });
        let max_members = request.max_members.to_string();
        let epoch = ids::new_secret()[..12].to_owned();
        let refused = |status: &str| match status {
            "nick_taken" => Some(nick_taken(&request.nick, &request.room)),
            "room_full" => Some(Refusal::new(
                ErrorCode::RoomFull,
                format!("{} is full", request.room),
            )),
            _ => None,
        };
        let ask = |floor: String, check: &str| -> Vec<String> {
            [
                room,
                token,
                request.nick.as_str(),
                request.nick.key(),
                &max_members,
                &epoch,
                &head,
                &floor,
                check,
            ]
            .map(str::to_owned)
            .to_vec()
        };
        if !from.is_empty() {
            let args = ask("0".into(), "1");
            let args: Vec<&str> = args.iter().map(String::as_str).collect();
            let (status, _) = self.decide(Op::Join, room, &args)?;
            if let Some(refusal) = refused(&status) {
                return Err(refusal);
            }
        }
        let mut listed = from.clone();
        listed.push(room.to_owned());
        self.hold(token, &listed.join("\n"), request.lease_ms)?;
        let mut entries = Vec::new();
        for old in &from {
            entries.extend(self.entries(Op::Leave, old, &[old, token, "moved"])?);
        }
        let floor = self.shared.high_water.load(Ordering::SeqCst).to_string();
        let args = ask(floor, "0");
        let args: Vec<&str> = args.iter().map(String::as_str).collect();
        let (status, payload) = self.decide(Op::Join, room, &args)?;
        if let Some(refusal) = refused(&status) {
            // Refused after all (the room filled or the nickname was taken
            // since the check): the token is in no room but this one, if
            // it was here already.
            let _ = self.hold(token, if was_here { room } else { "" }, request.lease_ms);
            return Err(refusal);
        }
        let joined = decode_batch(&payload).map_err(|e| unreadable("entries", e))?;
        self.heard(&joined);
        entries.extend(joined);
        if !from.is_empty() {
            let _ = self.hold(token, room, request.lease_ms);
        }
        Ok(entries)
    }

    /// Leaves the room, then drops the room from the token's place (and
    /// its lease, unless it moved): a stop in between leaves a place
    /// naming a room the token is not in, which the reaper finds empty.
    fn leave(
        &mut self,
        room: &RoomName,
        token: &ResumeToken,
        why: LeftWhy,
    ) -> Result<Vec<Entry>, Refusal> {
        let why = json(&why);
        let why = why.trim_matches('"');
        let entries = self.entries(Op::Leave, room.as_str(), &[room.as_str(), token, why])?;
        if !entries.is_empty() {
            let moved = if why == "moved" { "1" } else { "0" };
            let _ = self.lease::<Value>(bucket(token), &["release", token, room.as_str(), moved]);
        }
        Ok(entries)
    }

    fn decides_later(&self) -> bool {
        self.pipeline.is_some()
    }

    /// Queued whole to the pipeline's thread, even during an outage: the
    /// thread's own connection refuses it as fast as this one would.
    fn join_later(&mut self, request: JoinRequest, open: bool) -> Result<Vec<Entry>, Refusal> {
        match &self.pipeline {
            Some(pipeline) => {
                pipeline.submit(Queued::Whole(Whole::Join { request, open }))?;
                Ok(Vec::new())
            }
            None => self.join(request),
        }
    }

    /// Queued whole to the pipeline's thread, as a join is.
    fn leave_later(
        &mut self,
        room: &RoomName,
        token: &ResumeToken,
        why: LeftWhy,
    ) -> Result<Vec<Entry>, Refusal> {
        match &self.pipeline {
            Some(pipeline) => {
                pipeline.submit(Queued::Whole(Whole::Leave {
                    room: room.clone(),
                    token: token.clone(),
                    why,
                }))?;
                Ok(Vec::new())
            }
            None => self.leave(room, token, why),
        }
    }

    fn rename(
        &mut self,
        room: &RoomName,
        token: &ResumeToken,
        nick: &Nickname,
    ) -> Result<Vec<Entry>, Refusal> {
        let (status, payload) = self.decide(
            Op::Rename,
            room.as_str(),
            &[room.as_str(), token, nick.as_str(), nick.key()],
        )?;
        if status == "nick_taken" {
            return Err(nick_taken(nick, room));
        }
        let entries = decode_batch(&payload).map_err(|e| unreadable("entries", e))?;
        self.heard(&entries);
        Ok(entries)
    }

    fn typing(
        &mut self,
        room: &RoomName,
        token: &ResumeToken,
        on: bool,
    ) -> Result<Vec<Entry>, Refusal> {
        let on = if on { "true" } else { "false" };
        if let Some(pipeline) = self.live_pipeline() {
            let args = [room.as_str(), token, on].map(str::to_owned).to_vec();
            pipeline.submit(Queued::Call(Call::Typing {
                room: room.clone(),
                key: self.room_key(room.as_str(), "meta"),
                token: token.clone(),
                args,
            }))?;
            return Ok(Vec::new());
        }
        self.entries(Op::Typing, room.as_str(), &[room.as_str(), token, on])
    }

    fn say(
        &mut self,
        room: &RoomName,
        token: &ResumeToken,
        text: String,
        reference: Option<String>,
        now_ms: u64,
    ) -> Result<Said, Refusal> {
        let head = json(&MessageHead {
            e: "message",
            token,
            reference: reference.as_deref(),
        });
        let body = json(&MessageBody {
            ts: now_ms,
            text: &text,
        });
        let has_ref = if reference.is_some() { "1" } else { "0" };
        let args = [
            room.as_str(),
            token,
            has_ref,
            reference.as_deref().unwrap_or_default(),
            &head,
            &body,
        ];
        if let Some(pipeline) = self.live_pipeline() {
            pipeline.submit(Queued::Call(Call::Say {
                room: room.clone(),
                key: self.room_key(room.as_str(), "meta"),
                token: token.clone(),
                args: args.map(str::to_owned).to_vec(),
                reference,
            }))?;
            // Answered through the feed: the entry, or Answered.
            return Ok(Said {
                id: 0,
                entries: Vec::new(),
                resend: false,
            });
        }
        let (status, payload) = self.decide(Op::Say, room.as_str(), &args)?;
        match status.as_str() {
            "not_joined" => Err(Refusal::new(ErrorCode::NotJoined, "not in a room")),
            "dup" => Ok(Said {
                id: payload.parse().map_err(|e| unreadable("message id", e))?,
                entries: Vec::new(),
                resend: true,
            }),
            _ => {
                let entries = decode_batch(&payload).map_err(|e| unreadable("entries", e))?;
                self.heard(&entries);
                let id = match entries.last().map(|e| &e.event) {
                    Some(Event::Message { message, .. }) => message.id,
                    _ => return Err(unreadable("say answer", "no message entry")),
                };
                Ok(Said {
                    id,
                    entries,
                    resend: false,
                })
            }
        }
    }

    fn snapshot(&mut self, room: &RoomName) -> Result<Snapshot, Refusal> {
        type Reply = (String, String, String, Vec<String>, Vec<String>);
        if !self.admit(room.as_str())? {
            return Err(too_many_rooms());
        }
        let epoch = ids::new_secret()[..12].to_owned();
        let key = self.room_key(room.as_str(), "meta");
        let (epoch, seq, last_id, members, msgs): Reply = self
            .run(|conn, scripts| scripts.run(Op::Snapshot, &key, &[room.as_str(), &epoch], conn))?;
        let members = members
            .chunks(2)
            .map(|pair| {
                let [token, held] = pair else {
                    return Err(unreadable("members", "odd HGETALL reply"));
                };
                let held: Held = serde_json::from_str(held).map_err(|e| unreadable("member", e))?;
                Ok(SnapshotMember {
                    token: ResumeToken::from(token.as_str()),
                    nick: held.nick,
                    order: held.order,
                })
            })
            .collect::<Result<Vec<_>, _>>()?;
        let history = decode_kept(&msgs)?;
        Ok(Snapshot {
            epoch,
            seq: seq.parse().map_err(|e| unreadable("last_seq", e))?,
            last_id: last_id.parse().map_err(|e| unreadable("last_id", e))?,
            members,
            history,
        })
    }

    fn before(&mut self, room: &RoomName, before: u64, limit: usize) -> Result<Page, Refusal> {
        let (before, limit) = (before.to_string(), limit.to_string());
        let key = self.room_key(room.as_str(), "meta");
        let (more, kept): (String, Vec<String>) = self.run(|conn, scripts| {
            scripts.run(Op::Before, &key, &[room.as_str(), &before, &limit], conn)
        })?;
        Ok(Page {
            messages: decode_kept(&kept)?,
            more: more == "1",
        })
    }

    fn read(&mut self, room: &RoomName, after: u64) -> Result<Option<Vec<Entry>>, Refusal> {
        let Some(start) = after.checked_add(1) else {
            return Ok(Some(Vec::new()));
        };
        let key = self.room_key(room.as_str(), "log");
        // One XRANGE is atomic on its own: no script needed to read.
        let rows: Vec<(String, Vec<String>)> = self.run(|conn, _| {
            redis::cmd("XRANGE")
                .arg(&key)
                .arg(format!("{start}-0"))
                .arg("+")
                .query(conn)
        })?;
        let mut entries = Vec::with_capacity(rows.len());
        for (id, fields) in rows {
            let field = |name: &str| {
                fields
                    .chunks(2)
                    .find(|pair| pair[0] == name)
                    .and_then(|pair| pair.get(1))
            };
            let seq = id.split('-').next().and_then(|s| s.parse().ok());
            let prev = field("prev").and_then(|p| p.parse().ok());
            let event = field("ev").and_then(|ev| serde_json::from_str::<Event>(ev).ok());
            let (Some(seq), Some(prev), Some(event)) = (seq, prev, event) else {
                return Err(unreadable("log entry", id));
            };
            entries.push(Entry {
                seq,
                prev,
                room: room.clone(),
                event,
            });
        }
        // Entries after `after` were trimmed when the oldest kept one does
        // not follow it directly.
        if entries.first().is_some_and(|first| first.prev > after) {
            return Ok(None);
        }
        if let Some(last) = entries.last() {
            self.shared.high_water.fetch_max(last.seq, Ordering::SeqCst);
        }
        Ok(Some(entries))
    }

    fn wait_decided(&mut self) {
        if let Some(pipeline) = &self.pipeline {
            pipeline.drain();
        }
    }

    /// One script per lease bucket the tokens fall in.
    fn renew(&mut self, tokens: &[ResumeToken], ttl_ms: u64) -> Result<(), Refusal> {
        if let Some(pipeline) = self.live_pipeline() {
            // Each shard renews its own members. A queue that is full, or
            // already holds MAX_RENEWALS_QUEUED renewals (each lists up to
            // every member here), renews here instead: a lease must not
            // lapse for it.
            let queued = &self.shared.renewals_queued;
            if queued.fetch_add(1, Ordering::SeqCst) < MAX_RENEWALS_QUEUED {
                let whole = Whole::Renew {
                    tokens: tokens.to_vec(),
                    ttl_ms,
                };
                if pipeline.submit(Queued::Whole(whole)).is_ok() {
                    return Ok(());
                }
            }
            queued.fetch_sub(1, Ordering::SeqCst);
        }
        let ttl = ttl_ms.to_string();
        let mut by_bucket: std::collections::BTreeMap<u32, Vec<&str>> = Default::default();
        for token in tokens {
            by_bucket.entry(bucket(token)).or_default().push(token);
        }
        for (k, tokens) in by_bucket {
            let args: Vec<&str> = ["renew", ttl.as_str()].into_iter().chain(tokens).collect();
            self.lease::<Value>(k, &args)?;
        }
        Ok(())
    }

    /// Each bucket's lapsed leases, oldest first across buckets (as in
    /// memory), each token taken out of the rooms its place lists
    /// ('expired', only where it still is), and only then the lease
    /// dropped (unless renewed meanwhile): a stop in between leaves the
    /// lease lapsed, for the next reap to finish.
    fn reap(&mut self) -> Result<Vec<Entry>, Refusal> {
        if let Some(pipeline) = self.live_pipeline() {
            // One reap queued at a time: what it finds goes to the feed.
            if !self.shared.reap_queued.swap(true, Ordering::SeqCst)
                && pipeline.submit(Queued::Whole(Whole::Reap)).is_err()
            {
                self.shared.reap_queued.store(false, Ordering::SeqCst);
            }
            return Ok(Vec::new());
        }
        let batch = REAP_BATCH.to_string();
        let mut due = Vec::new();
        for k in 0..LEASE_BUCKETS {
            let found: Vec<String> = self.lease(k, &["due", &batch])?;
            for triple in found.chunks(3) {
                let [token, expiry, place] = triple else {
                    return Err(unreadable("lapsed leases", "odd reply"));
                };
                let expiry: u64 = expiry.parse().map_err(|e| unreadable("lease", e))?;
                due.push((expiry, token.clone(), place.clone(), k));
            }
        }
        due.sort();
        let mut entries = Vec::new();
        for (_, token, place, k) in due {
            for room in rooms_of(&place) {
                entries.extend(self.entries(Op::Leave, room, &[room, &token, "expired"])?);
            }
            self.lease::<Value>(k, &["reaped", &token])?;
        }
        Ok(entries)
    }

    fn save_poll(&mut self, poll: &str, record: &PollRecord, ttl_ms: u64) -> Result<(), Refusal> {
        let key = self.key(format_args!("poll:{poll}"));
        self.run(|conn, _| {
            redis::cmd("SET")
                .arg(&key)
                .arg(&*record.token)
                .arg("PX")
                .arg(ttl_ms.max(1))
                .query::<Value>(conn)
        })
        .map(drop)
    }

    /// The session's token, then the place of the token (in its lease
    /// bucket, another slot): the room it is joining, during a move.
    /// Queued whole to a decider: a poll must not wait on Redis for its
    /// session's record to live longer.
    fn refresh_poll(&mut self, poll: &str, record: &PollRecord, ttl_ms: u64) {
        if let Some(pipeline) = self.live_pipeline() {
            let whole = Whole::RefreshPoll {
                poll: poll.to_owned(),
                record: record.clone(),
                ttl_ms,
            };
            if pipeline.submit(Queued::Whole(whole)).is_ok() {
                return;
            }
        }
        let _ = self.save_poll(poll, record, ttl_ms);
        let _ = self.renew(std::slice::from_ref(&record.token), ttl_ms);
    }

    fn find_poll(&mut self, poll: &str) -> Result<Option<PollRecord>, Refusal> {
        let key = self.key(format_args!("poll:{poll}"));
        let token: Option<String> = self.run(|conn, _| redis::cmd("GET").arg(&key).query(conn))?;
        let Some(token) = token else {
            return Ok(None);
        };
        let place = self.place(&token)?;
        Ok(Some(PollRecord {
            room: rooms_of(&place).last().map(str::to_owned),
            token: ResumeToken::from(token),
        }))
    }

    fn drop_poll(&mut self, poll: &str) -> Result<(), Refusal> {
        let key = self.key(format_args!("poll:{poll}"));
        self.run(|conn, _| redis::cmd("DEL").arg(&key).query::<Value>(conn))
            .map(drop)
    }

    fn subscribe(&mut self, to: LogFeed) {
        self.subscribe_with(to);
    }

    fn probe(&mut self) -> bool {
        if !self.healthy() {
            let _ = self.run(|conn, _| redis::cmd("PING").query::<Value>(conn));
        }
        self.healthy()
    }

    fn watch(&mut self, room: &RoomName, on: bool) {
        let mut watched = lock(&self.shared.watched);
        if on {
            watched.insert(room.clone());
        } else {
            watched.remove(room);
        }
    }

    fn healthy(&self) -> bool {
        self.shared.healthy()
    }
}
