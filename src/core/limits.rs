//! The numeric limits the room core enforces, in one struct built from the
//! configuration. Transport-level limits (frame bytes, outbox bytes, timing)
//! are here too so that the welcome can announce them and the docs can cite
//! one place.

use std::time::Duration;

use crate::core::bucket_map::Allowance;
use crate::core::client_key::SubnetBits;
use crate::protocol::AnnouncedLimits;

/// Most messages one `history` request may ask for (`limit`), announced as
/// `max_history_limit`. A request is answered from the backplane in one
/// step, so this bounds that step's work as well as the answer.
pub(crate) const MAX_HISTORY_LIMIT: u64 = 100;

/// Most members one `roster` request may ask for (`limit`), announced as
/// `max_roster_limit`; also the most a welcome lists to a client of minor
/// version 0 or 1 in a big room.
pub(crate) const MAX_ROSTER_LIMIT: u64 = 100;

/// Limits in force for a server.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Limits {
    /// Longest message, in characters.
    pub max_message_chars: usize,
    /// Longest nickname, in characters.
    pub max_nick_chars: usize,
    /// Largest client frame, in bytes (WebSocket message or HTTP body).
    pub max_frame_bytes: usize,
    /// Messages kept per room.
    pub history_size: usize,
    /// Bytes of history kept per room (`core/history.rs` counts them); the
    /// log tail kept for catching up is bounded by the same figure.
    pub max_room_history_bytes: usize,
    /// Bytes of history kept across all rooms by each holder (the
    /// in-memory backplane, this instance's mirrors); past it the least
    /// recently active rooms lose their oldest messages first.
    pub max_history_bytes: usize,
    /// Age past which a message leaves the histories held in memory, ms
    /// (`--retention-days`, which also deletes it from the store's file);
    /// `None` keeps messages whatever their age.
    pub history_max_age_ms: Option<u64>,
    /// Messages shown to a new (not resuming) joiner.
    pub history_on_join: usize,
    /// Rooms held at once (empty rooms are evicted, oldest first, past it).
    pub max_rooms: usize,
    /// Participants per room.
    pub max_room_members: usize,
    /// Rooms of this many members or more are big: a welcome lists at
    /// most one page of the roster, and arrivals and departures are sent
    /// counted, with a bounded sample of names (`core/presence_batch.rs`).
    pub big_room_members: usize,
    /// Frames a client (one resume token, across its reconnects) may send
    /// in a burst.
    pub rate_burst: u32,
    /// Frames per second a client may sustain.
    pub rate_per_sec: u32,
    /// Frames one address (its subnet, see `ipv4_subnet_bits`) may send in
    /// a burst, all its connections together.
    pub address_rate_burst: u32,
    /// Frames per second one address may sustain.
    pub address_rate_per_sec: u32,
    /// Messages a room takes in a burst (per instance), whoever sends them.
    pub room_rate_burst: u32,
    /// Messages per second a room takes (per instance).
    pub room_rate_per_sec: u32,
    /// `history` requests a client (one resume token) may make in a
    /// burst, on top of the frame allowance every frame draws on.
    pub history_rate_burst: u32,
    /// `history` requests per second a client may sustain.
    pub history_rate_per_sec: u32,
    /// Leading bits of an IPv4 address that name one client.
    pub ipv4_subnet_bits: u8,
    /// Leading bits of an IPv6 address that name one client.
    pub ipv6_subnet_bits: u8,
    /// WebSockets one address may hold open at once.
    pub max_websockets_per_ip: usize,
    /// Connection attempts (WebSocket upgrades and `/poll/open`) one
    /// address may make in a burst.
    pub connect_burst: u32,
    /// Connection attempts per second one address may sustain.
    pub connect_per_sec: u32,
    /// Longest a client may take to send a request body.
    pub body_timeout: Duration,
    /// Bytes queued for one slow reader before it is dropped.
    pub max_outbox_bytes: usize,
    /// Bytes queued to all connections together; past it, the reader with
    /// the most waiting is dropped (`delivery/backlog.rs`).
    pub max_queued_bytes: usize,
    /// WebSockets the server holds open in all.
    pub max_websockets: usize,
    /// A WebSocket whose socket takes nothing of what is queued for this
    /// long is cut by its writer, whether or not its session runs.
    pub write_stall: Duration,
    /// Longest a long-poll waits before answering empty. Under the idle
    /// timeouts of common proxies (nginx 60 s, IIS ARR 120 s, Azure 230 s).
    pub poll_wait: Duration,
    /// A polling session not polled for this long ends and its user leaves.
    /// Must exceed `poll_wait` plus a client's reconnect backoff, so that a
    /// live client is never expired between two polls.
    pub session_grace: Duration,
    /// Longest a frame to a connection receiving a fast stream waits, while
    /// its worker thread is saturated, so that several leave in one write
    /// (`delivery/coalesce.rs`); zero sends every frame at once.
    pub coalesce: Duration,
    /// How long the room's work may wait to start on a worker thread
    /// before that thread counts as saturated, which alone lets frames be
    /// held (`delivery/coalesce.rs`); zero counts every thread saturated
    /// always (a fixed window: least CPU, most latency).
    pub saturation_lag: Duration,
}

impl Default for Limits {
    fn default() -> Self {
        Limits {
            max_message_chars: 2000,
            max_nick_chars: 24,
            max_frame_bytes: 16 * 1024,
            history_size: 500,
            max_room_history_bytes: 256 * 1024,
            max_history_bytes: 64 * 1024 * 1024,
            history_max_age_ms: None,
            history_on_join: 50,
            max_rooms: 500,
            max_room_members: 20_000,
            // About 40 KB of roster in a welcome to a client that pages
            // nothing: a few frames' worth, so a join into a room below it
            // costs the joiner little even written whole.
            big_room_members: 1_000,
            rate_burst: 20,
            rate_per_sec: 10,
            address_rate_burst: 20,
            address_rate_per_sec: 10,
            room_rate_burst: 30,
            room_rate_per_sec: 10,
            // Each answer is at most an eighth of the outbox: a full burst
            // left unread (5/8) plus a room's whole burst of messages
            // (about 250 KB) still fits one client's 1 MiB.
            history_rate_burst: 5,
            history_rate_per_sec: 1,
            ipv4_subnet_bits: 32,
            ipv6_subnet_bits: 64,
            max_websockets_per_ip: 50,
            connect_burst: 20,
            connect_per_sec: 5,
            body_timeout: Duration::from_secs(10),
            max_outbox_bytes: 1024 * 1024,
            max_queued_bytes: 64 * 1024 * 1024,
            max_websockets: 8_192,
            // Twice the heartbeat's client timeout (15 s): a client the
            // heartbeat would still count alive is not cut for a slow link.
            write_stall: Duration::from_secs(30),
            poll_wait: Duration::from_secs(25),
            session_grace: Duration::from_secs(45),
            coalesce: Duration::from_millis(20),
            saturation_lag: Duration::from_millis(2),
        }
    }
}

impl Limits {
    /// The part of the limits a client needs to know.
    pub(crate) fn announced(&self) -> AnnouncedLimits {
        AnnouncedLimits {
            max_message_chars: self.max_message_chars,
            max_nick_chars: self.max_nick_chars,
            max_frame_bytes: self.max_frame_bytes,
            rate_burst: self.rate_burst,
            rate_per_sec: self.rate_per_sec,
            max_history_limit: MAX_HISTORY_LIMIT,
            max_roster_limit: MAX_ROSTER_LIMIT,
            big_room_members: self.big_room_members,
        }
    }

    /// Most bytes of entries one page of the roster carries, as written
    /// (a `roster` answer, or a welcome's roster in a big room): a
    /// sixty-fourth of the outbox (16 KiB by default, well over the 100
    /// entries of a page), so that a client's whole burst of requests left
    /// unread (20 pages, 320 KiB) with a room's burst of messages (about
    /// 250 KB) still fits its 1 MiB. At least one entry is always sent.
    pub(crate) fn roster_page_bytes(&self) -> usize {
        self.max_outbox_bytes / 64
    }

    /// A client's allowance of `history` requests.
    pub(crate) fn history_allowance(&self) -> Allowance {
        Allowance {
            burst: self.history_rate_burst,
            per_sec: self.history_rate_per_sec,
        }
    }

    /// Most bytes of messages one `history` answer carries, as written
    /// (`history::framed_len`): an eighth of the outbox, so that a burst of
    /// answers the client has not read yet does not get it cut as a slow
    /// reader. At least one message is always sent.
    pub(crate) fn history_page_bytes(&self) -> usize {
        self.max_outbox_bytes / 8
    }

    /// The bits of an address that name its client.
    pub(crate) fn subnet_bits(&self) -> SubnetBits {
        SubnetBits {
            v4: self.ipv4_subnet_bits,
            v6: self.ipv6_subnet_bits,
        }
    }

    /// A client's (a resume token's) frame allowance.
    pub(crate) fn client_allowance(&self) -> Allowance {
        Allowance {
            burst: self.rate_burst,
            per_sec: self.rate_per_sec,
        }
    }

    /// An address's frame allowance.
    pub(crate) fn address_allowance(&self) -> Allowance {
        Allowance {
            burst: self.address_rate_burst,
            per_sec: self.address_rate_per_sec,
        }
    }

    /// An address's connection attempts allowance.
    pub(crate) fn connect_allowance(&self) -> Allowance {
        Allowance {
            burst: self.connect_burst,
            per_sec: self.connect_per_sec,
        }
    }

    /// How often, at most, a polling session's polls renew its lease: a
    /// third of the grace, at least a second. Each renewal is a backplane
    /// call (a Redis round trip), so thousands of busy pollers must not
    /// renew on every poll.
    pub(crate) fn poll_renewal(&self) -> Duration {
        (self.session_grace / 3).max(Duration::from_secs(1))
    }

    /// The lease a poll renews: the grace, plus the renewal period it may
    /// have skipped, so a session ends between one grace and that much
    /// more after its last poll, never sooner.
    pub(crate) fn poll_lease(&self) -> Duration {
        self.session_grace + self.poll_renewal()
    }
}
