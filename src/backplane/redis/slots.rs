//! The slots of the Redis backplane other than a room's: a token's lease
//! bucket (its place and lease, `lua/lease.lua`) and the rooms index that
//! `--max-rooms` counts (`lua/index.lua`), as the multi-step calls of
//! `redis.rs` (join, leave, reap) use them, and what every answer tells
//! them ([`RedisBackplane::heard`]). The order of those steps, and why a
//! crash between them is safe, is `redis.rs`'s; this file must not decide
//! about a room.

use std::sync::atomic::Ordering;

use redis::Value;

use super::scripts::Op;
use super::{RedisBackplane, LEASE_BUCKETS};
use crate::core::backplane::{Entry, Event, Refusal};

/// The lease bucket of a token (FNV-1a of its bytes): any function of the
/// token does, as long as every instance picks the same one.
pub(super) fn bucket(token: &str) -> u32 {
    let hash = token.bytes().fold(0x811c_9dc5_u32, |h, b| {
        (h ^ u32::from(b)).wrapping_mul(0x0100_0193)
    });
    hash % LEASE_BUCKETS
}

/// The rooms a token's place lists.
pub(super) fn rooms_of(place: &str) -> impl Iterator<Item = &str> {
    place.split('\n').filter(|r| !r.is_empty())
}

impl RedisBackplane {
    /// Runs lease bucket `k`'s script (`what` and its arguments).
    pub(super) fn lease<T: redis::FromRedisValue>(
        &mut self,
        k: u32,
        args: &[&str],
    ) -> Result<T, Refusal> {
        let key = self.key(format_args!("{{L:{k}}}:leases"));
        let k = k.to_string();
        let args: Vec<&str> = std::iter::once(k.as_str())
            .chain(args.iter().copied())
            .collect();
        self.run(|conn, scripts| scripts.run(Op::Lease, &key, &args, conn))
    }

    /// The rooms `token`'s place lists ('\n'-separated, empty when none).
    pub(super) fn place(&mut self, token: &str) -> Result<String, Refusal> {
        let key = self.key(format_args!("{{L:{}}}:place", bucket(token)));
        let place: Option<String> =
            self.run(|conn, _| redis::cmd("HGET").arg(&key).arg(token).query(conn))?;
        Ok(place.unwrap_or_default())
    }

    /// Records that `token` is in (or moving between) `rooms`, leased for
    /// `lease_ms` from now; no rooms forgets its place and lease.
    pub(super) fn hold(&mut self, token: &str, rooms: &str, lease_ms: u64) -> Result<(), Refusal> {
        let lease_ms = lease_ms.to_string();
        self.lease::<Value>(bucket(token), &["hold", token, rooms, &lease_ms])
            .map(drop)
    }

    /// Runs the rooms index script (`what` and its arguments).
    fn index(&mut self, args: &[&str]) -> Result<Vec<String>, Refusal> {
        let key = self.key(format_args!("{{rooms}}:held"));
        self.run(|conn, scripts| scripts.run(Op::Index, &key, args, conn))
    }

    /// Whether the rooms index holds `room` or has space for it, letting
    /// the empty room idle longest go (its keys deleted) when at the bound.
    pub(super) fn admit(&mut self, room: &str) -> Result<bool, Refusal> {
        let max_rooms = self.max_rooms.min(i64::MAX as usize).to_string();
        let reply = self.index(&["admit", room, &max_rooms])?;
        match reply.first().map(String::as_str) {
            Some("ok") => {}
            _ => return Ok(false),
        }
        if let Some(victim) = reply.get(1) {
            let key = self.room_key(victim, "meta");
            let forgot: i64 =
                self.run(|conn, scripts| scripts.run(Op::Forget, &key, &[victim], conn))?;
            if forgot == 0 {
                // Someone joined it in between: it is held after all.
                let _ = self.index(&["tell", victim, "0", "0"]);
            }
        }
        Ok(true)
    }

    /// What the command path wrote or heard: the seqs the next join must
    /// pass, and the rooms that became empty or stopped being empty, told
    /// to the rooms index. A failed tell leaves the index behind until the
    /// room's next change (or its eviction, which finds the members).
    pub(super) fn heard(&mut self, entries: &[Entry]) {
        if let Some(top) = entries.iter().map(|e| e.seq).max() {
            self.shared.high_water.fetch_max(top, Ordering::SeqCst);
        }
        for entry in entries {
            let empty = match &entry.event {
                Event::Left { count: 0, .. } => "1",
                Event::Joined { count: 1, .. } => "0",
                _ => continue,
            };
            let seq = entry.seq.to_string();
            let _ = self.index(&["tell", entry.room.as_str(), empty, &seq]);
        }
    }
}
