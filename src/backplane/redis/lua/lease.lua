-- Lease buckets: a token's place (the rooms it may be in) and lease live
-- in bucket `{L:k}` (k from the token, redis.rs's `bucket`), keys
-- P{L:k}:place (hash token -> rooms, '\n'-separated) and P{L:k}:leases
-- (sorted set token -> expiry, ms of this node's clock).
-- ARGV: bucket, what, then what's arguments:
--   hold, token, rooms, lease ms: the token is in (or moving between)
--     these rooms, leased from now; no rooms forgets its place and lease.
--   release, token, room, keep lease ('1' when moved): the token left room.
--   renew, ttl ms, tokens...: extends leases.
--   due, most: {token, expiry, rooms, ...} of lapsed leases, oldest
--     first. Only reads.
--   reaped, token: the lapsed lease is over, unless renewed meanwhile.
local place, leases = P .. '{L:' .. ARGV[5] .. '}:place', P .. '{L:' .. ARGV[5] .. '}:leases'
local what = ARGV[6]
if what == 'hold' then
  local token, rooms = ARGV[7], ARGV[8]
  if rooms == '' then
    redis.call('HDEL', place, token)
    redis.call('ZREM', leases, token)
  else
    redis.call('HSET', place, token, rooms)
    redis.call('ZADD', leases, int(now_ms() + tonumber(ARGV[9])), token)
  end
  return 1
elseif what == 'release' then
  local token, room = ARGV[7], ARGV[8]
  local rooms = redis.call('HGET', place, token)
  if not rooms then return 0 end
  local kept = {}
  for r in string.gmatch(rooms, '[^\n]+') do
    if r ~= room then kept[#kept + 1] = r end
  end
  if #kept == 0 then
    redis.call('HDEL', place, token)
    if ARGV[9] ~= '1' then redis.call('ZREM', leases, token) end
  else
    redis.call('HSET', place, token, table.concat(kept, '\n'))
  end
  return 1
elseif what == 'renew' then
  local expiry = int(now_ms() + tonumber(ARGV[7]))
  for i = 8, #ARGV do redis.call('ZADD', leases, expiry, ARGV[i]) end
  return 1
elseif what == 'due' then
  local due = redis.call('ZRANGEBYSCORE', leases, '-inf', int(now_ms()),
    'WITHSCORES', 'LIMIT', 0, ARGV[7])
  local out = {}
  for i = 1, #due, 2 do
    out[#out + 1] = due[i]
    out[#out + 1] = due[i + 1]
    out[#out + 1] = redis.call('HGET', place, due[i]) or ''
  end
  return out
elseif what == 'reaped' then
  local token = ARGV[7]
  local expiry = redis.call('ZSCORE', leases, token)
  if expiry and tonumber(expiry) > now_ms() then return 0 end
  redis.call('ZREM', leases, token)
  redis.call('HDEL', place, token)
  return 1
end
return redis.error_reply('unknown lease call ' .. tostring(what))
