--[[
  Takes failed jobs of a batch back before they are retried, so that the batch awaits them again:
  their recorded failure is removed from the counts, the failures by reason, the cost and the
  report's results, and they are pending once more. A closed batch opens again (closedAt cleared;
  sealedAt stays, since its producer added everything): it closes, and is announced, anew when the
  retried jobs end. Idempotent: a job whose recorded end is not a failure, or that has none (taken
  back before), is left as it is.

  KEYS[1]  the batch's hash         ({prefix}:batch:<id>)
  KEYS[2]  the pending set          ({prefix}:batch:<id>:pending)
  KEYS[3]  the results hash         ({prefix}:batch:<id>:results)   jobId -> result (JSON)
  KEYS[4]  the failures hash        ({prefix}:batch:<id>:failures)  reason code -> count

  ARGV[1]  time to live of the batch's keys (ms)
  ARGV[2 ..] job ids

  Returns how many jobs were taken back.
]]
local taken = 0
for i = 2, #ARGV do
  local jobId = ARGV[i]
  local json = redis.call("HGET", KEYS[3], jobId)
  if json then
    local ended = cjson.decode(json)
    if ended.state == "failed" then
      redis.call("HDEL", KEYS[3], jobId)
      redis.call("HINCRBY", KEYS[1], "failed", -1)
      local cost = math.floor((tonumber(ended.costUsd) or 0) * 1000000 + 0.5)
      if cost ~= 0 then redis.call("HINCRBY", KEYS[1], "costMicroUsd", -cost) end
      local code = ended.reason and ended.reason.code or ""
      if redis.call("HINCRBY", KEYS[4], code, -1) <= 0 then redis.call("HDEL", KEYS[4], code) end
      redis.call("SADD", KEYS[2], jobId)
      taken = taken + 1
    end
  end
end
if taken > 0 then redis.call("HDEL", KEYS[1], "closedAt") end
for i = 1, 4 do
  if redis.call("EXISTS", KEYS[i]) == 1 then redis.call("PEXPIRE", KEYS[i], ARGV[1]) end
end
return taken
