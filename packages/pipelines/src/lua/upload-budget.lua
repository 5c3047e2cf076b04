--[[
  A pipeline's upload budget: counts the planned cost of the jobs its triggers add over a rolling
  24 hours (and a rolling hour), and admits a job only while it fits under the ceilings. Atomic, so
  API replicas taking events at once cannot overspend together. Amounts are micro-USD.

  KEYS[1]  day window, zset: jobId -> when it was counted (epoch ms)
  KEYS[2]  hour window, zset: jobId -> when it was counted
  KEYS[3]  costs, hash: jobId -> micro-USD (while the job is in the day window)
  KEYS[4]  totals, hash: "day", "hour" -> micro-USD in each window
  KEYS[5]  refusals, zset: jobId -> when it was refused (the last 24 hours)
  KEYS[6]  refusal records, hash: jobId -> JSON (the newest ARGV[7] only)
  KEYS[7]  announced over the day ceiling (string, expires after a day)
  KEYS[8]  announced over the hour ceiling (string, expires after an hour)

  ARGV[1]  now (epoch ms)
  ARGV[2]  day window (ms)      ARGV[3]  hour window (ms)
  ARGV[4]  day ceiling          ARGV[5]  hour ceiling, or -1 for none
  ARGV[6]  how long idle keys are kept (ms)
  ARGV[7]  refusal records kept
  ARGV[8..] triples: jobId, micro-USD, refusal record (JSON object) should the job be refused

  A job already counted in the day window is admitted again without counting (a redelivered
  event). Otherwise it is admitted and counted when both windows stay within their ceilings, else
  refused and recorded. Returns {admitted ("1"/"0" per triple), day total, hour total, announce day
  (1 the first refusal of a day window), announce hour, refusals in the last 24 hours}.
]]
local now = tonumber(ARGV[1])
local dayMs, hourMs = tonumber(ARGV[2]), tonumber(ARGV[3])
local dayLimit, hourLimit = tonumber(ARGV[4]), tonumber(ARGV[5])
local keep, recordsKept = tonumber(ARGV[6]), tonumber(ARGV[7])

-- HDEL in slices: unpack() of a whole day's ids could pass Lua's stack limit.
local function hdelAll(key, ids)
  for start = 1, #ids, 1000 do
    redis.call("HDEL", key, unpack(ids, start, math.min(start + 999, #ids)))
  end
end

-- Costs that left a window leave its total. The hour goes first: its costs are still in the hash.
local function leave(window, windowMs, field)
  local old = redis.call("ZRANGEBYSCORE", window, "-inf", now - windowMs)
  if #old == 0 then return old end
  local sum = 0
  for _, id in ipairs(old) do sum = sum + tonumber(redis.call("HGET", KEYS[3], id) or "0") end
  redis.call("ZREMRANGEBYSCORE", window, "-inf", now - windowMs)
  if sum > 0 then redis.call("HINCRBY", KEYS[4], field, 0 - sum) end
  return old
end
leave(KEYS[2], hourMs, "hour")
local gone = leave(KEYS[1], dayMs, "day")
hdelAll(KEYS[3], gone)
local expired = redis.call("ZRANGEBYSCORE", KEYS[5], "-inf", now - dayMs)
if #expired > 0 then
  redis.call("ZREMRANGEBYSCORE", KEYS[5], "-inf", now - dayMs)
  hdelAll(KEYS[6], expired)
end

local day = tonumber(redis.call("HGET", KEYS[4], "day") or "0")
local hour = tonumber(redis.call("HGET", KEYS[4], "hour") or "0")
local admitted = {}
local over = {}
for i = 8, #ARGV, 3 do
  local id, cost = ARGV[i], tonumber(ARGV[i + 1])
  if redis.call("ZSCORE", KEYS[1], id) then
    admitted[#admitted + 1] = "1"
  else
    local window = nil
    if day + cost > dayLimit then window = "day"
    elseif hourLimit >= 0 and hour + cost > hourLimit then window = "hour" end
    if window then
      admitted[#admitted + 1] = "0"
      over[window] = true
      local record = cjson.decode(ARGV[i + 2])
      record.window = window
      redis.call("ZADD", KEYS[5], now, id)
      redis.call("HSET", KEYS[6], id, cjson.encode(record))
    else
      admitted[#admitted + 1] = "1"
      redis.call("ZADD", KEYS[1], now, id)
      redis.call("ZADD", KEYS[2], now, id)
      redis.call("HSET", KEYS[3], id, cost)
      day, hour = day + cost, hour + cost
    end
  end
end
redis.call("HSET", KEYS[4], "day", day, "hour", hour)

-- Keep the newest refusal records only; the zset still counts every refusal of the day.
local stale = redis.call("ZREVRANGE", KEYS[5], recordsKept, -1)
hdelAll(KEYS[6], stale)

local announceDay, announceHour = 0, 0
if over.day and redis.call("SET", KEYS[7], now, "NX", "PX", dayMs) then announceDay = 1 end
if over.hour and redis.call("SET", KEYS[8], now, "NX", "PX", hourMs) then announceHour = 1 end
for k = 1, 6 do redis.call("PEXPIRE", KEYS[k], keep) end
return {table.concat(admitted), day, hour, announceDay, announceHour, redis.call("ZCARD", KEYS[5])}
