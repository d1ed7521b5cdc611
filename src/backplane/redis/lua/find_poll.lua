-- ARGV: polling session. Answers {} when unknown, else {token[, room]}.
local token = redis.call('GET', P .. 'poll:' .. ARGV[5])
if not token then return {} end
local room = redis.call('HGET', P .. 'place', token)
if room then return {token, room} end
return {token}
