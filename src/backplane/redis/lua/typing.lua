-- ARGV: room, token, `true` or `false`.
local room, token = ARGV[5], ARGV[6]
local raw = redis.call('HGET', rk(room, 'members'), token)
if not raw then return finish() end
local on = 'false'
if ARGV[7] == 'true' then on = 'true' end
append(room, '{"e":"typing","token":' .. str(token) .. ',"nick":' .. str(cjson.decode(raw).nick)
  .. ',"on":' .. on .. '}')
return finish()
