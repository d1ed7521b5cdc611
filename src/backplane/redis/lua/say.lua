-- ARGV: room, token, `1` when there is a ref, the ref, the Message event's
-- JSON without `message`, the message's JSON without `id` and `nick`.
-- Answers {'dup', id} for a ref still in the history.
local room, token = ARGV[5], ARGV[6]
local raw = redis.call('HGET', rk(room, 'members'), token)
if not raw then return {'not_joined', ''} end
local refs, msgs = rk(room, 'refs'), rk(room, 'msgs')
local refkey = false
if ARGV[7] == '1' then
  refkey = token .. '\31' .. ARGV[8]
  local id = redis.call('HGET', refs, refkey)
  if id then return {'dup', id} end
end
local id = redis.call('HINCRBY', rk(room, 'meta'), 'last_id', 1)
local message = string.sub(ARGV[10], 1, -2) .. ',"id":' .. int(id) .. ',"nick":'
  .. str(cjson.decode(raw).nick) .. '}'
local kept = '{"m":' .. message
if refkey then
  kept = kept .. ',"r":' .. str(refkey)
  redis.call('HSET', refs, refkey, int(id))
end
redis.call('RPUSH', msgs, kept .. '}')
while redis.call('LLEN', msgs) > HISTORY do
  local old = cjson.decode(redis.call('LPOP', msgs))
  if old.r then redis.call('HDEL', refs, old.r) end
end
append(room, string.sub(ARGV[9], 1, -2) .. ',"message":' .. message .. '}')
return finish()
