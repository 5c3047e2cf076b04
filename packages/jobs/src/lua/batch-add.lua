--[[
  Records jobs as members of a batch before they are added to the queue, so that a job finishing at
  once still finds itself pending. Idempotent: a job already a member is left as it is (a resumed run
  adds nothing twice).

  KEYS[1]  the batch's hash         ({prefix}:batch:<id>)
  KEYS[2]  the member set           ({prefix}:batch:<id>:jobs)
  KEYS[3]  the pending set          ({prefix}:batch:<id>:pending)
  KEYS[4]  the skipped hash         ({prefix}:batch:<id>:skipped)  jobId -> why it was not awaited

  ARGV[1]  time to live of the batch's keys (ms)
  ARGV[2]  how many pending job ids follow (n)
  ARGV[3 .. 2+n]            job ids the batch awaits (new to the queue)
  ARGV[3+n ..]              pairs of (job id, reason) for jobs the batch does not await because they
                            already exist in the queue: "done", "failed" or "inFlight" (elsewhere)

  Returns { awaited, skipped }: how many job ids this call newly made members, and newly skipped.
  Counters in KEYS[1]: total (members), skipped:<reason>.

  A batch that gains awaited jobs after it closed (a bulk run again over a prefix that grew) opens
  again: sealedAt and closedAt are cleared, its producer seals it once more, and its next close is
  announced as a new completion (the event id includes closedAt).
]]
local ttl = ARGV[1]
local n = tonumber(ARGV[2])
local awaited = 0
for i = 3, 2 + n do
  if redis.call("SADD", KEYS[2], ARGV[i]) == 1 then
    redis.call("SADD", KEYS[3], ARGV[i])
    awaited = awaited + 1
  end
end
if awaited > 0 then
  redis.call("HINCRBY", KEYS[1], "total", awaited)
  redis.call("HDEL", KEYS[1], "sealedAt", "closedAt")
end
local skipped = 0
for i = 3 + n, #ARGV, 2 do
  local jobId, reason = ARGV[i], ARGV[i + 1]
  if redis.call("SISMEMBER", KEYS[2], jobId) == 0 and redis.call("HSETNX", KEYS[4], jobId, reason) == 1 then
    redis.call("HINCRBY", KEYS[1], "skipped:" .. reason, 1)
    skipped = skipped + 1
  end
end
for i = 1, 4 do redis.call("PEXPIRE", KEYS[i], ttl) end
return { awaited, skipped }
