--[[
  Seals a batch: its producer has added every job it will add. A sealed batch closes when its last
  pending job ends (batch-record-end.lua), or here when none is pending any more.

  KEYS[1]  the batch's hash         ({prefix}:batch:<id>)
  KEYS[2]  the pending set          ({prefix}:batch:<id>:pending)
  KEYS[3]  the admission record      ({prefix}:batch:<id>:admission), read for an admitter's seal

  ARGV[1]  now (epoch ms)
  ARGV[2]  an admitter's seal: the stream id it wholly admitted; "" for a producer's seal

  Returns 2 when the batch is closed (now or before: the caller announces, idempotently), 1 when it
  is sealed and jobs are pending, 0 when nothing was done because the admission record names another
  stream or one not wholly admitted: a run started again registered its jobs after the admitter read
  the record, and sealing now would close the batch before they are admitted.
]]
if ARGV[2] ~= "" then
  local record = redis.call("HMGET", KEYS[3], "streamId", "position", "jobs")
  if record[1] ~= false and (record[1] ~= ARGV[2] or record[2] ~= record[3]) then
    return 0
  end
end
redis.call("HSETNX", KEYS[1], "sealedAt", ARGV[1])
if redis.call("SCARD", KEYS[2]) == 0 then
  redis.call("HSETNX", KEYS[1], "closedAt", ARGV[1])
  return 2
end
return 1
