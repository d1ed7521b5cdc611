-- ARGV: room, new epoch, max rooms. Answers {epoch, last_seq, last_id,
-- members as HGETALL, history oldest first}.
local room = ARGV[5]
local meta = rk(room, 'meta')
-- No space for a new room: an empty epoch, which no room has, says so
-- (too_many_rooms), and nothing is stored.
if not make_room(room, tonumber(ARGV[7])) then
  return {'', '0', '0', {}, {}}
end
redis.call('HSETNX', meta, 'epoch', ARGV[6])
settle(room)
local m = redis.call('HMGET', meta, 'epoch', 'last_seq', 'last_id')
return {m[1], m[2] or '0', m[3] or '0', redis.call('HGETALL', rk(room, 'members')),
  redis.call('LRANGE', rk(room, 'msgs'), 0, -1)}
