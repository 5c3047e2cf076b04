--[[
  Seals a batch: its producer has added every job it will add. A sealed batch closes when its last
  pending job ends (batch-record-end.lua), or here when none is pending any more.

  KEYS[1]  the batch's hash         ({prefix}:batch:<id>)
  KEYS[2]  the pending set          ({prefix}:batch:<id>:pending)

  ARGV[1]  now (epoch ms)

  Returns 2 when the batch is closed (now or before: the caller announces, idempotently), else 1.
]]
redis.call("HSETNX", KEYS[1], "sealedAt", ARGV[1])
if redis.call("SCARD", KEYS[2]) == 0 then
  redis.call("HSETNX", KEYS[1], "closedAt", ARGV[1])
  return 2
end
return 1
