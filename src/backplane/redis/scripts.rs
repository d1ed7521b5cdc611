//! The Lua scripts of the Redis backplane. Each decision (join, leave,
//! rename, typing, say, reap, renew, snapshot) is one script, and Redis runs
//! a script as one step, so every instance sharing the Redis sees the same
//! decisions in the same order. This module owns the key layout and the
//! JSON the scripts write; `redis.rs` owns the connection and turns replies
//! into backplane types. It must not hold connection logic.
//!
//! Keys, under the configured prefix `P`:
//! - `P seq`: the cluster-wide entry counter (INCR);
//! - `P room:R:meta` (hash: `epoch`, `last_id`, `last_seq`, `joins`),
//!   `:members` (hash token → `{"nick","key","order"}`), `:nicks` (hash
//!   key → token), `:log` (stream, entry id `<seq>-0`, fields `prev`, `ev`),
//!   `:msgs` (list of `{"m": message, "r": ref key}`, the history) and
//!   `:refs` (hash `token \x1f ref` → message id, an entry deleted when its
//!   message leaves `:msgs`, as `History` does in memory);
//! - `P place` (hash token → room), `P leases` (sorted set token → expiry
//!   in ms of the Redis clock), `P poll:ID` (string → token, with a TTL);
//! - channel `P ev`: every script that logs publishes its entries there, as
//!   one JSON array of `{"room","seq","prev","ev"}`, and returns the same.
//!
//! Scripts build the `ev` JSON as strings: the parts Rust knows (tokens,
//! origins, cursors, timestamps) arrive as JSON serialised by serde and are
//! spliced in, so Lua never turns a large number into a float; numbers Lua
//! decides (counts, ids, seqs) are written with `%d`. An empty room's keys
//! expire after a while, as the in-memory backplane evicts idle rooms.
//! Keys are built inside the scripts, so this needs one Redis primary (or a
//! cluster with a hash-tagged prefix such as `{parley}:`).

use redis::{Connection, FromRedisValue, RedisResult, Script};

/// What every script starts with: the common arguments and helpers.
/// ARGV[1] prefix, [2] history size, [3] log cap, [4] empty-room TTL (ms);
/// each script's own arguments start at ARGV[5].
const COMMON: &str = r#"
if redis.replicate_commands then redis.replicate_commands() end
local P = ARGV[1]
local HISTORY = tonumber(ARGV[2])
local LOG_CAP = ARGV[3]
local IDLE_MS = ARGV[4]
local entries = {}

local function int(n) return string.format('%d', n) end
local function str(s) return cjson.encode(s) end
local function rk(room, part) return P .. 'room:' .. room .. ':' .. part end
local function now_ms()
  local t = redis.call('TIME')
  return tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
end
local function member_json(nick, key, order)
  return '{"nick":' .. str(nick) .. ',"key":' .. str(key) .. ',"order":' .. int(order) .. '}'
end
local function left_json(token, nick, count, why)
  return '{"e":"left","token":' .. str(token) .. ',"nick":' .. str(nick)
    .. ',"count":' .. int(count) .. ',"why":' .. str(why) .. '}'
end

-- Logs `ev` (the JSON of an Event) as the room's next entry.
local function append(room, ev)
  local seq = redis.call('INCR', P .. 'seq')
  local meta = rk(room, 'meta')
  local prev = tonumber(redis.call('HGET', meta, 'last_seq') or '0')
  redis.call('HSET', meta, 'last_seq', int(seq))
  redis.call('XADD', rk(room, 'log'), 'MAXLEN', '~', LOG_CAP, int(seq) .. '-0',
    'prev', int(prev), 'ev', ev)
  entries[#entries + 1] = '{"room":' .. str(room) .. ',"seq":' .. int(seq)
    .. ',"prev":' .. int(prev) .. ',"ev":' .. ev .. '}'
end

-- Publishes what this script logged and answers {'ok', entries}.
local function finish()
  if #entries == 0 then return {'ok', '[]'} end
  local batch = '[' .. table.concat(entries, ',') .. ']'
  redis.call('PUBLISH', P .. 'ev', batch)
  return {'ok', batch}
end

-- An empty room's keys expire after IDLE_MS; a room with members keeps them.
local function settle(room)
  local empty = redis.call('HLEN', rk(room, 'members')) == 0
  for _, part in ipairs({'meta', 'log', 'msgs', 'refs'}) do
    if empty then
      redis.call('PEXPIRE', rk(room, part), IDLE_MS)
    else
      redis.call('PERSIST', rk(room, part))
    end
  end
end

-- Takes a member out of a room, as MemoryBackplane::leave does.
local function leave_room(room, token, why)
  local members = rk(room, 'members')
  local raw = redis.call('HGET', members, token)
  if not raw then return end
  local m = cjson.decode(raw)
  redis.call('HDEL', members, token)
  redis.call('HDEL', rk(room, 'nicks'), m.key)
  if redis.call('HGET', P .. 'place', token) == room then
    redis.call('HDEL', P .. 'place', token)
    if why ~= 'moved' then redis.call('ZREM', P .. 'leases', token) end
  end
  append(room, left_json(token, m.nick, redis.call('HLEN', members), why))
  settle(room)
end
"#;

/// ARGV: room, token, nick, nick key, max members, new epoch, the Joined
/// event's JSON without `count` and `resumed`.
const JOIN: &str = r#"
local room, token, nick, key = ARGV[5], ARGV[6], ARGV[7], ARGV[8]
local members, nicks, meta = rk(room, 'members'), rk(room, 'nicks'), rk(room, 'meta')
redis.call('HSETNX', meta, 'epoch', ARGV[10])
local holder = redis.call('HGET', nicks, key)
local mine = redis.call('HEXISTS', members, token) == 1
local resumed = false
if holder then
  if holder == token and mine then
    resumed = true
  else
    return {'nick_taken', ''}
  end
elseif not mine and redis.call('HLEN', members) >= tonumber(ARGV[9]) then
  settle(room)
  return {'room_full', ''}
end
-- Moving from another room leaves it in the same step.
local before = redis.call('HGET', P .. 'place', token)
if before and before ~= room then leave_room(before, token, 'moved') end
if not resumed then
  -- Here under another nickname: that one goes first.
  local old = redis.call('HGET', members, token)
  if old then
    old = cjson.decode(old)
    redis.call('HDEL', members, token)
    redis.call('HDEL', nicks, old.key)
    append(room, left_json(token, old.nick, redis.call('HLEN', members), 'moved'))
  end
  local order = redis.call('HINCRBY', meta, 'joins', 1)
  redis.call('HSET', nicks, key, token)
  redis.call('HSET', members, token, member_json(nick, key, order))
end
redis.call('HSET', P .. 'place', token, room)
redis.call('ZADD', P .. 'leases', int(now_ms() + tonumber(ARGV[12])), token)
append(room, string.sub(ARGV[11], 1, -2) .. ',"count":' .. int(redis.call('HLEN', members))
  .. ',"resumed":' .. tostring(resumed) .. '}')
settle(room)
return finish()
"#;

/// ARGV: room, token, why (LeftWhy's serde name).
const LEAVE: &str = r#"
leave_room(ARGV[5], ARGV[6], ARGV[7])
return finish()
"#;

/// ARGV: room, token, nick, nick key.
const RENAME: &str = r#"
local room, token, nick, key = ARGV[5], ARGV[6], ARGV[7], ARGV[8]
local members, nicks = rk(room, 'members'), rk(room, 'nicks')
local holder = redis.call('HGET', nicks, key)
if holder and holder ~= token then return {'nick_taken', ''} end
local raw = redis.call('HGET', members, token)
if not raw then return finish() end
local m = cjson.decode(raw)
if m.nick == nick then return finish() end
redis.call('HDEL', nicks, m.key)
redis.call('HSET', nicks, key, token)
redis.call('HSET', members, token, member_json(nick, key, m.order))
append(room, '{"e":"renamed","token":' .. str(token) .. ',"old":' .. str(m.nick)
  .. ',"new":' .. str(nick) .. '}')
return finish()
"#;

/// ARGV: room, token, `true` or `false`.
const TYPING: &str = r#"
local room, token = ARGV[5], ARGV[6]
local raw = redis.call('HGET', rk(room, 'members'), token)
if not raw then return finish() end
local on = 'false'
if ARGV[7] == 'true' then on = 'true' end
append(room, '{"e":"typing","token":' .. str(token) .. ',"nick":' .. str(cjson.decode(raw).nick)
  .. ',"on":' .. on .. '}')
return finish()
"#;

/// ARGV: room, token, `1` when there is a ref, the ref, the Message event's
/// JSON without `message`, the message's JSON without `id` and `nick`.
/// Answers {'dup', id} for a ref still in the history.
const SAY: &str = r#"
local room, token = ARGV[5], ARGV[6]
local raw = redis.call('HGET', rk(room, 'members'), token)
if not raw then return {'not_joined', ''} end
local refs, msgs = rk(room, 'refs'), rk(room, 'msgs')
local refkey = false
if ARGV[7] == '1' then
  refkey = token .. '\31' .. ARGV[8]
  local id = redis.call('HGET', refs, refkey)
  if id then return {'dup', id} end
end
local id = redis.call('HINCRBY', rk(room, 'meta'), 'last_id', 1)
local message = string.sub(ARGV[10], 1, -2) .. ',"id":' .. int(id) .. ',"nick":'
  .. str(cjson.decode(raw).nick) .. '}'
local kept = '{"m":' .. message
if refkey then
  kept = kept .. ',"r":' .. str(refkey)
  redis.call('HSET', refs, refkey, int(id))
end
redis.call('RPUSH', msgs, kept .. '}')
while redis.call('LLEN', msgs) > HISTORY do
  local old = cjson.decode(redis.call('LPOP', msgs))
  if old.r then redis.call('HDEL', refs, old.r) end
end
append(room, string.sub(ARGV[9], 1, -2) .. ',"message":' .. message .. '}')
return finish()
"#;

/// ARGV: room, new epoch. Answers {epoch, last_seq, last_id, members as
/// HGETALL, history oldest first}.
const SNAPSHOT: &str = r#"
local room = ARGV[5]
local meta = rk(room, 'meta')
redis.call('HSETNX', meta, 'epoch', ARGV[6])
settle(room)
local m = redis.call('HMGET', meta, 'epoch', 'last_seq', 'last_id')
return {m[1], m[2] or '0', m[3] or '0', redis.call('HGETALL', rk(room, 'members')),
  redis.call('LRANGE', rk(room, 'msgs'), 0, -1)}
"#;

/// ARGV: TTL in ms, then the tokens.
const RENEW: &str = r#"
local expiry = int(now_ms() + tonumber(ARGV[5]))
for i = 6, #ARGV do redis.call('ZADD', P .. 'leases', expiry, ARGV[i]) end
return 1
"#;

/// ARGV: most leases to take.
const REAP: &str = r#"
local leases = P .. 'leases'
local due = redis.call('ZRANGEBYSCORE', leases, '-inf', int(now_ms()), 'LIMIT', 0, ARGV[5])
for _, token in ipairs(due) do
  redis.call('ZREM', leases, token)
  local room = redis.call('HGET', P .. 'place', token)
  if room then leave_room(room, token, 'expired') end
end
return finish()
"#;

/// ARGV: polling session. Answers {} when unknown, else {token[, room]}.
const FIND_POLL: &str = r#"
local token = redis.call('GET', P .. 'poll:' .. ARGV[5])
if not token then return {} end
local room = redis.call('HGET', P .. 'place', token)
if room then return {token, room} end
return {token}
"#;

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
}

impl Op {
    const ALL: [Op; 9] = [
        Op::Join,
        Op::Leave,
        Op::Rename,
        Op::Typing,
        Op::Say,
        Op::Snapshot,
        Op::Renew,
        Op::Reap,
        Op::FindPoll,
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
        }
    }
}

/// The scripts, with the arguments every call passes first.
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
    pub(super) fn load(&self, conn: &mut Connection) -> RedisResult<()> {
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
