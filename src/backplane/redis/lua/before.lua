-- ARGV: room, before, limit. Answers {more, kept messages oldest first}:
-- the newest `limit` entries of `:msgs` whose id is below `before`, and
-- '1' when an older one is kept ('0' otherwise), as History::before does
-- in memory. Only reads.
local room = ARGV[5]
local msgs = rk(room, 'msgs')
local len = redis.call('LLEN', msgs)
local last = tonumber(redis.call('HGET', rk(room, 'meta'), 'last_id') or '0')
if len == 0 or last == 0 then return {'0', {}} end
-- say.lua keeps consecutive ids ending at last_id, so an id's index is
-- its distance from the oldest kept.
local first = last - len + 1
local stop = math.min(len, math.max(0, tonumber(ARGV[6]) - first))
local start = math.max(0, stop - tonumber(ARGV[7]))
local more = '0'
if start > 0 then more = '1' end
if stop <= start then return {more, {}} end
return {more, redis.call('LRANGE', msgs, int(start), int(stop - 1))}
