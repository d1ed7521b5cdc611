//! The Redis backplane: the same decisions and logs as the in-memory one,
//! kept in a Redis server so that several Parley instances share them. Each
//! call is one Lua script (`redis_scripts.rs`, which also describes the
//! keys) on a blocking connection, run on the ChatRoom's own thread; the
//! entries it wrote come back as its answer, and every instance hears them
//! on one pub/sub channel through a thread of its own (started by
//! [`RedisBackplane::subscribe`]), which passes on those of the rooms it
//! watches.
//!
//! Outages fail fast: commands time out after [`IO_TIMEOUT`], a lost
//! connection is dropped and retried at most every [`RETRY_EVERY`], and
//! meanwhile every call is refused with [`Refusal::degraded`]. Either link
//! (commands or subscription) going down or coming back is told to the
//! subscriber as [`Logged::Degraded`]. Lease times are the Redis server's
//! clock, so instances' clocks need not agree. This module owns the
//! connections; it does not repair gaps in what the subscription delivered
//! (the core reads the log when an entry's `prev` is not the seq it has).

use std::collections::HashSet;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};
use std::thread;
use std::time::{Duration, Instant};

use actix::Recipient;
use redis::{Client, Connection, ErrorKind, RedisError, RedisResult, Value};
use serde::{Deserialize, Serialize};

use super::redis_scripts::{Op, Scripts};
use super::{
    Backplane, Entry, Event, JoinRequest, LeftWhy, Logged, Origin, PollRecord, Refusal, Said,
    Snapshot, SnapshotMember, Token, LOG_TAIL,
};
use crate::nickname::Nickname;
use crate::protocol::{ChatMessage, ErrorCode};
use crate::room_name::RoomName;
use crate::token;

/// Longest wait for Redis to accept a connection or answer a command
/// before it counts as unreachable.
pub const IO_TIMEOUT: Duration = Duration::from_secs(1);
/// Least time between two attempts to reconnect, for commands and for the
/// subscription alike, so an outage is not met with a storm of connects.
pub const RETRY_EVERY: Duration = Duration::from_millis(500);
/// How often the subscription thread wakes while nothing is published, to
/// notice that its backplane is gone.
const FEED_TICK: Duration = Duration::from_millis(250);
/// Silence after which the subscription pings Redis, to find a link that
/// died without closing (a partition rather than a crash).
const FEED_PING_AFTER: Duration = Duration::from_secs(3);
/// How long an empty room's keys (epoch, history, log) outlive its last
/// member, as the in-memory backplane evicts idle empty rooms.
pub const EMPTY_ROOM_TTL: Duration = Duration::from_secs(24 * 60 * 60);
/// Most lapsed leases one reap takes, so that the members of a crashed
/// instance do not hold Redis in one long script; the next reap goes on.
pub const REAP_BATCH: usize = 1_000;

/// Where a delivery goes: the ChatRoom, or a test's channel.
type Deliver = Box<dyn Fn(Logged) + Send>;

/// What the command path and the subscription thread share.
#[derive(Default)]
struct Shared {
    /// Rooms whose entries are passed on.
    watched: Mutex<HashSet<RoomName>>,
    deliver: Mutex<Option<Deliver>>,
    command_down: AtomicBool,
    feed_down: AtomicBool,
    /// The degraded state last told, so each change is told once.
    told: Mutex<bool>,
    feed_started: AtomicBool,
    /// Set when the backplane is dropped: the subscription thread ends.
    stop: AtomicBool,
}

fn lock<T>(mutex: &Mutex<T>) -> MutexGuard<'_, T> {
    mutex.lock().unwrap_or_else(PoisonError::into_inner)
}

impl Shared {
    /// Records one link's state, telling the subscriber when that changes
    /// the whole.
    fn set(&self, flag: &AtomicBool, down: bool) {
        if flag.swap(down, Ordering::SeqCst) != down {
            self.report();
        }
    }

    /// Tells the subscriber the degraded state if it changed since told.
    fn report(&self) {
        let deliver = lock(&self.deliver);
        let Some(deliver) = deliver.as_ref() else {
            return;
        };
        let mut told = lock(&self.told);
        let now = !self.healthy();
        if *told != now {
            *told = now;
            deliver(Logged::Degraded(now));
        }
    }

    fn healthy(&self) -> bool {
        !self.command_down.load(Ordering::SeqCst) && !self.feed_down.load(Ordering::SeqCst)
    }

    fn stopped(&self) -> bool {
        self.stop.load(Ordering::SeqCst)
    }
}

/// The Redis backplane.
pub struct RedisBackplane {
    client: Client,
    /// `None` while Redis is unreachable.
    conn: Option<Connection>,
    /// No reconnect before this.
    retry_at: Instant,
    scripts: Scripts,
    prefix: String,
    /// The URL without its password, for logs.
    shown: String,
    shared: Arc<Shared>,
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

/// One entry as the scripts return and publish it.
#[derive(Deserialize)]
struct Wire {
    room: String,
    seq: u64,
    prev: u64,
    ev: Event,
}

/// The entries of a script's answer or of a published message.
fn decode_batch(json: &str) -> Result<Vec<Entry>, String> {
    let wires: Vec<Wire> = serde_json::from_str(json).map_err(|e| e.to_string())?;
    wires
        .into_iter()
        .map(|w| {
            Ok(Entry {
                seq: w.seq,
                prev: w.prev,
                room: RoomName::parse(&w.room)?,
                event: w.ev,
            })
        })
        .collect()
}

/// Compact JSON of a value made of strings and numbers.
fn json<T: Serialize>(value: &T) -> String {
    // unwrap: structs of strings, numbers and options always serialise.
    serde_json::to_string(value).unwrap()
}

/// The Joined event without what the script decides (`count`, `resumed`).
#[derive(Serialize)]
struct JoinedHead<'a> {
    e: &'static str,
    token: &'a str,
    nick: &'a str,
    origin: &'a Origin,
    since: Option<u64>,
}

/// The Message event without its `message`.
#[derive(Serialize)]
struct MessageHead<'a> {
    e: &'static str,
    token: &'a str,
    #[serde(rename = "ref")]
    reference: Option<&'a str>,
}

/// The message without what the script decides (`id`, `nick`).
#[derive(Serialize)]
struct MessageBody<'a> {
    ts: u64,
    text: &'a str,
}

/// A member as `:members` holds it.
#[derive(Deserialize)]
struct Held {
    nick: String,
    order: u64,
}

/// A history entry as `:msgs` holds it.
#[derive(Deserialize)]
struct Kept {
    m: ChatMessage,
}

/// The refusal for stored data this code cannot read: a bug or a foreign
/// writer under our prefix, logged, and answered as an outage.
fn unreadable(what: &str, error: impl std::fmt::Display) -> Refusal {
    log::error!("redis backplane: unreadable {what}: {error}");
    Refusal::degraded()
}

impl RedisBackplane {
    /// Connects to `url` (`redis://[user:password@]host:port/db`, or
    /// `rediss://` for TLS), checks that Redis answers and takes the
    /// scripts, and keeps `history_size` messages per room under keys
    /// starting with `prefix`. Fails, naming the URL without its password,
    /// when Redis cannot be reached.
    pub fn connect(url: &str, prefix: &str, history_size: usize) -> Result<RedisBackplane, String> {
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
            shown,
            shared: Arc::default(),
        })
    }

    /// Starts passing entries of watched rooms written by any instance to
    /// `to`, and the backplane's degraded state as it changes. Calling it
    /// again replaces the recipient.
    pub fn subscribe(&mut self, to: Recipient<Logged>) {
        self.subscribe_with(Box::new(move |logged| to.do_send(logged)));
    }

    fn subscribe_with(&mut self, deliver: Deliver) {
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
                &token::new_token()[..12],
                &head,
                &request.lease_ms.to_string(),
            ],
        )?;
        match status.as_str() {
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
        token: &Token,
        why: LeftWhy,
    ) -> Result<Vec<Entry>, Refusal> {
        let why = json(&why);
        self.entries(Op::Leave, &[room.as_str(), token, why.trim_matches('"')])
    }

    fn rename(
        &mut self,
        room: &RoomName,
        token: &Token,
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

    fn typing(&mut self, room: &RoomName, token: &Token, on: bool) -> Result<Vec<Entry>, Refusal> {
        let on = if on { "true" } else { "false" };
        self.entries(Op::Typing, &[room.as_str(), token, on])
    }

    fn say(
        &mut self,
        room: &RoomName,
        token: &Token,
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
            }),
            _ => {
                let entries = decode_batch(&payload).map_err(|e| unreadable("entries", e))?;
                let id = match entries.last().map(|e| &e.event) {
                    Some(Event::Message { message, .. }) => message.id,
                    _ => return Err(unreadable("say answer", "no message entry")),
                };
                Ok(Said { id, entries })
            }
        }
    }

    fn snapshot(&mut self, room: &RoomName) -> Result<Snapshot, Refusal> {
        type Reply = (String, String, String, Vec<String>, Vec<String>);
        let epoch = token::new_token()[..12].to_owned();
        let (epoch, seq, last_id, members, msgs): Reply =
            self.run(|conn, scripts| scripts.run(Op::Snapshot, &[room.as_str(), &epoch], conn))?;
        let members = members
            .chunks(2)
            .map(|pair| {
                let [token, held] = pair else {
                    return Err(unreadable("members", "odd HGETALL reply"));
                };
                let held: Held = serde_json::from_str(held).map_err(|e| unreadable("member", e))?;
                Ok(SnapshotMember {
                    token: Token::from(token.as_str()),
                    nick: held.nick,
                    order: held.order,
                })
            })
            .collect::<Result<Vec<_>, _>>()?;
        let history = msgs
            .iter()
            .map(|kept| {
                serde_json::from_str::<Kept>(kept)
                    .map(|k| k.m)
                    .map_err(|e| unreadable("message", e))
            })
            .collect::<Result<Vec<_>, _>>()?;
        Ok(Snapshot {
            epoch,
            seq: seq.parse().map_err(|e| unreadable("last_seq", e))?,
            last_id: last_id.parse().map_err(|e| unreadable("last_id", e))?,
            members,
            history,
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

    fn renew(&mut self, tokens: &[Token], ttl_ms: u64) -> Result<(), Refusal> {
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
            token: Token::from(token),
            room: found.next(),
        }))
    }

    fn drop_poll(&mut self, poll: &str) -> Result<(), Refusal> {
        let key = self.key(format_args!("poll:{poll}"));
        self.run(|conn, _| redis::cmd("DEL").arg(&key).query::<Value>(conn))
            .map(drop)
    }

    fn subscribe(&mut self, to: Recipient<Logged>) {
        RedisBackplane::subscribe(self, to);
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

/// The subscription thread: listens on `channel` until the backplane is
/// dropped, reconnecting every [`RETRY_EVERY`] while Redis is away.
fn run_feed(client: &Client, channel: &str, shared: &Shared) {
    while !shared.stopped() {
        let Err(e) = listen(client, channel, shared) else {
            return;
        };
        if !shared.feed_down.load(Ordering::SeqCst) {
            log::warn!("redis backplane: subscription lost: {e}");
        }
        shared.set(&shared.feed_down, true);
        let until = Instant::now() + RETRY_EVERY;
        while Instant::now() < until && !shared.stopped() {
            thread::sleep(FEED_TICK.min(until.saturating_duration_since(Instant::now())));
        }
    }
}

/// One subscription, until it fails (an error) or the backplane is
/// dropped (`Ok`).
fn listen(client: &Client, channel: &str, shared: &Shared) -> RedisResult<()> {
    let mut conn = open(client)?;
    let mut pubsub = conn.as_pubsub();
    pubsub.subscribe(channel)?;
    pubsub.set_read_timeout(Some(FEED_TICK))?;
    if shared.feed_down.load(Ordering::SeqCst) {
        log::info!("redis backplane: subscription back");
    }
    shared.set(&shared.feed_down, false);
    let mut heard = Instant::now();
    while !shared.stopped() {
        let message = match pubsub.get_message() {
            Ok(message) => message,
            Err(e) if e.is_timeout() => {
                if heard.elapsed() >= FEED_PING_AFTER {
                    pubsub.set_read_timeout(Some(IO_TIMEOUT))?;
                    pubsub.ping::<Value>()?;
                    pubsub.set_read_timeout(Some(FEED_TICK))?;
                    heard = Instant::now();
                }
                continue;
            }
            Err(e) => return Err(e),
        };
        heard = Instant::now();
        let entries = message
            .get_payload::<String>()
            .map_err(|e| e.to_string())
            .and_then(|payload| decode_batch(&payload));
        let mut entries = match entries {
            Ok(entries) => entries,
            Err(e) => {
                log::error!("redis backplane: unreadable entries on {channel}: {e}");
                continue;
            }
        };
        {
            let watched = lock(&shared.watched);
            entries.retain(|entry| watched.contains(&entry.room));
        }
        if !entries.is_empty() {
            if let Some(deliver) = lock(&shared.deliver).as_ref() {
                deliver(Logged::Entries(entries));
            }
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use std::net::TcpListener;
    use std::path::PathBuf;
    use std::process::{Child, Command, Stdio};
    use std::sync::mpsc;

    use actix::{Actor, Context, Handler};

    use super::*;
    use crate::backplane::memory::MemoryBackplane;

    /// A redis-server of the test's own on a free loopback port, in a
    /// temporary directory, with no persistence; killed on drop.
    struct TestRedis {
        child: Option<Child>,
        port: u16,
        dir: PathBuf,
        /// Serving TLS only, with a self-signed certificate in `dir`.
        tls: bool,
    }

    impl TestRedis {
        fn start() -> TestRedis {
            TestRedis::start_with(false)
        }

        fn start_with(tls: bool) -> TestRedis {
            // unwrap: binding port 0 on loopback does not fail in a test box.
            let port = TcpListener::bind("127.0.0.1:0")
                .unwrap()
                .local_addr()
                .unwrap()
                .port();
            let dir = std::env::temp_dir().join(format!(
                "parley-backplane-redis-{}-{port}",
                std::process::id()
            ));
            std::fs::create_dir_all(&dir).expect("create the redis directory");
            if tls {
                let made = Command::new("openssl")
                    .args([
                        "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "1",
                    ])
                    .args([
                        "-subj",
                        "/CN=localhost",
                        "-addext",
                        "subjectAltName=DNS:localhost",
                    ])
                    .args(["-addext", "basicConstraints=critical,CA:FALSE"])
                    .args(["-keyout", "key.pem", "-out", "cert.pem"])
                    .current_dir(&dir)
                    .stderr(Stdio::null())
                    .status()
                    .expect("the TLS test needs the openssl command (apt-get install -y openssl)");
                assert!(made.success(), "openssl could not make a certificate");
            }
            let mut redis = TestRedis {
                child: None,
                port,
                dir,
                tls,
            };
            redis.launch();
            redis
        }

        fn launch(&mut self) {
            let port = self.port.to_string();
            let mut command = Command::new("redis-server");
            if self.tls {
                command
                    .args([
                        "--port",
                        "0",
                        "--tls-port",
                        &port,
                        "--tls-auth-clients",
                        "no",
                    ])
                    .args(["--tls-cert-file", "cert.pem", "--tls-key-file", "key.pem"]);
            } else {
                command.args(["--port", &port]);
            }
            let child = command
                .args(["--bind", "127.0.0.1", "--save", "", "--appendonly", "no"])
                .arg("--dir")
                .arg(&self.dir)
                .current_dir(&self.dir)
                .stdout(Stdio::null())
                .stderr(Stdio::null())
                .spawn();
            let child = match child {
                Ok(child) => child,
                Err(e) if e.kind() == std::io::ErrorKind::NotFound => panic!(
                    "redis-server is missing: these tests need a real Redis \
                     (apt-get install -y redis-server)"
                ),
                Err(e) => panic!("cannot start redis-server: {e}"),
            };
            self.child = Some(child);
            let deadline = Instant::now() + Duration::from_secs(10);
            loop {
                if self.tls && std::net::TcpStream::connect(("127.0.0.1", self.port)).is_ok() {
                    return;
                }
                let ready = Client::open(self.url())
                    .and_then(|c| c.get_connection_with_timeout(IO_TIMEOUT))
                    .and_then(|mut c| redis::cmd("PING").query::<String>(&mut c));
                if ready.is_ok() {
                    return;
                }
                assert!(Instant::now() < deadline, "redis-server did not start");
                thread::sleep(Duration::from_millis(20));
            }
        }

        fn url(&self) -> String {
            format!("redis://127.0.0.1:{}/0", self.port)
        }

        fn kill(&mut self) {
            if let Some(mut child) = self.child.take() {
                let _ = child.kill();
                let _ = child.wait();
            }
        }

        /// A raw connection, for looking behind the backplane.
        fn conn(&self) -> Connection {
            open(&Client::open(self.url()).unwrap()).unwrap()
        }
    }

    impl Drop for TestRedis {
        fn drop(&mut self) {
            self.kill();
            let _ = std::fs::remove_dir_all(&self.dir);
        }
    }

    fn backplane(redis: &TestRedis, prefix: &str, history: usize) -> RedisBackplane {
        RedisBackplane::connect(&redis.url(), prefix, history).expect("connect")
    }

    fn tok(who: &str) -> Token {
        Token::from(format!("tok-{who}"))
    }

    fn room(name: &str) -> RoomName {
        RoomName::parse(name).unwrap()
    }

    fn nick(name: &str) -> Nickname {
        Nickname::parse(name, 32).unwrap()
    }

    fn origin() -> Origin {
        // A member id past 2^53, which a float would not keep.
        Origin {
            node: "node-a".into(),
            member: (1 << 60) + 3,
        }
    }

    fn join(who: &str, name: &str, in_room: &str, max_members: usize) -> JoinRequest {
        JoinRequest {
            room: room(in_room),
            nick: nick(name),
            token: tok(who),
            origin: origin(),
            since: Some(12_345_678_901_234_567),
            max_members,
            lease_ms: 60_000,
        }
    }

    const NOW: u64 = 1_700_000_000_123;

    #[derive(Debug, Clone)]
    enum Step {
        Join(&'static str, &'static str, &'static str, usize),
        Leave(&'static str, &'static str, LeftWhy),
        Rename(&'static str, &'static str, &'static str),
        Typing(&'static str, &'static str, bool),
        Say(
            &'static str,
            &'static str,
            &'static str,
            Option<&'static str>,
        ),
        Renew(&'static [&'static str], u64),
        Sleep(u64),
        Reap,
        SavePoll(&'static str, &'static str),
        FindPoll(&'static str),
    }

    /// What a step did, without seqs (they differ between backplanes).
    #[derive(Debug, PartialEq, Eq)]
    enum Outcome {
        Logged(Vec<(RoomName, Event)>),
        Said(u64, Vec<(RoomName, Event)>),
        Refused(ErrorCode),
        Found(Option<PollRecord>),
        Done,
    }

    fn drive(bp: &mut dyn Backplane, steps: &[Step]) -> (Vec<Outcome>, Vec<Entry>) {
        let mut all = Vec::new();
        let mut logged = |entries: Vec<Entry>| {
            let events = entries
                .iter()
                .map(|e| (e.room.clone(), e.event.clone()))
                .collect();
            all.extend(entries);
            events
        };
        let mut outcomes = Vec::new();
        for step in steps {
            let result = match step.clone() {
                Step::Join(who, name, r, max) => bp.join(join(who, name, r, max)).map(&mut logged),
                Step::Leave(who, r, why) => bp.leave(&room(r), &tok(who), why).map(&mut logged),
                Step::Rename(who, r, name) => {
                    bp.rename(&room(r), &tok(who), &nick(name)).map(&mut logged)
                }
                Step::Typing(who, r, on) => bp.typing(&room(r), &tok(who), on).map(&mut logged),
                Step::Say(who, r, text, reference) => {
                    let said = bp.say(
                        &room(r),
                        &tok(who),
                        text.into(),
                        reference.map(Into::into),
                        NOW,
                    );
                    outcomes.push(match said {
                        Ok(said) => Outcome::Said(said.id, logged(said.entries)),
                        Err(refusal) => Outcome::Refused(refusal.code),
                    });
                    continue;
                }
                Step::Renew(who, ttl) => {
                    let tokens: Vec<Token> = who.iter().map(|w| tok(w)).collect();
                    bp.renew(&tokens, ttl).unwrap();
                    outcomes.push(Outcome::Done);
                    continue;
                }
                Step::Sleep(ms) => {
                    thread::sleep(Duration::from_millis(ms));
                    continue;
                }
                Step::Reap => bp.reap().map(&mut logged),
                Step::SavePoll(poll, who) => {
                    let record = PollRecord {
                        token: tok(who),
                        room: None,
                    };
                    bp.save_poll(poll, &record, 60_000).unwrap();
                    continue;
                }
                Step::FindPoll(poll) => {
                    outcomes.push(Outcome::Found(bp.find_poll(poll).unwrap()));
                    continue;
                }
            };
            outcomes.push(match result {
                Ok(events) => Outcome::Logged(events),
                Err(refusal) => Outcome::Refused(refusal.code),
            });
        }
        (outcomes, all)
    }

    /// Seqs increase across rooms and each entry names its room's previous.
    fn check_chains(entries: &[Entry]) {
        let mut last_seq = 0;
        let mut last_in_room = std::collections::HashMap::new();
        for entry in entries {
            assert!(entry.seq > last_seq, "seq went back at {entry:?}");
            last_seq = entry.seq;
            let prev = last_in_room
                .insert(entry.room.clone(), entry.seq)
                .unwrap_or(0);
            assert_eq!(entry.prev, prev, "broken chain at {entry:?}");
        }
    }

    fn comparable(mut snapshot: Snapshot) -> Snapshot {
        snapshot.epoch.clear();
        snapshot.seq = 0;
        snapshot.members.sort_by_key(|m| m.order);
        snapshot
    }

    #[test]
    fn logs_the_same_events_as_the_memory_backplane() {
        use Step::*;
        let steps = [
            Join("a", "Ann", "lobby", 10),
            Join("b", "Bob", "lobby", 10),
            Join("c", "ann", "lobby", 10),
            Join("a", "Ann", "lobby", 10),
            Join("a", "ANN", "lobby", 10),
            Join("a", "Annie", "lobby", 10),
            Rename("b", "lobby", "annie"),
            Rename("b", "lobby", "Bob"),
            Rename("b", "lobby", "BOB"),
            Rename("c", "lobby", "Cee"),
            Rename("c", "nowhere", "Cee"),
            Typing("a", "lobby", true),
            Typing("c", "lobby", true),
            Say("a", "lobby", "hi \"you\" / \\ \u{1f} ✓ 😀 </b>", Some("r1")),
            Say("a", "lobby", "again", Some("r1")),
            Say("b", "lobby", "no ref", None),
            Say("b", "lobby", "empty ref", Some("")),
            Say("b", "lobby", "empty ref again", Some("")),
            Say("c", "lobby", "not here", None),
            Say("a", "lobby", "m4", Some("r4")),
            Say("a", "lobby", "r1 left the history", Some("r1")),
            Join("a", "Ann", "side", 10),
            Join("d", "Dee", "side", 1),
            Join("b", "Bee", "side", 10),
            Leave("b", "side", LeftWhy::Left),
            Leave("b", "side", LeftWhy::Left),
            Leave("b", "nowhere", LeftWhy::Gone),
            SavePoll("poll-1", "a"),
            FindPoll("poll-1"),
            FindPoll("poll-2"),
            Renew(&["a", "c"], 40),
            Join("c", "Cee", "lobby", 10),
            Sleep(150),
            Reap,
            Reap,
            FindPoll("poll-1"),
            Join("e", "Eve", "lobby", 10),
            Renew(&["e"], 40),
            Leave("e", "lobby", LeftWhy::Gone),
            Join("e", "Eve", "lobby", 10),
            Join("f", "Fay", "lobby", 10),
            Renew(&["f"], 40),
            Join("f", "Fay", "side", 10),
            Sleep(150),
            Reap,
        ];
        let redis = TestRedis::start();
        let mut on_redis = backplane(&redis, "parley:", 3);
        let mut in_memory = MemoryBackplane::new(3, 100);
        let (want, memory_entries) = drive(&mut in_memory, &steps);
        let (got, redis_entries) = drive(&mut on_redis, &steps);
        for (i, (want, got)) in want.iter().zip(&got).enumerate() {
            assert_eq!(got, want, "outcome {i} differs");
        }
        assert_eq!(got.len(), want.len());
        check_chains(&memory_entries);
        check_chains(&redis_entries);
        for name in ["lobby", "side", "nowhere"] {
            let want = comparable(in_memory.snapshot(&room(name)).unwrap());
            let got = comparable(on_redis.snapshot(&room(name)).unwrap());
            assert_eq!(got, want, "snapshot of {name}");
            let events = |bp: &mut dyn Backplane| -> Vec<Event> {
                let read = bp.read(&room(name), 0).unwrap().expect("nothing trimmed");
                check_chains(&read);
                read.into_iter().map(|e| e.event).collect()
            };
            assert_eq!(
                events(&mut on_redis),
                events(&mut in_memory),
                "log of {name}"
            );
        }
        let last = redis_entries.last().unwrap();
        let after = on_redis.read(&last.room, last.prev).unwrap().unwrap();
        assert_eq!(
            after,
            vec![last.clone()],
            "read after a seq returns what followed"
        );
    }

    #[test]
    fn a_nickname_is_taken_across_instances() {
        let redis = TestRedis::start();
        let mut one = backplane(&redis, "parley:", 10);
        let mut two = backplane(&redis, "parley:", 10);
        one.join(join("a", "Ann", "lobby", 10)).unwrap();
        let refused = two.join(join("b", "ANN", "lobby", 10)).unwrap_err();
        assert_eq!(refused.code, ErrorCode::NickTaken);
        assert_eq!(refused.message, "the nickname ANN is taken in lobby");
        two.join(join("b", "Bob", "lobby", 10)).unwrap();
        let refused = one
            .rename(&room("lobby"), &tok("a"), &nick("bob"))
            .unwrap_err();
        assert_eq!(refused.code, ErrorCode::NickTaken);
        let full = two.join(join("c", "Cee", "lobby", 2)).unwrap_err();
        assert_eq!(
            (full.code, full.message.as_str()),
            (ErrorCode::RoomFull, "lobby is full")
        );
    }

    #[test]
    fn a_rejoin_with_the_same_token_is_resumed_on_any_instance() {
        let redis = TestRedis::start();
        let mut one = backplane(&redis, "parley:", 10);
        let mut two = backplane(&redis, "parley:", 10);
        one.join(join("a", "Ann", "lobby", 10)).unwrap();
        one.join(join("b", "Bob", "lobby", 10)).unwrap();
        let entries = two.join(join("a", "Ann", "lobby", 2)).unwrap();
        assert_eq!(entries.len(), 1);
        let Event::Joined {
            count,
            resumed,
            origin: o,
            since,
            ..
        } = &entries[0].event
        else {
            panic!("not a join: {entries:?}");
        };
        assert_eq!((*count, *resumed), (2, true));
        assert_eq!((o, *since), (&origin(), Some(12_345_678_901_234_567)));
        let snapshot = two.snapshot(&room("lobby")).unwrap();
        assert_eq!(snapshot.members.len(), 2);
    }

    #[test]
    fn a_resent_ref_gets_the_original_id_and_logs_nothing() {
        let redis = TestRedis::start();
        let mut one = backplane(&redis, "parley:", 10);
        let mut two = backplane(&redis, "parley:", 10);
        one.join(join("a", "Ann", "lobby", 10)).unwrap();
        let lobby = room("lobby");
        let first = one
            .say(&lobby, &tok("a"), "hi".into(), Some("r".into()), NOW)
            .unwrap();
        assert_eq!((first.id, first.entries.len()), (1, 1));
        let Event::Message {
            message, reference, ..
        } = &first.entries[0].event
        else {
            panic!("not a message: {first:?}");
        };
        assert_eq!(reference.as_deref(), Some("r"));
        assert_eq!(
            (message.ts, message.nick.as_str(), message.text.as_str()),
            (NOW, "Ann", "hi")
        );
        let again = two
            .say(&lobby, &tok("a"), "hi".into(), Some("r".into()), NOW + 5)
            .unwrap();
        assert_eq!(
            again,
            Said {
                id: 1,
                entries: Vec::new()
            }
        );
        let other = two
            .say(&lobby, &tok("a"), "hi".into(), Some("s".into()), NOW)
            .unwrap();
        assert_eq!(other.id, 2);
        let refused = two
            .say(&lobby, &tok("z"), "hi".into(), None, NOW)
            .unwrap_err();
        assert_eq!(refused.code, ErrorCode::NotJoined);
    }

    #[test]
    fn refs_are_forgotten_with_their_messages() {
        let redis = TestRedis::start();
        let mut bp = backplane(&redis, "parley:", 2);
        bp.join(join("a", "Ann", "lobby", 10)).unwrap();
        let lobby = room("lobby");
        for n in 1..=5 {
            let reference = Some(format!("r{n}"));
            bp.say(&lobby, &tok("a"), "m".into(), reference, NOW)
                .unwrap();
        }
        let mut raw = redis.conn();
        let refs: Vec<String> = redis::cmd("HKEYS")
            .arg("parley:room:lobby:refs")
            .query(&mut raw)
            .unwrap();
        assert_eq!(refs.len(), 2, "only the kept messages' refs: {refs:?}");
    }

    #[test]
    fn a_lapsed_lease_is_reaped_once_by_any_instance() {
        let redis = TestRedis::start();
        let mut crashed = backplane(&redis, "parley:", 10);
        let mut alive = backplane(&redis, "parley:", 10);
        crashed.join(join("a", "Ann", "lobby", 10)).unwrap();
        crashed.join(join("b", "Bob", "lobby", 10)).unwrap();
        crashed.renew(&[tok("a")], 50).unwrap();
        alive.renew(&[tok("b")], 60_000).unwrap();
        assert_eq!(alive.reap().unwrap(), Vec::new(), "not lapsed yet");
        thread::sleep(Duration::from_millis(120));
        let reaped = alive.reap().unwrap();
        assert_eq!(reaped.len(), 1);
        assert_eq!(
            reaped[0].event,
            Event::Left {
                token: tok("a"),
                nick: "Ann".into(),
                count: 1,
                why: LeftWhy::Expired
            }
        );
        assert_eq!(crashed.reap().unwrap(), Vec::new(), "reaped once");
        // Ann's name is free again.
        alive.join(join("c", "ann", "lobby", 10)).unwrap();
    }

    #[test]
    fn read_is_none_once_the_log_was_trimmed_past_the_cursor() {
        let redis = TestRedis::start();
        let mut bp = backplane(&redis, "parley:", 1);
        let lobby = room("lobby");
        let first = bp.join(join("a", "Ann", "lobby", 10)).unwrap();
        let mut last = first[0].clone();
        for n in 0..(1 + LOG_TAIL + 300) {
            last = bp.typing(&lobby, &tok("a"), n % 2 == 0).unwrap().remove(0);
        }
        assert_eq!(bp.read(&lobby, 0).unwrap(), None, "the join was trimmed");
        assert_eq!(bp.read(&lobby, first[0].seq).unwrap(), None);
        let tail = bp
            .read(&lobby, last.prev)
            .unwrap()
            .expect("the newest is kept");
        assert_eq!(tail, vec![last.clone()]);
        assert_eq!(bp.read(&lobby, last.seq).unwrap(), Some(Vec::new()));
        let kept = bp
            .read(&lobby, last.seq - 1_000)
            .unwrap()
            .expect("1,000 back is kept");
        assert_eq!(kept.last(), Some(&last));
        assert!(
            kept.windows(2).all(|w| w[1].prev == w[0].seq),
            "kept entries chain"
        );
        assert_eq!(bp.read(&room("empty"), 0).unwrap(), Some(Vec::new()));
    }

    #[test]
    fn a_snapshot_holds_members_history_and_a_stable_epoch() {
        let redis = TestRedis::start();
        let mut bp = backplane(&redis, "parley:", 2);
        let lobby = room("lobby");
        let fresh = bp.snapshot(&lobby).unwrap();
        assert_eq!((fresh.seq, fresh.last_id), (0, 0));
        assert!(fresh.members.is_empty() && fresh.history.is_empty());
        assert_eq!(fresh.epoch.len(), 12);
        bp.join(join("a", "Ann", "lobby", 10)).unwrap();
        bp.join(join("b", "Bob", "lobby", 10)).unwrap();
        for text in ["one", "two", "three"] {
            bp.say(&lobby, &tok("b"), text.into(), None, NOW).unwrap();
        }
        let last = bp.typing(&lobby, &tok("a"), true).unwrap().remove(0);
        let snapshot = comparable_keep_seq(bp.snapshot(&lobby).unwrap());
        assert_eq!(snapshot.epoch, fresh.epoch, "the room keeps its epoch");
        assert_eq!((snapshot.seq, snapshot.last_id), (last.seq, 3));
        let members: Vec<_> = snapshot
            .members
            .iter()
            .map(|m| (&*m.token, m.nick.as_str(), m.order))
            .collect();
        assert_eq!(members, vec![("tok-a", "Ann", 1), ("tok-b", "Bob", 2)]);
        let history: Vec<_> = snapshot
            .history
            .iter()
            .map(|m| (m.id, m.text.as_str()))
            .collect();
        assert_eq!(history, vec![(2, "two"), (3, "three")]);
    }

    fn comparable_keep_seq(mut snapshot: Snapshot) -> Snapshot {
        snapshot.members.sort_by_key(|m| m.order);
        snapshot
    }

    #[test]
    fn an_empty_room_expires_and_a_member_keeps_it() {
        let redis = TestRedis::start();
        let mut bp = backplane(&redis, "parley:", 2);
        bp.join(join("a", "Ann", "lobby", 10)).unwrap();
        let mut raw = redis.conn();
        let ttl = |raw: &mut Connection| -> i64 {
            redis::cmd("PTTL")
                .arg("parley:room:lobby:meta")
                .query(raw)
                .unwrap()
        };
        assert_eq!(ttl(&mut raw), -1, "a room with members does not expire");
        bp.leave(&room("lobby"), &tok("a"), LeftWhy::Left).unwrap();
        assert!(ttl(&mut raw) > 0, "an empty room expires");
        bp.join(join("a", "Ann", "lobby", 10)).unwrap();
        assert_eq!(ttl(&mut raw), -1);
    }

    #[test]
    fn prefixes_keep_clusters_apart() {
        let redis = TestRedis::start();
        let mut red = backplane(&redis, "red:", 10);
        let mut blue = backplane(&redis, "blue:", 10);
        let (tx, rx) = mpsc::channel();
        blue.watch(&room("lobby"), true);
        blue.subscribe_with(Box::new(move |logged| {
            let _ = tx.send(logged);
        }));
        wait_subscribed(&redis, "blue:ev");
        red.join(join("a", "Ann", "lobby", 10)).unwrap();
        let entries = blue.join(join("b", "Ann", "lobby", 10)).unwrap();
        assert_eq!(entries[0].seq, 1, "blue's own counter");
        match rx.recv_timeout(Duration::from_secs(5)).unwrap() {
            Logged::Entries(heard) => assert_eq!(heard, entries, "blue hears blue only"),
            other => panic!("unexpected {other:?}"),
        }
        assert_eq!(blue.snapshot(&room("lobby")).unwrap().members.len(), 1);
    }

    fn wait_subscribed(redis: &TestRedis, channel: &str) {
        let mut raw = redis.conn();
        let deadline = Instant::now() + Duration::from_secs(5);
        loop {
            let (_, count): (String, u64) = redis::cmd("PUBSUB")
                .arg("NUMSUB")
                .arg(channel)
                .query(&mut raw)
                .unwrap();
            if count > 0 {
                return;
            }
            assert!(Instant::now() < deadline, "nobody subscribed to {channel}");
            thread::sleep(Duration::from_millis(10));
        }
    }

    /// Forwards what the backplane tells a ChatRoom to the test.
    struct Collector(tokio::sync::mpsc::UnboundedSender<Logged>);

    impl Actor for Collector {
        type Context = Context<Self>;
    }

    impl Handler<Logged> for Collector {
        type Result = ();

        fn handle(&mut self, logged: Logged, _: &mut Context<Self>) {
            let _ = self.0.send(logged);
        }
    }

    async fn next(rx: &mut tokio::sync::mpsc::UnboundedReceiver<Logged>) -> Vec<Entry> {
        let got = actix_rt::time::timeout(Duration::from_secs(5), rx.recv()).await;
        match got.expect("heard in time").expect("collector alive") {
            Logged::Entries(entries) => entries,
            other => panic!("unexpected {other:?}"),
        }
    }

    #[test]
    fn a_subscriber_hears_another_instances_entries_of_watched_rooms() {
        let redis = TestRedis::start();
        actix::System::new().block_on(async {
            let (tx, mut rx) = tokio::sync::mpsc::unbounded_channel();
            let mut here = backplane(&redis, "parley:", 10);
            here.watch(&room("lobby"), true);
            here.subscribe(Collector(tx).start().recipient());
            wait_subscribed(&redis, "parley:ev");
            let mut there = backplane(&redis, "parley:", 10);
            there.join(join("a", "Ann", "elsewhere", 10)).unwrap();
            let moved = there.join(join("a", "Ann", "lobby", 10)).unwrap();
            assert_eq!(moved.len(), 2, "left elsewhere, joined the lobby");
            let said = there
                .say(&room("lobby"), &tok("a"), "hi".into(), None, NOW)
                .unwrap();

            assert_eq!(
                next(&mut rx).await,
                moved[1..].to_vec(),
                "only the watched room's"
            );
            assert_eq!(next(&mut rx).await, said.entries);
            // Published in this order, so hearing the second proves the
            // first was passed over.
            here.watch(&room("lobby"), false);
            here.watch(&room("side"), true);
            there.typing(&room("lobby"), &tok("a"), true).unwrap();
            let joined = there.join(join("b", "Bob", "side", 10)).unwrap();
            assert_eq!(next(&mut rx).await, joined, "nothing of an unwatched room");
        });
    }

    #[test]
    fn an_outage_is_refused_fast_as_degraded_and_heals() {
        let mut redis = TestRedis::start();
        let mut bp = backplane(&redis, "parley:", 10);
        let (tx, rx) = mpsc::channel();
        bp.subscribe_with(Box::new(move |logged| {
            if let Logged::Degraded(down) = logged {
                let _ = tx.send(down);
            }
        }));
        wait_subscribed(&redis, "parley:ev");
        bp.join(join("a", "Ann", "lobby", 10)).unwrap();
        assert!(bp.healthy());
        redis.kill();
        for _ in 0..4 {
            let started = Instant::now();
            let refused = bp.typing(&room("lobby"), &tok("a"), true).unwrap_err();
            assert_eq!(refused, Refusal::degraded());
            assert!(
                started.elapsed() < Duration::from_millis(1_500),
                "slow: {:?}",
                started.elapsed()
            );
            assert!(!bp.healthy());
            thread::sleep(Duration::from_millis(200));
        }
        assert_eq!(rx.recv_timeout(Duration::from_secs(3)), Ok(true));
        redis.launch();
        let deadline = Instant::now() + Duration::from_secs(5);
        while bp.join(join("a", "Ann", "lobby", 10)).is_err() {
            assert!(Instant::now() < deadline, "never reconnected");
            thread::sleep(Duration::from_millis(100));
        }
        assert_eq!(rx.recv_timeout(Duration::from_secs(5)), Ok(false));
        assert!(bp.healthy());
        assert!(rx.try_recv().is_err(), "each change told once");
    }

    #[test]
    fn an_unreachable_redis_fails_at_start_naming_it_without_the_password() {
        let port = TcpListener::bind("127.0.0.1:0")
            .unwrap()
            .local_addr()
            .unwrap()
            .port();
        let url = format!("redis://user:hunter2@127.0.0.1:{port}/0");
        let error = RedisBackplane::connect(&url, "parley:", 10).unwrap_err();
        assert!(
            error.contains(&format!("redis://user:***@127.0.0.1:{port}/0")),
            "{error}"
        );
        assert!(!error.contains("hunter2"), "{error}");
    }

    #[test]
    fn rediss_checks_the_servers_certificate() {
        let redis = TestRedis::start_with(true);
        let url = format!("rediss://localhost:{}/0", redis.port);
        let error = RedisBackplane::connect(&url, "parley:", 10).unwrap_err();
        assert!(error.contains("invalid peer certificate"), "{error}");
    }

    #[test]
    fn redacts_the_password_only() {
        assert_eq!(
            redact("redis://user:secret@host:6379/2"),
            "redis://user:***@host:6379/2"
        );
        assert_eq!(redact("rediss://:pw@h/0?x=1"), "rediss://:***@h/0?x=1");
        assert_eq!(redact("redis://host:6379/0"), "redis://host:6379/0");
        assert_eq!(redact("redis://user@host"), "redis://user@host");
    }
}
