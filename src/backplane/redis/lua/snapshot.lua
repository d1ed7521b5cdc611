-- ARGV: room, new epoch. Answers {epoch, last_seq, last_id, members as
-- HGETALL, history oldest first}. Whether the room may be held at all
-- (--max-rooms) was asked of the rooms index first (index.lua).
local room = ARGV[5]
local meta = rk(room, 'meta')
redis.call('HSETNX', meta, 'epoch', ARGV[6])
settle(room)
local m = redis.call('HMGET', meta, 'epoch', 'last_seq', 'last_id')
return {m[1], m[2] or '0', m[3] or '0', redis.call('HGETALL', rk(room, 'members')),
  redis.call('LRANGE', rk(room, 'msgs'), 0, -1)}
