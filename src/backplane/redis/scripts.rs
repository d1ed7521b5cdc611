//! The Lua scripts of the Redis backplane. Each decision about a room
//! (join, leave, rename, typing, say, snapshot) is one script on the
//! room's slot, and so is reading a page of older history (before), and
//! Redis runs a script as one step, so every instance sharing the Redis
//! sees the same decisions about a room in the same order. Leases and
//! places (`lease.lua`) and the rooms index (`index.lua`) are scripts of
//! their own slots, which `redis.rs` calls in an order safe to stop
//! between. This module owns the key layout and the
//! JSON the scripts write; `redis.rs` owns the connection and turns replies
//! into backplane types. It must not hold connection logic. The Lua itself
//! is in `lua/`, one file per script, compiled in with `include_str!`.
//!
//! Keys, under the configured prefix `P`, each script touching one hash
//! slot so that the same scripts run on one Redis and on a Redis Cluster
//! (docs/DECISIONS.md, "Redis Cluster"):
//! - a room's keys share the hash tag `{R}`: `P{R}:meta` (hash: `epoch`,
//!   `last_id`, `last_seq`, `joins`), `:members` (hash token →
//!   `{"nick","key","order"}`), `:nicks` (hash key → token), `:log`
//!   (stream, entry id `<seq>-0`, fields `prev`, `ev`), `:msgs` (list of
//!   `{"m": message, "r": ref key}`, the history) and `:refs` (hash
//!   `token \x1f ref` → message id, an entry deleted when its message
//!   leaves `:msgs`, as `History` does in memory). Seqs count per room.
//! - a token's place and lease are in its lease bucket `{L:k}` (one of
//!   [`LEASE_BUCKETS`](super::LEASE_BUCKETS), from the token):
//!   `P{L:k}:place` (hash token → the rooms it may be in) and
//!   `P{L:k}:leases` (sorted set token → expiry in ms of that node's clock);
//! - the rooms `--max-rooms` counts are the index `{rooms}`:
//!   `P{rooms}:held` (set of rooms with members), `P{rooms}:idle` (sorted
//!   set of the empty rooms held, by when last active), `P{rooms}:at`;
//! - `P poll:ID` (string → token, with a TTL), alone in its slot;
//! - channel `P ev`: every script that logs publishes its entries there, as
//!   one JSON array of `{"room","seq","prev","ev"}`, and returns the same
//!   (a cluster passes a PUBLISH on to every node).
//!
//! Scripts build the `ev` JSON as strings, not with `cjson.encode` of a
//! table: Redis's cjson writes numbers with 14 significant digits, so a u64
//! cursor (a resume cursor may be 2^64 - 1) would come back wrong. Strings
//! go through `cjson.encode`, the parts Rust knows (tokens, origins,
//! cursors, timestamps) arrive as JSON serialised by serde and are spliced
//! in, and numbers Lua decides (counts, ids, seqs) are written with `%d`. An empty room's keys
//! expire after a while, as the in-memory backplane evicts idle rooms.
//! A script is routed by its one key (KEYS[1]) and builds its other keys,
//! all with the same hash tag, inside.

use redis::{Cmd, ConnectionLike, FromRedisValue, RedisResult, Script};

/// What every script starts with: the common arguments and helpers.
/// ARGV[1] prefix, [2] history size, [3] log cap, [4] empty-room TTL (ms);
/// each script's own arguments start at ARGV[5].
const COMMON: &str = include_str!("lua/common.lua");

/// ARGV: room, token, nick, nick key, max members, new epoch, the Joined
/// event's JSON without `count` and `resumed`, floor, `1` to check only.
const JOIN: &str = include_str!("lua/join.lua");

/// ARGV: room, token, why (LeftWhy's serde name).
const LEAVE: &str = include_str!("lua/leave.lua");

/// ARGV: room, token, nick, nick key.
const RENAME: &str = include_str!("lua/rename.lua");

/// ARGV: room, token, `true` or `false`.
const TYPING: &str = include_str!("lua/typing.lua");

/// ARGV: room, token, `1` when there is a ref, the ref, the Message event's
/// JSON without `message`, the message's JSON without `id` and `nick`.
/// Answers {'dup', id} for a ref still in the history.
const SAY: &str = include_str!("lua/say.lua");

/// ARGV: room, new epoch. Answers {epoch, last_seq, last_id, members as
/// HGETALL, history oldest first}.
const SNAPSHOT: &str = include_str!("lua/snapshot.lua");

/// ARGV: room, before, limit. Answers {more, kept messages oldest first}:
/// the newest `limit` with an id below `before`; `more` is `1` when an
/// older one is kept. Only reads.
const BEFORE: &str = include_str!("lua/before.lua");

/// ARGV: room. Deletes the keys of a room the index let go, if empty.
const FORGET: &str = include_str!("lua/forget.lua");

/// ARGV: bucket, then `hold`, `release`, `renew`, `due` or `reaped` and
/// its arguments (see the file): a lease bucket's place and leases.
const LEASE: &str = include_str!("lua/lease.lua");

/// ARGV: `admit` or `tell` and its arguments (see the file): the rooms
/// index that `--max-rooms` counts.
const INDEX: &str = include_str!("lua/index.lua");

/// Which script to run.
#[derive(Debug, Clone, Copy)]
pub(super) enum Op {
    Join,
    Leave,
    Rename,
    Typing,
    Say,
    Snapshot,
    Before,
    Forget,
    Lease,
    Index,
}

impl Op {
    const ALL: [Op; 10] = [
        Op::Join,
        Op::Leave,
        Op::Rename,
        Op::Typing,
        Op::Say,
        Op::Snapshot,
        Op::Before,
        Op::Forget,
        Op::Lease,
        Op::Index,
    ];

    fn body(self) -> &'static str {
        match self {
            Op::Join => JOIN,
            Op::Leave => LEAVE,
            Op::Rename => RENAME,
            Op::Typing => TYPING,
            Op::Say => SAY,
            Op::Snapshot => SNAPSHOT,
            Op::Before => BEFORE,
            Op::Forget => FORGET,
            Op::Lease => LEASE,
            Op::Index => INDEX,
        }
    }
}

/// The scripts, with the arguments every call passes first.
#[derive(Clone)]
pub(super) struct Scripts {
    scripts: Vec<Script>,
    common: [String; 4],
}

impl Scripts {
    /// The scripts for keys under `prefix`, a history of `history_size`
    /// messages, logs of about `log_cap` entries and empty rooms kept for
    /// `empty_room_ttl_ms`.
    pub(super) fn new(
        prefix: &str,
        history_size: usize,
        log_cap: usize,
        empty_room_ttl_ms: u64,
    ) -> Self {
        Scripts {
            scripts: Op::ALL
                .iter()
                .map(|op| Script::new(&format!("{COMMON}{}", op.body())))
                .collect(),
            common: [
                prefix.to_owned(),
                history_size.max(1).to_string(),
                log_cap.to_string(),
                empty_room_ttl_ms.max(1).to_string(),
            ],
        }
    }

    /// Loads every script (on every primary of a cluster), so a Redis that
    /// cannot run them fails at start.
    pub(super) fn load(&self, conn: &mut dyn ConnectionLike) -> RedisResult<()> {
        for script in &self.scripts {
            script.load(conn)?;
        }
        Ok(())
    }

    /// Runs `op` with `args` after the common ones (EVALSHA, loading the
    /// script again when Redis lost it, as after a restart). `key` is a key
    /// of the slot the script touches: a cluster runs it on that slot's
    /// primary.
    pub(super) fn run<T: FromRedisValue>(
        &self,
        op: Op,
        key: &str,
        args: &[&str],
        conn: &mut dyn ConnectionLike,
    ) -> RedisResult<T> {
        let mut call = self.scripts[op as usize].prepare_invoke();
        call.key(key);
        for arg in &self.common {
            call.arg(arg);
        }
        for arg in args {
            call.arg(*arg);
        }
        call.invoke(conn)
    }

    /// The EVALSHA command of `op` on `key`'s slot with `args` after the
    /// common ones, for a pipeline: unlike [`Scripts::run`] it does not load
    /// a script Redis lost (the reply is a NOSCRIPT error, and the caller
    /// loads them).
    pub(super) fn command(&self, op: Op, key: &str, args: &[&str]) -> Cmd {
        let mut call = redis::cmd("EVALSHA");
        call.arg(self.scripts[op as usize].get_hash())
            .arg(1)
            .arg(key);
        for arg in &self.common {
            call.arg(arg);
        }
        for arg in args {
            call.arg(*arg);
        }
        call
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ops_index_their_own_scripts() {
        for (i, op) in Op::ALL.iter().enumerate() {
            assert_eq!(*op as usize, i, "{op:?} is out of place in Op::ALL");
        }
    }
}
