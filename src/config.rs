//! The server's whole configuration as one typed struct, read once from the
//! command line with environment fallbacks (clap) and passed down. Nothing
//! else in the crate reads the environment.

use std::net::IpAddr;
use std::time::Duration;

use clap::Parser;

use crate::core::limits::Limits;

/// Port used when no flag or variable names one.
pub const DEFAULT_PORT: u16 = 3000;

/// Parley: a real-time chat server (WebSocket and long-polling).
#[derive(Debug, Clone, Parser)]
#[command(name = "parley", version, about, long_about = None)]
pub struct Config {
    /// TCP port to listen on; 0 picks a free one. Falls back to
    /// HTTP_PLATFORM_PORT (IIS HttpPlatformHandler), then ASPNETCORE_PORT
    /// (ASP.NET Core Module), then 3000.
    #[arg(long, env = "PORT")]
    pub(crate) port: Option<u16>,

    /// Port handed over by IIS's HttpPlatformHandler.
    #[arg(long, env = "HTTP_PLATFORM_PORT", hide = true)]
    pub(crate) http_platform_port: Option<u16>,

    /// Port handed over by the ASP.NET Core Module.
    #[arg(long, env = "ASPNETCORE_PORT", hide = true)]
    pub(crate) aspnetcore_port: Option<u16>,

    /// Address to bind.
    #[arg(long, env = "PARLEY_BIND", default_value = "0.0.0.0")]
    pub(crate) bind: IpAddr,

    /// HTTP worker threads; 0 means one per CPU core.
    #[arg(long, env = "PARLEY_WORKERS", default_value_t = 0)]
    pub(crate) workers: usize,

    /// Room shards: ChatRoom actors, each on a thread of its own, over
    /// which the rooms are spread (a room always on the same one), so that
    /// many busy rooms use every core; 0 means one per CPU core.
    #[arg(long, env = "PARLEY_ROOM_SHARDS", default_value_t = 0)]
    pub(crate) room_shards: usize,

    /// Origins allowed to open a WebSocket, comma-separated (e.g.
    /// https://chat.example.com), or * for any. The page's own origin is
    /// always allowed; clients that send no Origin (non-browsers) are too.
    #[arg(long, env = "PARLEY_ALLOWED_ORIGINS", value_delimiter = ',')]
    pub(crate) allowed_origins: Vec<String>,

    /// The address users open, e.g. https://chat.example.com/chat/, when a
    /// proxy stands in front: a browser page from its origin may connect
    /// whatever Host the proxy sends, and its path is the base path unless
    /// --base-path says otherwise.
    #[arg(long, env = "PARLEY_PUBLIC_URL", value_parser = PublicUrl::parse)]
    pub(crate) public_url: Option<PublicUrl>,

    /// Messages kept per room (for history on join and resume).
    #[arg(long, env = "PARLEY_HISTORY_SIZE", default_value_t = Limits::default().history_size)]
    pub(crate) history_size: usize,

    /// Bytes of history kept per room (text, nickname and a fixed cost per
    /// message); the log tail kept for catching up has the same bound.
    #[arg(long, env = "PARLEY_MAX_ROOM_HISTORY_BYTES", default_value_t = Limits::default().max_room_history_bytes)]
    pub(crate) max_room_history_bytes: usize,

    /// Bytes of history kept across all rooms; past it the least recently
    /// active rooms lose their oldest messages first.
    #[arg(long, env = "PARLEY_MAX_HISTORY_BYTES", default_value_t = Limits::default().max_history_bytes)]
    pub(crate) max_history_bytes: usize,

    /// Messages shown to someone joining afresh.
    #[arg(long, env = "PARLEY_HISTORY_ON_JOIN", default_value_t = Limits::default().history_on_join)]
    pub(crate) history_on_join: usize,

    /// Longest message, in characters.
    #[arg(long, env = "PARLEY_MAX_MESSAGE_CHARS", default_value_t = Limits::default().max_message_chars)]
    pub(crate) max_message_chars: usize,

    /// Longest nickname, in characters.
    #[arg(long, env = "PARLEY_MAX_NICK_CHARS", default_value_t = Limits::default().max_nick_chars)]
    pub(crate) max_nick_chars: usize,

    /// Largest client frame, in bytes; a larger WebSocket message closes the
    /// connection with 1009.
    #[arg(long, env = "PARLEY_MAX_FRAME_BYTES", default_value_t = Limits::default().max_frame_bytes)]
    pub(crate) max_frame_bytes: usize,

    /// Rooms held at once; past it the longest-idle empty room is forgotten.
    #[arg(long, env = "PARLEY_MAX_ROOMS", default_value_t = Limits::default().max_rooms)]
    pub(crate) max_rooms: usize,

    /// Participants per room.
    #[arg(long, env = "PARLEY_MAX_ROOM_MEMBERS", default_value_t = Limits::default().max_room_members)]
    pub(crate) max_room_members: usize,

    /// Rooms of this many members or more are big: a welcome lists at most
    /// one page of the roster, and arrivals and departures are sent as
    /// counts with a sample of names.
    #[arg(long, env = "PARLEY_BIG_ROOM_MEMBERS", default_value_t = Limits::default().big_room_members)]
    pub(crate) big_room_members: usize,

    /// Frames one client may send in a burst; the allowance follows its
    /// resume token across reconnects and takeovers.
    #[arg(long, env = "PARLEY_RATE_BURST", default_value_t = Limits::default().rate_burst)]
    pub(crate) rate_burst: u32,

    /// Frames per second one client may sustain.
    #[arg(long, env = "PARLEY_RATE_PER_SEC", default_value_t = Limits::default().rate_per_sec)]
    pub(crate) rate_per_sec: u32,

    /// Seconds a long-poll waits for a frame before answering empty.
    #[arg(long, env = "PARLEY_POLL_WAIT_SECS", default_value_t = Limits::default().poll_wait.as_secs())]
    pub(crate) poll_wait_secs: u64,

    /// Seconds without a poll after which a polling session ends (its user
    /// leaves); must be more than --poll-wait-secs.
    #[arg(long, env = "PARLEY_SESSION_GRACE_SECS", default_value_t = Limits::default().session_grace.as_secs())]
    pub(crate) session_grace_secs: u64,

    /// Transports to offer, comma-separated. With `polling` alone, WebSocket
    /// upgrades are refused (403 transport_disabled) and the page falls back.
    #[arg(
        long,
        env = "PARLEY_TRANSPORTS",
        value_delimiter = ',',
        default_value = "websocket,polling"
    )]
    pub(crate) transports: Vec<TransportName>,

    /// Path prefix to serve everything under, e.g. /chat when a proxy or an
    /// IIS virtual directory forwards https://host/chat/ unchanged.
    #[arg(long, env = "PARLEY_BASE_PATH", default_value = "")]
    pub(crate) base_path: String,

    /// Reverse proxies (IP addresses, comma-separated) whose
    /// X-Forwarded-For and X-Forwarded-Host are believed.
    #[arg(long, env = "PARLEY_TRUSTED_PROXIES", value_delimiter = ',')]
    pub(crate) trusted_proxies: Vec<IpAddr>,

    /// Polling sessions one client address (its subnet, see
    /// --ipv4-subnet-bits) may hold.
    #[arg(long, env = "PARLEY_MAX_SESSIONS_PER_IP", default_value_t = 64)]
    pub(crate) max_sessions_per_ip: usize,

    /// WebSockets one client address (its subnet) may hold open; more are
    /// refused with 429 too_many_connections.
    #[arg(long, env = "PARLEY_MAX_WEBSOCKETS_PER_IP", default_value_t = Limits::default().max_websockets_per_ip)]
    pub(crate) max_websockets_per_ip: usize,

    /// Connection attempts (WebSocket upgrades and /poll/open) one client
    /// address may make in a burst; more are refused with 429.
    #[arg(long, env = "PARLEY_CONNECT_BURST", default_value_t = Limits::default().connect_burst)]
    pub(crate) connect_burst: u32,

    /// Connection attempts per second one client address may sustain.
    #[arg(long, env = "PARLEY_CONNECT_PER_SEC", default_value_t = Limits::default().connect_per_sec)]
    pub(crate) connect_per_sec: u32,

    /// Leading bits of an IPv4 client address that name one client (for
    /// every per-address limit); 32 is one address.
    #[arg(long, env = "PARLEY_IPV4_SUBNET_BITS", default_value_t = Limits::default().ipv4_subnet_bits, value_parser = clap::value_parser!(u8).range(0..=32))]
    pub(crate) ipv4_subnet_bits: u8,

    /// Leading bits of an IPv6 client address that name one client; 64 is
    /// one subscriber's usual allocation.
    #[arg(long, env = "PARLEY_IPV6_SUBNET_BITS", default_value_t = Limits::default().ipv6_subnet_bits, value_parser = clap::value_parser!(u8).range(0..=128))]
    pub(crate) ipv6_subnet_bits: u8,

    /// Frames one client address may send in a burst, all its connections
    /// together (raise it where many users share one address).
    #[arg(long, env = "PARLEY_ADDRESS_RATE_BURST", default_value_t = Limits::default().address_rate_burst)]
    pub(crate) address_rate_burst: u32,

    /// Frames per second one client address may sustain.
    #[arg(long, env = "PARLEY_ADDRESS_RATE_PER_SEC", default_value_t = Limits::default().address_rate_per_sec)]
    pub(crate) address_rate_per_sec: u32,

    /// Messages a room takes in a burst, from all its members together.
    #[arg(long, env = "PARLEY_ROOM_RATE_BURST", default_value_t = Limits::default().room_rate_burst)]
    pub(crate) room_rate_burst: u32,

    /// Messages per second a room takes, from all its members together;
    /// a message past it is refused with rate_limited to its sender.
    #[arg(long, env = "PARLEY_ROOM_RATE_PER_SEC", default_value_t = Limits::default().room_rate_per_sec)]
    pub(crate) room_rate_per_sec: u32,

    /// history requests (older messages) a client may make in a burst,
    /// beyond its frame allowance; past it they are refused with
    /// rate_limited.
    #[arg(long, env = "PARLEY_HISTORY_RATE_BURST", default_value_t = Limits::default().history_rate_burst)]
    pub(crate) history_rate_burst: u32,

    /// history requests per second a client may sustain.
    #[arg(long, env = "PARLEY_HISTORY_RATE_PER_SEC", default_value_t = Limits::default().history_rate_per_sec)]
    pub(crate) history_rate_per_sec: u32,

    /// Seconds a client may take to send a polling request's body; a
    /// slower one is answered 408 body_timeout.
    #[arg(long, env = "PARLEY_BODY_TIMEOUT_SECS", default_value_t = Limits::default().body_timeout.as_secs(), value_parser = clap::value_parser!(u64).range(1..))]
    pub(crate) body_timeout_secs: u64,

    /// Polling sessions the server holds in all.
    #[arg(long, env = "PARLEY_MAX_POLL_SESSIONS", default_value_t = 1_000)]
    pub(crate) max_poll_sessions: usize,

    /// WebSockets the server holds open in all; more are refused with 503
    /// server_full.
    #[arg(long, env = "PARLEY_MAX_WEBSOCKETS", default_value_t = Limits::default().max_websockets)]
    pub(crate) max_websockets: usize,

    /// HTTP connections (page loads, long-polls, sends; not WebSockets)
    /// the server holds open in all; past it, new ones wait to be accepted.
    #[arg(long, env = "PARLEY_MAX_HTTP_CONNECTIONS", default_value_t = 1_024)]
    pub(crate) max_http_connections: usize,

    /// Bytes queued for a client that does not read before it is dropped
    /// (it then resumes from history when it reconnects).
    #[arg(long, env = "PARLEY_MAX_OUTBOX_BYTES", default_value_t = Limits::default().max_outbox_bytes)]
    pub(crate) max_outbox_bytes: usize,

    /// Bytes queued to all clients together; past it, the client with the
    /// most waiting is dropped to make room (it resumes from history).
    #[arg(long, env = "PARLEY_MAX_QUEUED_BYTES", default_value_t = Limits::default().max_queued_bytes)]
    pub(crate) max_queued_bytes: usize,

    /// Seconds a WebSocket client may take none of what is queued for it
    /// before its connection is cut (a reader that stopped reading but
    /// stays under --max-outbox-bytes).
    #[arg(long, env = "PARLEY_WRITE_STALL_SECS", default_value_t = Limits::default().write_stall.as_secs())]
    pub(crate) write_stall_secs: u64,

    /// Longest, in milliseconds, a WebSocket connection's frames may wait so
    /// that several leave in one write. Frames wait only while their worker
    /// thread is saturated, and then only for a connection receiving a fast
    /// stream (frames less than a quarter of this apart); otherwise each is
    /// written at once. 0: never wait (more CPU per delivery under load).
    #[arg(long, env = "PARLEY_COALESCE_MS", default_value_t = Limits::default().coalesce.as_millis() as u64)]
    pub(crate) coalesce_ms: u64,

    /// Milliseconds the room's work may wait to start on a worker thread
    /// before the thread counts as saturated and `--coalesce-ms` applies
    /// to its busy connections. 0: always (the least CPU under light load,
    /// for frames up to `--coalesce-ms` late).
    #[arg(long, env = "PARLEY_SATURATION_LAG_MS", default_value_t = Limits::default().saturation_lag.as_millis() as u64)]
    pub(crate) saturation_lag_ms: u64,

    /// Directory of the embedded store that keeps every room's messages
    /// across restarts and crashes (created if missing); `none` keeps
    /// everything in memory only, lost when the process stops. Not used
    /// with --redis-url, where Redis is the store.
    #[arg(long, env = "PARLEY_DATA_DIR", default_value = "./parley-data")]
    pub(crate) data_dir: String,

    /// When the store's writes reach the disk: `always` acknowledges a
    /// message only once it is on disk (one fsync per group of messages);
    /// `batch` syncs at most every second, so a crash or power loss can
    /// lose the last second of acknowledged messages; `never` syncs only at
    /// a clean stop, so a crash loses everything since the last one.
    #[arg(long, env = "PARLEY_FSYNC", default_value = "always")]
    pub(crate) fsync: Fsync,

    /// Messages kept per room, on disk and in memory (the oldest are
    /// deleted in the background); 0 keeps them all. Also caps
    /// --history-size.
    #[arg(long, env = "PARLEY_RETENTION_MESSAGES", default_value_t = 0)]
    pub(crate) retention_messages: u64,

    /// Days a message is kept: deleted in the background once older, from
    /// the data directory and from the histories held in memory alike; 0
    /// keeps them for ever.
    #[arg(long, env = "PARLEY_RETENTION_DAYS", default_value_t = 0)]
    pub(crate) retention_days: u64,

    /// Days after which a room with no member and nothing new is deleted
    /// from the data directory, messages and all (a client coming back
    /// later finds a new room); 0 keeps empty rooms for ever.
    #[arg(long, env = "PARLEY_EMPTY_ROOM_DAYS", default_value_t = 30)]
    pub(crate) empty_room_days: u64,

    /// Redis server shared by several instances, which then are one chat:
    /// redis://[user:password@]host[:port][/db], or rediss:// for TLS.
    /// Without it the instance runs alone, keeping its rooms in
    /// --data-dir.
    #[arg(long, env = "REDIS_URL")]
    pub(crate) redis_url: Option<String>,

    /// The --redis-url is a Redis Cluster: one or more of its nodes,
    /// comma-separated (redis://10.0.0.1:7000,redis://10.0.0.2:7000), from
    /// which the rest are found. Each room's keys share a hash slot, so
    /// rooms spread over the shards; see docs/DEPLOY.md.
    #[arg(long, env = "PARLEY_REDIS_CLUSTER", requires = "redis_url")]
    pub(crate) redis_cluster: bool,

    /// Prefix of every Redis key, so several clusters can share one Redis.
    #[arg(long, env = "PARLEY_REDIS_PREFIX", default_value = "parley:")]
    pub(crate) redis_prefix: String,

    /// Seconds a WebSocket user outlives its instance's last renewal: the
    /// users of an instance that died leave within this plus a second.
    /// Instances renew every third of it, on the room's one-second
    /// housekeeping tick: at least 3 s, or a renewal could come after the
    /// lease it renews had lapsed.
    #[arg(long, env = "PARLEY_LEASE_SECS", default_value_t = 15, value_parser = clap::value_parser!(u64).range(3..))]
    pub(crate) lease_secs: u64,
}

/// What the embedded store deletes in the background (`--retention-*`,
/// `--empty-room-days`); `None` keeps for ever.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub(crate) struct Retention {
    /// Messages kept per room.
    pub(crate) messages: Option<u64>,
    /// Age past which a message is deleted, ms.
    pub(crate) max_age_ms: Option<u64>,
    /// Idle time past which a room with no member is deleted, ms.
    pub(crate) empty_room_ms: Option<u64>,
}

/// A day, in ms.
const DAY_MS: u64 = 86_400_000;

/// When the embedded store syncs its commits to disk (`--fsync`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub(crate) enum Fsync {
    /// Every commit, before anything in it is acknowledged.
    Always,
    /// At most every second; commits in between are acknowledged unsynced.
    Batch,
    /// Only when the server stops cleanly.
    Never,
}

/// The address users open Parley at, as `--public-url` gives it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct PublicUrl {
    /// Its origin as a browser writes it: scheme, host and port (only when
    /// not the scheme's default), lower case, e.g. `https://chat.example.com`.
    pub(crate) origin: String,
    /// Its path, e.g. `/chat/` (`/` when none).
    pub(crate) path: String,
}

impl PublicUrl {
    /// Parses `http[s]://host[:port][/path]`.
    pub(crate) fn parse(text: &str) -> Result<PublicUrl, String> {
        let text = text.trim();
        let (scheme, rest) = text
            .split_once("://")
            .ok_or_else(|| format!("{text:?} is not a URL like https://chat.example.com/"))?;
        let scheme = scheme.to_ascii_lowercase();
        let default_port = match scheme.as_str() {
            "http" => ":80",
            "https" => ":443",
            _ => return Err(format!("{text:?}: the scheme must be http or https")),
        };
        let (authority, path) = rest.find('/').map_or((rest, "/"), |at| rest.split_at(at));
        let authority = authority.to_ascii_lowercase();
        let authority = authority.strip_suffix(default_port).unwrap_or(&authority);
        if authority.is_empty() || authority.contains(['@', '?', '#', ' ']) {
            return Err(format!(
                "{text:?}: no host, or one with user info or a query"
            ));
        }
        if path.contains(['?', '#']) {
            return Err(format!("{text:?}: a public URL has no query or fragment"));
        }
        Ok(PublicUrl {
            origin: format!("{scheme}://{authority}"),
            path: path.to_owned(),
        })
    }
}

impl PublicUrl {
    /// The host name, without scheme or port: `chat.example.com`.
    pub(crate) fn host(&self) -> &str {
        let authority = self.origin.split_once("://").map_or("", |(_, rest)| rest);
        if authority.starts_with('[') {
            authority.split_inclusive(']').next().unwrap_or(authority)
        } else {
            authority.split(':').next().unwrap_or(authority)
        }
    }
}

/// A transport, as named on the command line.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub(crate) enum TransportName {
    /// WebSocket at `/ws`.
    Websocket,
    /// HTTP long-polling at `/poll`.
    Polling,
}

/// Which transports are on.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Transports {
    /// WebSocket is on.
    pub(crate) websocket: bool,
    /// Long-polling is on.
    pub(crate) polling: bool,
}

impl Transports {
    /// The enabled names, comma-separated, in order of preference.
    pub(crate) fn names(&self) -> String {
        let mut names = Vec::new();
        if self.websocket {
            names.push("websocket");
        }
        if self.polling {
            names.push("polling");
        }
        names.join(",")
    }
}

impl Config {
    /// Room shards to run: `--room-shards`, or one per CPU core for 0.
    pub(crate) fn room_shards(&self) -> usize {
        match self.room_shards {
            0 => std::thread::available_parallelism().map_or(1, usize::from),
            n => n,
        }
    }

    /// Parses the process's arguments and environment.
    pub fn from_args() -> Self {
        Config::parse()
    }

    /// Parses explicit arguments (the program name first), environment
    /// fallbacks included; for tests and embedding.
    pub fn parse_args<I, T>(args: I) -> Result<Self, clap::Error>
    where
        I: IntoIterator<Item = T>,
        T: Into<std::ffi::OsString> + Clone,
    {
        Config::try_parse_from(args)
    }

    /// The port to listen on, after every fallback.
    pub fn port(&self) -> u16 {
        self.port
            .or(self.http_platform_port)
            .or(self.aspnetcore_port)
            .unwrap_or(DEFAULT_PORT)
    }

    /// The embedded store's directory, or `None` for memory only.
    pub(crate) fn data_dir(&self) -> Option<std::path::PathBuf> {
        let dir = self.data_dir.trim();
        (!dir.is_empty() && !dir.eq_ignore_ascii_case("none")).then(|| dir.into())
    }

    /// The transports switched on.
    pub(crate) fn transports(&self) -> Transports {
        Transports {
            websocket: self.transports.contains(&TransportName::Websocket),
            polling: self.transports.contains(&TransportName::Polling),
        }
    }

    /// The base path, normalised: empty, or `/` and segments without a
    /// trailing `/` (`chat/` becomes `/chat`); the public URL's path when
    /// none is given.
    pub(crate) fn base_path(&self) -> String {
        let given = self.base_path.trim();
        let path = match &self.public_url {
            Some(public) if given.is_empty() => public.path.as_str(),
            _ => given,
        };
        let trimmed = path.trim_matches('/');
        if trimmed.is_empty() {
            String::new()
        } else {
            format!("/{trimmed}")
        }
    }

    /// What the embedded store deletes in the background.
    pub(crate) fn retention(&self) -> Retention {
        let some = |n: u64| (n > 0).then_some(n);
        Retention {
            messages: some(self.retention_messages),
            max_age_ms: some(self.retention_days.saturating_mul(DAY_MS)),
            empty_room_ms: some(self.empty_room_days.saturating_mul(DAY_MS)),
        }
    }

    /// The limits the room core and transports enforce.
    pub(crate) fn limits(&self) -> Limits {
        Limits {
            max_message_chars: self.max_message_chars,
            max_nick_chars: self.max_nick_chars,
            max_frame_bytes: self.max_frame_bytes,
            history_size: match self.retention_messages {
                0 => self.history_size,
                kept => self.history_size.min(kept as usize),
            },
            max_room_history_bytes: self.max_room_history_bytes,
            max_history_bytes: self.max_history_bytes,
            history_max_age_ms: self.retention().max_age_ms,
            history_on_join: self.history_on_join,
            max_rooms: self.max_rooms,
            max_room_members: self.max_room_members,
            big_room_members: self.big_room_members,
            rate_burst: self.rate_burst,
            rate_per_sec: self.rate_per_sec,
            address_rate_burst: self.address_rate_burst,
            address_rate_per_sec: self.address_rate_per_sec,
            room_rate_burst: self.room_rate_burst,
            room_rate_per_sec: self.room_rate_per_sec,
            history_rate_burst: self.history_rate_burst,
            history_rate_per_sec: self.history_rate_per_sec,
            ipv4_subnet_bits: self.ipv4_subnet_bits,
            ipv6_subnet_bits: self.ipv6_subnet_bits,
            max_websockets_per_ip: self.max_websockets_per_ip,
            connect_burst: self.connect_burst,
            connect_per_sec: self.connect_per_sec,
            body_timeout: Duration::from_secs(self.body_timeout_secs),
            max_outbox_bytes: self.max_outbox_bytes,
            max_queued_bytes: self.max_queued_bytes,
            max_websockets: self.max_websockets,
            write_stall: Duration::from_secs(self.write_stall_secs.max(1)),
            poll_wait: Duration::from_secs(self.poll_wait_secs.max(1)),
            // A grace shorter than the wait would expire sessions mid-poll.
            session_grace: Duration::from_secs(
                self.session_grace_secs.max(self.poll_wait_secs + 1),
            ),
            coalesce: Duration::from_millis(self.coalesce_ms),
            saturation_lag: Duration::from_millis(self.saturation_lag_ms),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn port_falls_back_through_the_hosting_variables() {
        let parse = |args: &[&str]| {
            Config::parse_args(std::iter::once("parley").chain(args.iter().copied())).unwrap()
        };
        assert_eq!(
            parse(&["--port", "8080", "--http-platform-port", "9"]).port(),
            8080
        );
        assert_eq!(
            parse(&["--http-platform-port", "9", "--aspnetcore-port", "10"]).port(),
            9
        );
        assert_eq!(parse(&["--aspnetcore-port", "10"]).port(), 10);
        let defaults = parse(&[]);
        if std::env::var_os("PORT").is_none()
            && std::env::var_os("HTTP_PLATFORM_PORT").is_none()
            && std::env::var_os("ASPNETCORE_PORT").is_none()
        {
            assert_eq!(defaults.port(), DEFAULT_PORT);
        }
        assert_eq!(defaults.limits(), Limits::default());
    }

    #[test]
    fn transports_and_base_path_are_normalised() {
        let config =
            Config::parse_args(["parley", "--transports", "polling", "--base-path", "chat/"])
                .unwrap();
        assert_eq!(
            config.transports(),
            Transports {
                websocket: false,
                polling: true
            }
        );
        assert_eq!(config.base_path(), "/chat");
        let defaults = Config::parse_args(["parley", "--base-path", "/"]).unwrap();
        assert_eq!(defaults.transports().names(), "websocket,polling");
        assert_eq!(defaults.base_path(), "");
    }

    #[test]
    fn data_dir_none_means_memory_only() {
        let none = Config::parse_args(["parley", "--data-dir", "none"]).unwrap();
        assert_eq!(none.data_dir(), None);
        let dir =
            Config::parse_args(["parley", "--data-dir", "/tmp/x", "--fsync", "batch"]).unwrap();
        assert_eq!(dir.data_dir(), Some("/tmp/x".into()));
        assert_eq!(dir.fsync, Fsync::Batch);
    }

    #[test]
    fn origins_split_on_commas() {
        let config = Config::parse_args([
            "parley",
            "--allowed-origins",
            "https://a.example,https://b.example",
        ])
        .unwrap();
        assert_eq!(
            config.allowed_origins,
            vec!["https://a.example", "https://b.example"]
        );
    }

    #[test]
    fn a_public_url_gives_an_origin_and_the_base_path() {
        let url = PublicUrl::parse("HTTPS://Chat.Example.com:443/chat/").unwrap();
        assert_eq!(url.origin, "https://chat.example.com");
        assert_eq!(url.path, "/chat/");
        let plain = PublicUrl::parse("http://127.0.0.1:8080").unwrap();
        assert_eq!(
            (plain.origin.as_str(), plain.path.as_str()),
            ("http://127.0.0.1:8080", "/")
        );
        for bad in [
            "chat.example.com",
            "ftp://x/",
            "https:///",
            "https://u@x/",
            "https://x/?q",
        ] {
            assert!(PublicUrl::parse(bad).is_err(), "{bad}");
        }
        let config =
            Config::parse_args(["parley", "--public-url", "https://chat.example.com/chat/"])
                .unwrap();
        assert_eq!(config.base_path(), "/chat");
        let both = Config::parse_args([
            "parley",
            "--public-url",
            "https://chat.example.com/chat/",
            "--base-path",
            "/other",
        ])
        .unwrap();
        assert_eq!(both.base_path(), "/other", "--base-path wins");
    }
}
