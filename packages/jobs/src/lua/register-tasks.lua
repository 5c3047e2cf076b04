--[[
  Registers provider tasks of one parked job before their submit goes out (park first, then POST).

  KEYS[1]      the pending set ({prefix}:tasks:pending)
  KEYS[2..n+1] each task's hash ({prefix}:task:<taskUUID>), in the order of the ARGV groups

  ARGV, 5 per task, in KEYS order:
    taskUUID, jobId, registeredAt (epoch ms), nextCheckAt (epoch ms, the pending score),
    expireAt (epoch ms: the task's deadline plus the retention)

  Returns the number of tasks put in the pending set. A task submitted again under the same
  taskUUID forgets a provisional outcome (taskNotFound: the provider had not seen it, and is about
  to). A task that already has a final outcome (its answer was stored before this re-submit) is not
  made pending again: the reconciler would only poll it for nothing.
]]
local added = 0
for i = 2, #KEYS do
  local base = (i - 2) * 5
  local taskUUID = ARGV[base + 1]
  redis.call("HSET", KEYS[i], "jobId", ARGV[base + 2], "registeredAt", ARGV[base + 3])
  redis.call("PEXPIREAT", KEYS[i], ARGV[base + 5])
  if redis.call("HGET", KEYS[i], "provisional") == "1" then
    redis.call("HDEL", KEYS[i], "outcome", "provisional")
  end
  if redis.call("HEXISTS", KEYS[i], "outcome") == 0 then
    redis.call("ZADD", KEYS[1], ARGV[base + 4], taskUUID)
    added = added + 1
  end
end
return added
