-- ARGV: room. Deletes an empty room's keys, as the rooms index chose it
-- to make way for a new room; answers 1, or 0 (and keeps everything) when
-- members joined it meanwhile.
local room = ARGV[5]
if redis.call('HLEN', rk(room, 'members')) > 0 then return 0 end
for _, part in ipairs({'meta', 'log', 'msgs', 'refs', 'members', 'nicks'}) do
  redis.call('DEL', rk(room, part))
end
return 1
