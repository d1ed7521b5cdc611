-- ARGV: room, token, nick, nick key, max members, new epoch, the Joined
-- event's JSON without `count` and `resumed`, lease ms, max rooms.
local room, token, nick, key = ARGV[5], ARGV[6], ARGV[7], ARGV[8]
local members, nicks, meta = rk(room, 'members'), rk(room, 'nicks'), rk(room, 'meta')
if not make_room(room, tonumber(ARGV[13])) then
  return {'too_many_rooms', ''}
end
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
