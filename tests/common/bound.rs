//! The documented worst case of the server's resident memory, computed
//! from the flags a test starts it with: the formula of docs/DEPLOY.md,
//! "Memory: the worst case", written once so that it changes in one place
//! when the formula does.

/// The flags the formula reads, from a `parley` argument list, with the
/// server's defaults for those not given.
#[derive(Debug, Clone)]
pub struct Flags {
    /// `--max-outbox-bytes` (O).
    pub max_outbox_bytes: u64,
    /// `--max-frame-bytes` (F).
    pub max_frame_bytes: u64,
    /// `--max-queued-bytes` (Q).
    pub max_queued_bytes: u64,
    /// `--max-history-bytes` (G).
    pub max_history_bytes: u64,
    /// `--max-room-history-bytes` (R).
    pub max_room_history_bytes: u64,
    /// `--max-rooms`.
    pub max_rooms: u64,
    /// `--max-websockets` (the server's cap).
    pub max_websockets: u64,
    /// `--max-websockets-per-ip`.
    pub max_websockets_per_ip: u64,
    /// `--max-poll-sessions` (the server's cap).
    pub max_poll_sessions: u64,
    /// `--max-sessions-per-ip`.
    pub max_sessions_per_ip: u64,
    /// `--max-http-connections` (H).
    pub max_http_connections: u64,
}

impl Flags {
    /// Reads `args` (`--flag value` pairs).
    pub fn parse(args: &[String]) -> Flags {
        let get = |flag: &str, default: u64| -> u64 {
            args.windows(2)
                .rev()
                .find(|pair| pair[0] == flag)
                .map_or(default, |pair| pair[1].parse().expect("a number"))
        };
        Flags {
            max_outbox_bytes: get("--max-outbox-bytes", 1 << 20),
            max_frame_bytes: get("--max-frame-bytes", 16 << 10),
            max_queued_bytes: get("--max-queued-bytes", 64 << 20),
            max_history_bytes: get("--max-history-bytes", 64 << 20),
            max_room_history_bytes: get("--max-room-history-bytes", 256 << 10),
            max_rooms: get("--max-rooms", 500),
            max_websockets: get("--max-websockets", 8_192),
            max_websockets_per_ip: get("--max-websockets-per-ip", 50),
            max_poll_sessions: get("--max-poll-sessions", 1_000),
            max_sessions_per_ip: get("--max-sessions-per-ip", 64),
            max_http_connections: get("--max-http-connections", 1_024),
        }
    }
}

/// The largest answer to one poll (`MAX_BATCH_BYTES`), P in the formula.
const POLL_ANSWER: u64 = 64 << 10;

/// The worst-case RSS in bytes of a server started with `flags` and
/// reached from `subnets` client subnets, by docs/DEPLOY.md:
///
/// ```text
/// RSS ≤ B + C_ws × (3.8 KB + 2F) + C_poll × 4 KB + H × (160 KiB + F + P)
///         + Q + 2G + min(max_rooms, C_ws + C_poll) × R + max_rooms × 2 KB
/// ```
///
/// `B` is the process at start, `base` here: the formula's 8 MiB is the
/// release build's, and tests run the debug build, so the test measures
/// its own server before the attack. `C_ws` is the server's WebSocket cap
/// or the per-address cap times the subnets, whichever is less; `C_poll`
/// likewise.
pub fn worst_case_rss(flags: &Flags, subnets: u64, base: u64) -> u64 {
    let c_ws = (flags.max_websockets_per_ip * subnets).min(flags.max_websockets);
    let c_poll = (flags.max_sessions_per_ip * subnets).min(flags.max_poll_sessions);
    let f = flags.max_frame_bytes;
    base + c_ws * (3_800 + 2 * f)
        + c_poll * 4_000
        + flags.max_http_connections * ((160 << 10) + f + POLL_ANSWER)
        + flags.max_queued_bytes
        + 2 * flags.max_history_bytes
        + flags.max_rooms.min(c_ws + c_poll) * flags.max_room_history_bytes
        + flags.max_rooms * 2_000
}

/// What one connection may have queued for it alone: `O`, which a
/// `welcome` fits too (its replay is held to `O / 2`, the roster is small).
pub fn queue_bound(flags: &Flags) -> u64 {
    flags.max_outbox_bytes
}
