--[[
  The breaker of one service endpoint (the provider, S3), shared by every worker process (breaker.ts).

  KEYS[1]  the breaker ({prefix}:breaker:<service>:<host>), a hash:
             failures        outage failures in a row (a success resets them)
             firstFailureAt  when the first of them came (epoch ms): older than the window, they restart
             open            "1" while open
             openedAt        when it opened
             probes          failed probes since it opened
             nextProbeAt     no probe before this
             leaseUntil      the probe under way holds the lease until then
  KEYS[2]  the set of every breaker key (for `reframe queue counts` and the dashboard)

  ARGV[1]  the operation: failure | success | probe | probeFailed
  ARGV[2]  now (epoch ms)
  failure:     ARGV[3] threshold, ARGV[4] window ms, ARGV[5] probe min ms
  success:     ARGV[3] when the answered request was sent (epoch ms; 0 for a probe)
  probe:       ARGV[3] lease ms
  probeFailed: ARGV[3] probe min ms, ARGV[4] probe max ms

  Returns
    failure      {open, opened}: 1 when open after it, and 1 when this failure opened it
    success      {closed, openedAt}: closed 1 when this success closed an open breaker, 2 when it
                 left it open because the request was sent before it opened
    probe        1 when the caller holds the probe lease (open, due, and no probe under way)
    probeFailed  the next probe's time, or 0 when the breaker is not open
]]
local op = ARGV[1]
local now = tonumber(ARGV[2])
local function num(field) return tonumber(redis.call("HGET", KEYS[1], field) or "0") end
local open = redis.call("HGET", KEYS[1], "open") == "1"

if op == "failure" then
  redis.call("SADD", KEYS[2], KEYS[1])
  if open then return {1, 0} end
  local failures = num("failures")
  if failures == 0 or now - num("firstFailureAt") > tonumber(ARGV[4]) then
    failures = 1
    redis.call("HSET", KEYS[1], "firstFailureAt", now)
  else
    failures = failures + 1
  end
  redis.call("HSET", KEYS[1], "failures", failures)
  if failures < tonumber(ARGV[3]) then return {0, 0} end
  redis.call("HSET", KEYS[1], "open", "1", "openedAt", now, "probes", 0,
    "nextProbeAt", now + tonumber(ARGV[5]), "leaseUntil", 0)
  return {1, 1}
elseif op == "success" then
  if open then
    local openedAt = num("openedAt")
    -- A late answer to a request sent before the outage began says nothing of the service now:
    -- closing on it would let every job's first request through again (the bound of an outage's
    -- requests assumes one opening). The next probe decides.
    local sentAt = tonumber(ARGV[3] or "0") or 0
    if sentAt > 0 and sentAt < openedAt then return {2, openedAt} end
    redis.call("DEL", KEYS[1])
    return {1, openedAt}
  end
  if num("failures") > 0 then redis.call("HSET", KEYS[1], "failures", 0) end
  return {0, 0}
elseif op == "probe" then
  if not open or now < num("nextProbeAt") or now < num("leaseUntil") then return 0 end
  redis.call("HSET", KEYS[1], "leaseUntil", now + tonumber(ARGV[3]))
  return 1
elseif op == "probeFailed" then
  if not open then return 0 end
  local probes = num("probes") + 1
  -- The same schedule as nextProbeDelayMs in breaker.ts: min doubling per failed probe, up to max.
  local delay = math.floor(math.min(tonumber(ARGV[4]), tonumber(ARGV[3]) * 2 ^ probes))
  local nextProbeAt = now + delay
  redis.call("HSET", KEYS[1], "probes", probes, "nextProbeAt", nextProbeAt, "leaseUntil", 0)
  return nextProbeAt
end
return redis.error_reply("unknown breaker operation " .. tostring(op))
