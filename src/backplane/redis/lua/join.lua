-- ARGV: room, token, nick, nick key, max members, new epoch, the Joined
-- event's JSON without `count` and `resumed`, floor (the seq this entry
-- must pass), `1` to check only. Only the room's keys: leaving the room
-- the token was in, its place and its lease are other scripts' (the
-- order is redis.rs's). With check only, answers what the join would
-- be refused for, or {'ok', ''}, and writes nothing.
local room, token, nick, key = ARGV[5], ARGV[6], ARGV[7], ARGV[8]
local members, nicks, meta = rk(room, 'members'), rk(room, 'nicks'), rk(room, 'meta')
local check = ARGV[13] == '1'
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
  return {'room_full', ''}
end
if check then return {'ok', ''} end
redis.call('HSETNX', meta, 'epoch', ARGV[10])
FLOOR = tonumber(ARGV[12])
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
append(room, string.sub(ARGV[11], 1, -2) .. ',"count":' .. int(redis.call('HLEN', members))
  .. ',"resumed":' .. tostring(resumed) .. '}')
settle(room)
return finish()
