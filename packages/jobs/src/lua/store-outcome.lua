--[[
  Stores the outcome of one provider task, first one wins, and tells the caller which job to wake.

  KEYS[1]  the task's hash       ({prefix}:task:<taskUUID>)
  KEYS[2]  the pending set       ({prefix}:tasks:pending)

  ARGV[1]  taskUUID
  ARGV[2]  the outcome record (JSON)
  ARGV[3]  time to live (ms) for a task nobody registered (a late webhook after `forget`, or an
           outcome that arrived for a task this store never saw), so such records cannot pile up

  Returns { stored, jobId }:
    stored  1 when this call stored the outcome, 0 when an outcome was already there (a duplicate
            webhook, or a poll that lost the race): the existing outcome is kept unchanged
    jobId   the job the task belongs to, or false (nil) when the task was never registered

  Either way the task leaves the pending set: it has an outcome, so the reconciler stops polling it.
]]
local existed = redis.call("EXISTS", KEYS[1])
local stored = redis.call("HSETNX", KEYS[1], "outcome", ARGV[2])
if existed == 0 then
  redis.call("PEXPIRE", KEYS[1], ARGV[3])
end
redis.call("ZREM", KEYS[2], ARGV[1])
local jobId = redis.call("HGET", KEYS[1], "jobId")
return { stored, jobId }
