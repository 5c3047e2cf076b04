--[[
  Takes or keeps a leader lease (the reconciler's, a batch's admitter).

  KEYS[1]  the lock key
  ARGV[1]  this process's token (random per process)
  ARGV[2]  time to live in milliseconds

  Returns 1 when this process holds the lock afterwards (newly taken or renewed), 0 when another
  process holds it. A process that died stops renewing; its lock expires after the TTL and the next
  caller takes it.
]]
local holder = redis.call("GET", KEYS[1])
if holder == false then
  redis.call("SET", KEYS[1], ARGV[1], "PX", ARGV[2])
  return 1
end
if holder == ARGV[1] then
  redis.call("PEXPIRE", KEYS[1], ARGV[2])
  return 1
end
return 0
