--[[
  Gives up a leader lease, if this process still holds it.

  KEYS[1]  the lock key
  ARGV[1]  this process's token

  Returns 1 when the lock was released, 0 when another process holds it (or nobody).
]]
if redis.call("GET", KEYS[1]) == ARGV[1] then
  return redis.call("DEL", KEYS[1])
end
return 0
