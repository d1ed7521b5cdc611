-- What every script starts with: the common arguments and helpers.
-- ARGV[1] prefix, [2] history size, [3] log cap, [4] empty-room TTL (ms);
-- each script's own arguments start at ARGV[5].
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
-- The rooms held are those with members (set `P rooms`) and the empty ones
-- not yet forgotten (sorted set `P idle`, by when they were last active).
local function settle(room)
  local empty = redis.call('HLEN', rk(room, 'members')) == 0
  if empty then
    redis.call('SREM', P .. 'rooms', room)
    redis.call('ZADD', P .. 'idle', now_ms(), room)
  else
    redis.call('SADD', P .. 'rooms', room)
    redis.call('ZREM', P .. 'idle', room)
  end
  for _, part in ipairs({'meta', 'log', 'msgs', 'refs'}) do
    if empty then
      redis.call('PEXPIRE', rk(room, part), IDLE_MS)
    else
      redis.call('PERSIST', rk(room, part))
    end
  end
end

-- Makes space for `room` among at most `max_rooms` rooms held, as
-- MemoryBackplane::room_mut does: a room already held needs none; else, at
-- the bound, the empty room idle longest is forgotten (its keys deleted).
-- Answers false when every room held has members.
local function make_room(room, max_rooms)
  local rooms, idle = P .. 'rooms', P .. 'idle'
  if redis.call('SISMEMBER', rooms, room) == 1 or redis.call('ZSCORE', idle, room) then
    return true
  end
  -- Rooms whose keys expired on their own are no longer held.
  redis.call('ZREMRANGEBYSCORE', idle, '-inf', now_ms() - tonumber(IDLE_MS))
  if redis.call('SCARD', rooms) + redis.call('ZCARD', idle) < max_rooms then
    return true
  end
  local oldest = redis.call('ZRANGE', idle, 0, 0)[1]
  if not oldest then return false end
  redis.call('ZREM', idle, oldest)
  for _, part in ipairs({'meta', 'log', 'msgs', 'refs', 'members', 'nicks'}) do
    redis.call('DEL', rk(oldest, part))
  end
  return true
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
