//! The Lua scripts of the Redis backplane. Each decision (join, leave,
//! rename, typing, say, reap, renew, snapshot) is one script, and so is
//! reading a page of older history (before), and Redis runs
//! a script as one step, so every instance sharing the Redis sees the same
//! decisions in the same order. This module owns the key layout and the
//! JSON the scripts write; `redis.rs` owns the connection and turns replies
//! into backplane types. It must not hold connection logic. The Lua itself
//! is in `lua/`, one file per script, compiled in with `include_str!`.
//!
//! Keys, under the configured prefix `P`:
//! - `P seq`: the cluster-wide entry counter (INCR);
//! - `P room:R:meta` (hash: `epoch`, `last_id`, `last_seq`, `joins`),
//!   `:members` (hash token → `{"nick","key","order"}`), `:nicks` (hash
//!   key → token), `:log` (stream, entry id `<seq>-0`, fields `prev`, `ev`),
//!   `:msgs` (list of `{"m": message, "r": ref key}`, the history) and
//!   `:refs` (hash `token \x1f ref` → message id, an entry deleted when its
//!   message leaves `:msgs`, as `History` does in memory);
//! - `P rooms` (set of the rooms with members) and `P idle` (sorted set of
//!   the empty rooms held, by when last active), kept by `settle`; together
//!   the rooms `--max-rooms` bounds (`make_room`);
//! - `P place` (hash token → room), `P leases` (sorted set token → expiry
//!   in ms of the Redis clock), `P poll:ID` (string → token, with a TTL);
//! - channel `P ev`: every script that logs publishes its entries there, as
//!   one JSON array of `{"room","seq","prev","ev"}`, and returns the same.
//!
//! Scripts build the `ev` JSON as strings, not with `cjson.encode` of a
//! table: Redis's cjson writes numbers with 14 significant digits, so a u64
//! cursor (a resume cursor may be 2^64 - 1) would come back wrong. Strings
//! go through `cjson.encode`, the parts Rust knows (tokens, origins,
//! cursors, timestamps) arrive as JSON serialised by serde and are spliced
//! in, and numbers Lua decides (counts, ids, seqs) are written with `%d`. An empty room's keys
//! expire after a while, as the in-memory backplane evicts idle rooms.
//! Keys are built inside the scripts, so this needs one Redis primary (or a
//! cluster with a hash-tagged prefix such as `{parley}:`).

use redis::{Cmd, Connection, ConnectionLike, FromRedisValue, RedisResult, Script};

/// What every script starts with: the common arguments and helpers.
/// ARGV[1] prefix, [2] history size, [3] log cap, [4] empty-room TTL (ms);
/// each script's own arguments start at ARGV[5].
const COMMON: &str = include_str!("lua/common.lua");

/// ARGV: room, token, nick, nick key, max members, new epoch, the Joined
/// event's JSON without `count` and `resumed`, lease ms, max rooms with
/// members (answers {'too_many_rooms', ''} past it).
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

/// ARGV: room, new epoch, max rooms. Answers {epoch, last_seq, last_id,
/// members as HGETALL, history oldest first}, with an empty epoch when the
/// room is new and every room held has members.
const SNAPSHOT: &str = include_str!("lua/snapshot.lua");

/// ARGV: room, before, limit. Answers {more, kept messages oldest first}:
/// the newest `limit` with an id below `before`; `more` is `1` when an
/// older one is kept. Only reads.
const BEFORE: &str = include_str!("lua/before.lua");

/// ARGV: TTL in ms, then the tokens.
const RENEW: &str = include_str!("lua/renew.lua");

/// ARGV: most leases to take.
const REAP: &str = include_str!("lua/reap.lua");

/// ARGV: polling session. Answers {} when unknown, else {token[, room]}.
const FIND_POLL: &str = include_str!("lua/find_poll.lua");

/// Which script to run.
#[derive(Debug, Clone, Copy)]
pub(super) enum Op {
    Join,
    Leave,
    Rename,
    Typing,
    Say,
    Snapshot,
    Renew,
    Reap,
    FindPoll,
    Before,
}

impl Op {
    const ALL: [Op; 10] = [
        Op::Join,
        Op::Leave,
        Op::Rename,
        Op::Typing,
        Op::Say,
        Op::Snapshot,
        Op::Renew,
        Op::Reap,
        Op::FindPoll,
        Op::Before,
    ];

    fn body(self) -> &'static str {
        match self {
            Op::Join => JOIN,
            Op::Leave => LEAVE,
            Op::Rename => RENAME,
            Op::Typing => TYPING,
            Op::Say => SAY,
            Op::Snapshot => SNAPSHOT,
            Op::Renew => RENEW,
            Op::Reap => REAP,
            Op::FindPoll => FIND_POLL,
            Op::Before => BEFORE,
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

    /// Loads every script, so a Redis that cannot run them fails at start.
    pub(super) fn load(&self, conn: &mut dyn ConnectionLike) -> RedisResult<()> {
        for script in &self.scripts {
            script.load(conn)?;
        }
        Ok(())
    }

    /// Runs `op` with `args` after the common ones (EVALSHA, loading the
    /// script again when Redis lost it, as after a restart).
    pub(super) fn run<T: FromRedisValue>(
        &self,
        op: Op,
        args: &[&str],
        conn: &mut Connection,
    ) -> RedisResult<T> {
        let mut call = self.scripts[op as usize].prepare_invoke();
        for arg in &self.common {
            call.arg(arg);
        }
        for arg in args {
            call.arg(*arg);
        }
        call.invoke(conn)
    }

    /// The EVALSHA command of `op` with `args` after the common ones, for a
    /// pipeline: unlike [`Scripts::run`] it does not load a script Redis
    /// lost (the reply is a NOSCRIPT error, and the caller loads them).
    pub(super) fn command(&self, op: Op, args: &[&str]) -> Cmd {
        let mut call = redis::cmd("EVALSHA");
        call.arg(self.scripts[op as usize].get_hash()).arg(0);
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
