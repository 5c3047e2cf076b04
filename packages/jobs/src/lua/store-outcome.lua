--[[
  Stores the outcome of one provider task and tells the caller which job to wake. The first final
  outcome wins; a provisional one ("the provider does not know this task": taskNotFound) only holds
  until a final one arrives or the task is submitted again (register-tasks.lua clears it), because
  not-found can mean "not there yet" as well as "lost".

  KEYS[1]  the task's hash       ({prefix}:task:<taskUUID>)
  KEYS[2]  the pending set       ({prefix}:tasks:pending)

  ARGV[1]  taskUUID
  ARGV[2]  the outcome record (JSON)
  ARGV[3]  "1" when the outcome is provisional (kind "resubmit"), "0" when final

  Returns { stored, jobId }:
    stored  1 when this call stored the outcome; 0 when a final outcome was already there (a
            duplicate or replayed webhook, or a poll that lost the race), or a provisional one met
            another provisional one: the existing outcome is kept unchanged; 0 as well when the
            task is not registered (its job finished and forgot it, its record expired, or it
            never existed): nothing is written, so a delivery replayed after the end leaves no
            trace. Tasks are registered before their submit goes out, so a real first outcome
            always finds its task; a job that lost its registration still asks the provider
            itself when it wakes.
    jobId   the job the task belongs to, or false (nil) when the task is not registered

  Either way the task leaves the pending set: it has an outcome, so the reconciler stops polling it.
]]
redis.call("ZREM", KEYS[2], ARGV[1])
if redis.call("EXISTS", KEYS[1]) == 0 then
  return { 0, false }
end
local stored = 0
local current = redis.call("HGET", KEYS[1], "outcome")
if not current or (redis.call("HGET", KEYS[1], "provisional") == "1" and ARGV[3] == "0") then
  redis.call("HSET", KEYS[1], "outcome", ARGV[2], "provisional", ARGV[3])
  stored = 1
end
local jobId = redis.call("HGET", KEYS[1], "jobId")
return { stored, jobId }
