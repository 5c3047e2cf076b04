--[[
  Records how one job of a batch ended, once, and closes the batch when it was the last one.

  KEYS[1]  the batch's hash         ({prefix}:batch:<id>)
  KEYS[2]  the pending set          ({prefix}:batch:<id>:pending)
  KEYS[3]  the results hash         ({prefix}:batch:<id>:results)   jobId -> result (JSON)
  KEYS[4]  the failures hash        ({prefix}:batch:<id>:failures)  reason code -> count

  ARGV[1]  job id
  ARGV[2]  "completed" or "failed"
  ARGV[3]  cost in micro-dollars (integer)
  ARGV[4]  reason code of a failure ("" when completed)
  ARGV[5]  the result (JSON) kept for the batch's report
  ARGV[6]  now (epoch ms)
  ARGV[7]  time to live of the batch's keys (ms)

  Returns
    0  ignored: the job is not pending in this batch (not a member, or its end was recorded before
       while the batch is still open)
    1  recorded
    2  the batch is closed and this job's end is in it: recorded now as the last one, or recorded
       before (a retried finalize). The caller announces the batch's completion; announcing is
       idempotent, so a crash between closing and announcing is repaired by the retry.
]]
if redis.call("SREM", KEYS[2], ARGV[1]) == 0 then
  if redis.call("HEXISTS", KEYS[3], ARGV[1]) == 1 and redis.call("HEXISTS", KEYS[1], "closedAt") == 1 then
    return 2
  end
  return 0
end
redis.call("HINCRBY", KEYS[1], ARGV[2], 1)
redis.call("HINCRBY", KEYS[1], "costMicroUsd", ARGV[3])
redis.call("HSET", KEYS[3], ARGV[1], ARGV[5])
if ARGV[2] == "failed" then redis.call("HINCRBY", KEYS[4], ARGV[4], 1) end
for i = 1, 4 do redis.call("PEXPIRE", KEYS[i], ARGV[7]) end
if redis.call("SCARD", KEYS[2]) == 0 and redis.call("HEXISTS", KEYS[1], "sealedAt") == 1 then
  redis.call("HSETNX", KEYS[1], "closedAt", ARGV[6])
  return 2
end
return 1
