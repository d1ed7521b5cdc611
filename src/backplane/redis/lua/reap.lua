-- ARGV: most leases to take.
local leases = P .. 'leases'
local due = redis.call('ZRANGEBYSCORE', leases, '-inf', int(now_ms()), 'LIMIT', 0, ARGV[5])
for _, token in ipairs(due) do
  redis.call('ZREM', leases, token)
  local room = redis.call('HGET', P .. 'place', token)
  if room then leave_room(room, token, 'expired') end
end
return finish()
