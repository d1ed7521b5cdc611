-- ARGV: room, token, nick, nick key.
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
