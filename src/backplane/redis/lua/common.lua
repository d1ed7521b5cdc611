-- What every script starts with: the common arguments and helpers.
-- KEYS[1] is a key of the one hash slot the script touches (a room's, a
-- lease bucket's or the rooms index's), named so that a cluster routes the
-- script there; the script builds its other keys with the same hash tag.
-- ARGV[1] prefix, [2] history size, [3] log cap, [4] empty-room TTL (ms);
-- each script's own arguments start at ARGV[5].
if redis.replicate_commands then redis.replicate_commands() end
local P = ARGV[1]
local HISTORY = tonumber(ARGV[2])
local LOG_CAP = ARGV[3]
local IDLE_MS = ARGV[4]
local entries = {}
-- The seq a room's next entry must pass, besides its own last one: set by
-- join.lua from what the instance has heard, so that a member's entries
-- keep increasing when it moves between rooms.
local FLOOR = 0

local function int(n) return string.format('%d', n) end
local function str(s) return cjson.encode(s) end
-- A room's keys share the hash tag {room}: one slot per room.
local function rk(room, part) return P .. '{' .. room .. '}:' .. part end
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

-- Logs `ev` (the JSON of an Event) as the room's next entry. Seqs count
-- per room (there is no cluster-wide counter), so `prev` is the room's
-- previous seq and a seq is above it and above FLOOR.
local function append(room, ev)
  local meta = rk(room, 'meta')
  local prev = tonumber(redis.call('HGET', meta, 'last_seq') or '0')
  local seq = math.max(prev, FLOOR) + 1
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

-- An empty room's keys expire after IDLE_MS; a room with members keeps
-- them. (Which rooms are held, for --max-rooms, is the rooms index's:
-- index.lua, told by the client after the room's script.)
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

-- Takes a member out of a room, as MemoryBackplane::leave does. The
-- token's place and lease are its lease bucket's (lease.lua).
local function leave_room(room, token, why)
  local members = rk(room, 'members')
  local raw = redis.call('HGET', members, token)
  if not raw then return end
  local m = cjson.decode(raw)
  redis.call('HDEL', members, token)
  redis.call('HDEL', rk(room, 'nicks'), m.key)
  append(room, left_json(token, m.nick, redis.call('HLEN', members), why))
  settle(room)
end
