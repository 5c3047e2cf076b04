--[[
  Counts planned provider spend against the day's ceiling (SPEND_LIMIT_USD_PER_DAY), shared by
  every worker: all of a job's charges are counted, or none when they would pass the ceiling.

  KEYS[1]  the day's ledger ({prefix}:spend:day:<YYYY-MM-DD>), a hash: "total" -> micro-USD, and
           one field per charge already counted (a taskUUID) -> its micro-USD

  ARGV[1]  the ceiling, micro-USD
  ARGV[2]  how long the ledger is kept from now (ms)
  ARGV[3..] pairs: charge id (a taskUUID, one per generation of a variant), micro-USD

  Returns {1, total} when counted (or already counted: a retried submit counts once), {0, total}
  when the new charges would take the day's total past the ceiling (nothing is counted then).
]]
local total = tonumber(redis.call("HGET", KEYS[1], "total") or "0")
local added = 0
local fresh = {}
for i = 3, #ARGV, 2 do
  if redis.call("HEXISTS", KEYS[1], ARGV[i]) == 0 then
    added = added + tonumber(ARGV[i + 1])
    fresh[#fresh + 1] = i
  end
end
if #fresh == 0 then return {1, total} end
if total + added > tonumber(ARGV[1]) then return {0, total} end
for _, i in ipairs(fresh) do redis.call("HSET", KEYS[1], ARGV[i], ARGV[i + 1]) end
total = redis.call("HINCRBY", KEYS[1], "total", added)
redis.call("PEXPIRE", KEYS[1], ARGV[2])
return {1, total}
