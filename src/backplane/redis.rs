//! The Redis backplane: the same decisions and logs as the in-memory one,
//! kept in a Redis server so that several Parley instances share them. Each
//! call is one Lua script (`redis/scripts.rs`, which also describes the
//! keys) on a blocking connection, run on the ChatRoom's own thread; the
//! entries it wrote come back as its answer, and every instance hears them
//! on one pub/sub channel through a thread of its own (`feed.rs`, started
//! by [`RedisBackplane::subscribe`]), which passes on those of the rooms it
//! watches.
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
//! reply into backplane types. The subscription thread is `feed.rs`'s and
//! the JSON shapes sent and read are `wire.rs`'s; this file must not read
//! the subscription or spell out JSON itself. It does not repair gaps in
//! what the subscription delivered (the core reads the log when an entry's
//! `prev` is not the seq it has).

mod feed;
mod pipeline;
mod scripts;
#[cfg(test)]
mod tests;
mod wire;

use std::sync::atomic::Ordering;
use std::sync::Arc;
use std::thread;
use std::time::{Duration, Instant};

use redis::{Client, Connection, ErrorKind, RedisError, RedisResult, Value};

use self::feed::{lock, run_feed, FeedState};
use self::pipeline::{Call, Pipeline};
use self::scripts::{Op, Scripts};
use self::wire::{
    decode_batch, decode_kept, json, unreadable, Held, JoinedHead, MessageBody, MessageHead,
};
use crate::core::backplane::{
    Backplane, Entry, Event, JoinRequest, LeftWhy, LogFeed, Page, PollRecord, Refusal, ResumeToken,
    Said, Snapshot, SnapshotMember, LOG_TAIL,
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
/// Most lapsed leases one reap takes, so that the members of a crashed
/// instance do not hold Redis in one long script; the next reap goes on.
pub(crate) const REAP_BATCH: usize = 1_000;

/// The Redis backplane.
pub(crate) struct RedisBackplane {
    client: Client,
    /// `None` while Redis is unreachable.
    conn: Option<Connection>,
    /// No reconnect before this.
    retry_at: Instant,
    scripts: Scripts,
    prefix: String,
    /// Rooms the cluster may hold at once (`P rooms` with members, `P idle`
    /// empty; the empty one idle longest is forgotten to make space).
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

/// A connection with [`IO_TIMEOUT`] on connecting, reading and writing.
fn open(client: &Client) -> RedisResult<Connection> {
    let conn = client.get_connection_with_timeout(IO_TIMEOUT)?;
    conn.set_read_timeout(Some(IO_TIMEOUT))?;
    conn.set_write_timeout(Some(IO_TIMEOUT))?;
    Ok(conn)
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
    /// Connects to `url` (`redis://[user:password@]host:port/db`, or
    /// `rediss://` for TLS), checks that Redis answers and takes the
    /// scripts, and keeps `history_size` messages per room under keys
    /// starting with `prefix`. Fails, naming the URL without its password,
    /// when Redis cannot be reached.
    pub(crate) fn connect(
        url: &str,
        prefix: &str,
        history_size: usize,
    ) -> Result<RedisBackplane, String> {
        let shown = redact(url);
        if url.starts_with("rediss:") {
            // Fails only when a provider is already installed, which is as good.
            let _ = rustls::crypto::ring::default_provider().install_default();
        }
        let client = Client::open(url).map_err(|e| format!("bad Redis URL {shown}: {e}"))?;
        let mut conn = open(&client).map_err(|e| format!("cannot reach Redis at {shown}: {e}"))?;
        let scripts = Scripts::new(
            prefix,
            history_size,
            history_size + LOG_TAIL,
            EMPTY_ROOM_TTL.as_millis() as u64,
        );
        scripts
            .load(&mut conn)
            .map_err(|e| format!("Redis at {shown} refused the backplane's scripts: {e}"))?;
        Ok(RedisBackplane {
            client,
            conn: Some(conn),
            retry_at: Instant::now(),
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
        let pipeline = Pipeline::start(
            self.client.clone(),
            self.scripts.clone(),
            self.shared.clone(),
        )
        .map_err(|e| format!("cannot start the Redis pipeline thread: {e}"))?;
        self.pipeline = Some(pipeline);
        Ok(self)
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
        let client = self.client.clone();
        let channel = format!("{}ev", self.prefix);
        let shared = self.shared.clone();
        let spawned = thread::Builder::new()
            .name("parley-redis-feed".into())
            .spawn(move || run_feed(&client, &channel, &shared));
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
        call: impl FnOnce(&mut Connection, &Scripts) -> RedisResult<T>,
    ) -> Result<T, Refusal> {
        // Nothing may overtake a pipelined call sent before it.
        if let Some(pipeline) = &self.pipeline {
            pipeline.drain();
        }
        if self.conn.is_none() {
            if Instant::now() < self.retry_at {
                return Err(Refusal::degraded());
            }
            match open(&self.client) {
                Ok(conn) => self.conn = Some(conn),
                Err(e) => return Err(self.failed(&e, false)),
            }
        }
        // unwrap: made just above when missing.
        let conn = self.conn.as_mut().unwrap();
        match call(conn, &self.scripts) {
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
        if drop_link || self.conn.is_none() {
            self.conn = None;
            self.retry_at = Instant::now() + RETRY_EVERY;
        }
        if !self.shared.command_down.load(Ordering::SeqCst) {
            log::warn!("redis backplane: {} failed: {error}", self.shown);
        }
        self.shared.set(&self.shared.command_down, true);
        Refusal::degraded()
    }

    /// Runs a script that answers `{status, payload}`.
    fn decide(&mut self, op: Op, args: &[&str]) -> Result<(String, String), Refusal> {
        self.run(|conn, scripts| scripts.run(op, args, conn))
    }

    /// The entries of an `ok` answer.
    fn entries(&mut self, op: Op, args: &[&str]) -> Result<Vec<Entry>, Refusal> {
        let (_, payload) = self.decide(op, args)?;
        decode_batch(&payload).map_err(|e| unreadable("entries", e))
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
    fn join(&mut self, request: JoinRequest) -> Result<Vec<Entry>, Refusal> {
        let head = json(&JoinedHead {
            e: "joined",
            token: &request.token,
            nick: request.nick.as_str(),
            origin: &request.origin,
            since: request.since,
        });
        let (status, payload) = self.decide(
            Op::Join,
            &[
                request.room.as_str(),
                &request.token,
                request.nick.as_str(),
                request.nick.key(),
                &request.max_members.to_string(),
                &ids::new_secret()[..12],
                &head,
                &request.lease_ms.to_string(),
                &self.max_rooms.min(i64::MAX as usize).to_string(),
            ],
        )?;
        match status.as_str() {
            "too_many_rooms" => Err(too_many_rooms()),
            "nick_taken" => Err(nick_taken(&request.nick, &request.room)),
            "room_full" => Err(Refusal::new(
                ErrorCode::RoomFull,
                format!("{} is full", request.room),
            )),
            _ => decode_batch(&payload).map_err(|e| unreadable("entries", e)),
        }
    }

    fn leave(
        &mut self,
        room: &RoomName,
        token: &ResumeToken,
        why: LeftWhy,
    ) -> Result<Vec<Entry>, Refusal> {
        let why = json(&why);
        self.entries(Op::Leave, &[room.as_str(), token, why.trim_matches('"')])
    }

    fn rename(
        &mut self,
        room: &RoomName,
        token: &ResumeToken,
        nick: &Nickname,
    ) -> Result<Vec<Entry>, Refusal> {
        let (status, payload) = self.decide(
            Op::Rename,
            &[room.as_str(), token, nick.as_str(), nick.key()],
        )?;
        if status == "nick_taken" {
            return Err(nick_taken(nick, room));
        }
        decode_batch(&payload).map_err(|e| unreadable("entries", e))
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
            pipeline.submit(Call::Typing {
                token: token.clone(),
                args,
            })?;
            return Ok(Vec::new());
        }
        self.entries(Op::Typing, &[room.as_str(), token, on])
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
        if let Some(pipeline) = self.live_pipeline() {
            let args = [
                room.as_str(),
                token,
                has_ref,
                reference.as_deref().unwrap_or_default(),
                &head,
                &body,
            ]
            .map(str::to_owned)
            .to_vec();
            pipeline.submit(Call::Say {
                token: token.clone(),
                reference,
                args,
            })?;
            // Answered through the feed: the entry, or Answered.
            return Ok(Said {
                id: 0,
                entries: Vec::new(),
                resend: false,
            });
        }
        let (status, payload) = self.decide(
            Op::Say,
            &[
                room.as_str(),
                token,
                has_ref,
                reference.as_deref().unwrap_or_default(),
                &head,
                &body,
            ],
        )?;
        match status.as_str() {
            "not_joined" => Err(Refusal::new(ErrorCode::NotJoined, "not in a room")),
            "dup" => Ok(Said {
                id: payload.parse().map_err(|e| unreadable("message id", e))?,
                entries: Vec::new(),
                resend: true,
            }),
            _ => {
                let entries = decode_batch(&payload).map_err(|e| unreadable("entries", e))?;
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
        let epoch = ids::new_secret()[..12].to_owned();
        let max_rooms = self.max_rooms.min(i64::MAX as usize).to_string();
        let (epoch, seq, last_id, members, msgs): Reply = self.run(|conn, scripts| {
            scripts.run(Op::Snapshot, &[room.as_str(), &epoch, &max_rooms], conn)
        })?;
        if epoch.is_empty() {
            return Err(too_many_rooms());
        }
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
        let (more, kept): (String, Vec<String>) = self.run(|conn, scripts| {
            scripts.run(Op::Before, &[room.as_str(), &before, &limit], conn)
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
        let key = self.key(format_args!("room:{room}:log"));
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
        Ok(Some(entries))
    }

    fn wait_decided(&mut self) {
        if let Some(pipeline) = &self.pipeline {
            pipeline.drain();
        }
    }

    fn renew(&mut self, tokens: &[ResumeToken], ttl_ms: u64) -> Result<(), Refusal> {
        if tokens.is_empty() {
            return Ok(());
        }
        let ttl = ttl_ms.to_string();
        let args: Vec<&str> = std::iter::once(ttl.as_str())
            .chain(tokens.iter().map(|t| &**t))
            .collect();
        self.run(|conn, scripts| scripts.run::<Value>(Op::Renew, &args, conn))
            .map(drop)
    }

    fn reap(&mut self) -> Result<Vec<Entry>, Refusal> {
        self.entries(Op::Reap, &[&REAP_BATCH.to_string()])
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

    fn find_poll(&mut self, poll: &str) -> Result<Option<PollRecord>, Refusal> {
        let found: Vec<String> =
            self.run(|conn, scripts| scripts.run(Op::FindPoll, &[poll], conn))?;
        let mut found = found.into_iter();
        Ok(found.next().map(|token| PollRecord {
            token: ResumeToken::from(token),
            room: found.next(),
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
