-- The rooms index, for --max-rooms: one hash slot `{rooms}` holding
-- P{rooms}:held (set of the rooms with members), P{rooms}:idle (sorted set
-- of the empty rooms held, by when last active) and P{rooms}:at (hash
-- room -> seq of the room's entry last told, so a late tell is ignored).
-- Room scripts cannot touch it (another slot): redis.rs tells it after.
-- ARGV: what, then what's arguments:
--   admit, room, max rooms: {'ok'} when the room is held or fits,
--     {'ok', victim} when the empty room idle longest was taken out of the
--     index to make way (its keys are forget.lua's), {'full'} when every
--     room held has members. A room admitted counts as idle until told.
--   tell, room, '1' when empty, seq: the room's state after that entry;
--     {'late'} (and nothing changed) when a later entry was told.
local held, idle, at = P .. '{rooms}:held', P .. '{rooms}:idle', P .. '{rooms}:at'
local what = ARGV[5]
local room = ARGV[6]
if what == 'admit' then
  if redis.call('SISMEMBER', held, room) == 1 then return {'ok'} end
  if redis.call('ZSCORE', idle, room) then
    redis.call('ZADD', idle, now_ms(), room)
    return {'ok'}
  end
  -- Rooms whose keys expired on their own are no longer held.
  local cutoff = now_ms() - tonumber(IDLE_MS)
  for _, gone in ipairs(redis.call('ZRANGEBYSCORE', idle, '-inf', cutoff)) do
    redis.call('HDEL', at, gone)
  end
  redis.call('ZREMRANGEBYSCORE', idle, '-inf', cutoff)
  if redis.call('SCARD', held) + redis.call('ZCARD', idle) < tonumber(ARGV[7]) then
    redis.call('ZADD', idle, now_ms(), room)
    return {'ok'}
  end
  local oldest = redis.call('ZRANGE', idle, 0, 0)[1]
  if not oldest then return {'full'} end
  redis.call('ZREM', idle, oldest)
  redis.call('HDEL', at, oldest)
  redis.call('ZADD', idle, now_ms(), room)
  return {'ok', oldest}
elseif what == 'tell' then
  local seq = tonumber(ARGV[8])
  local told = tonumber(redis.call('HGET', at, room) or '-1')
  if told > seq then return {'late'} end
  redis.call('HSET', at, room, ARGV[8])
  if ARGV[7] == '1' then
    redis.call('SREM', held, room)
    redis.call('ZADD', idle, now_ms(), room)
  else
    redis.call('SADD', held, room)
    redis.call('ZREM', idle, room)
  end
  return {'ok'}
end
return redis.error_reply('unknown index call ' .. tostring(what))
