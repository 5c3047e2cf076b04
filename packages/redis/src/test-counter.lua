--[[
  A test's script (redis-client.test.ts): counts calls and logs their argument.

  KEYS[1]  the counter
  KEYS[2]  the log (list)
  ARGV[1]  what to log

  Returns the counter after this call.
]]
redis.call("RPUSH", KEYS[2], ARGV[1])
return redis.call("INCR", KEYS[1])
