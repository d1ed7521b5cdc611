-- ARGV: TTL in ms, then the tokens.
local expiry = int(now_ms() + tonumber(ARGV[5]))
for i = 6, #ARGV do redis.call('ZADD', P .. 'leases', expiry, ARGV[i]) end
return 1
