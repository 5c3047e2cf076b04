--[[
  Where each of a list of jobs is, in one round trip: enqueueing reads this before adding a chunk, to
  add only what is missing and to tell a batch why it skips the rest.

  KEYS[1]  the queue's completed set   ({prefix}:<queue>:completed)
  KEYS[2]  the queue's failed set      ({prefix}:<queue>:failed)

  ARGV[1]      the queue's key prefix  ({prefix}:<queue>:); a job's hash is ARGV[1] .. jobId, built
               here as BullMQ's own scripts do (the braced prefix keeps it in KEYS' Cluster slot)
  ARGV[2 ..]   job ids

  Returns one code per job id: 0 not in the queue, 1 in flight (waiting, delayed, active),
  2 completed, 3 failed.
]]
local states = {}
for i = 2, #ARGV do
  local jobId = ARGV[i]
  if redis.call("EXISTS", ARGV[1] .. jobId) == 0 then
    states[i - 1] = 0
  elseif redis.call("ZSCORE", KEYS[1], jobId) then
    states[i - 1] = 2
  elseif redis.call("ZSCORE", KEYS[2], jobId) then
    states[i - 1] = 3
  else
    states[i - 1] = 1
  end
end
return states
