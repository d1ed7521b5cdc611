-- ARGV: room, token, why (LeftWhy's serde name).
leave_room(ARGV[5], ARGV[6], ARGV[7])
return finish()
