--[[
  Stores or removes one applied pipeline and rewrites the areas upload triggers watch, in one step,
  so that the worker's record of what it wrote (written-objects.ts) never reads a stale list.

  KEYS[1]  the applied pipelines ({prefix}:pipelines), a hash: name -> {definition, digest, appliedAt}
  KEYS[2]  the watched areas ({prefix}:pipelines:watched), a set of "<bucket>/<key prefix>"

  ARGV[1]  the pipeline's name
  ARGV[2]  its JSON to store, or "" to remove it

  Returns the number of hash fields added (put) or removed (remove).
]]
local changed
if ARGV[2] == "" then
  changed = redis.call("HDEL", KEYS[1], ARGV[1])
else
  changed = redis.call("HSET", KEYS[1], ARGV[1], ARGV[2])
end
redis.call("DEL", KEYS[2])
for _, json in ipairs(redis.call("HVALS", KEYS[1])) do
  local ok, stored = pcall(cjson.decode, json)
  if ok and type(stored) == "table" and type(stored.definition) == "table"
      and type(stored.definition.triggers) == "table" then
    for _, trigger in ipairs(stored.definition.triggers) do
      if type(trigger.bucket) == "string" then
        local prefix = type(trigger.prefix) == "string" and trigger.prefix or ""
        redis.call("SADD", KEYS[2], trigger.bucket .. "/" .. prefix)
      end
    end
  end
end
return changed
