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
    /// `--history-on-join`.
    pub history_on_join: u64,
    /// `--max-message-chars`.
    pub max_message_chars: u64,
    /// `--max-history-bytes` (G).
    pub max_history_bytes: u64,
    /// `--max-room-history-bytes` (R).
    pub max_room_history_bytes: u64,
    /// `--max-rooms`.
    pub max_rooms: u64,
    /// `--max-websockets-per-ip`.
    pub max_websockets_per_ip: u64,
    /// `--max-sessions-per-ip`.
    pub max_sessions_per_ip: u64,
    /// `--max-poll-sessions`.
    pub max_poll_sessions: u64,
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
            history_on_join: get("--history-on-join", 50),
            max_message_chars: get("--max-message-chars", 2000),
            max_history_bytes: get("--max-history-bytes", 64 << 20),
            max_room_history_bytes: get("--max-room-history-bytes", 256 << 10),
            max_rooms: get("--max-rooms", 1000),
            max_websockets_per_ip: get("--max-websockets-per-ip", 50),
            max_sessions_per_ip: get("--max-sessions-per-ip", 64),
            max_poll_sessions: get("--max-poll-sessions", 20_000),
        }
    }
}

/// The worst-case RSS in bytes of a server started with `flags` and
/// reached from `subnets` client subnets, by docs/DEPLOY.md:
///
/// ```text
/// RSS ≤ B + C_ws × (3.3 KB + max(O, W)) + C_poll × (4 KB + max(O, W))
///         + 2 × G + min(max_rooms, C_ws + C_poll) × R + max_rooms × 2 KB
/// ```
///
/// `B` is the process at start, `base` here: the formula's 8 MiB is the
/// release build's, and tests run the debug build, so the test measures
/// its own server before the attack. `W`, the largest frame, is a
/// `welcome` with `--history-on-join` messages of `--max-message-chars`
/// characters at 6 bytes each once JSON-escaped. Nothing on this branch
/// caps WebSockets but the per-address cap, so `C_ws` is that cap times
/// the subnets; `C_poll` likewise, under `--max-poll-sessions`.
pub fn worst_case_rss(flags: &Flags, subnets: u64, base: u64) -> u64 {
    let per_queue = queue_bound(flags);
    let c_ws = flags.max_websockets_per_ip * subnets;
    let c_poll = (flags.max_sessions_per_ip * subnets).min(flags.max_poll_sessions);
    base + c_ws * (3_300 + per_queue)
        + c_poll * (4_000 + per_queue)
        + 2 * flags.max_history_bytes
        + flags.max_rooms.min(c_ws + c_poll) * flags.max_room_history_bytes
        + flags.max_rooms * 2_000
}

/// What one connection may hold queued, by the formula: `max(O, W)`, `W`
/// being a `welcome` with `--history-on-join` messages of
/// `--max-message-chars` characters at 6 bytes each.
pub fn queue_bound(flags: &Flags) -> u64 {
    let largest_frame = flags.history_on_join * flags.max_message_chars * 6;
    flags.max_outbox_bytes.max(largest_frame)
}
