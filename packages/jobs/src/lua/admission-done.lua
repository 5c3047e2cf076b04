--[[
  Takes a batch off the admissions index once its stream is wholly admitted and the batch sealed,
  unless a run started again registered a new stream meanwhile.

  KEYS[1]  the admission record     ({prefix}:batch:<id>:admission)
  KEYS[2]  the admissions index     ({prefix}:admissions)

  ARGV[1]  batch id
  ARGV[2]  stream id the admitter finished

  Returns 1 when taken off, 0 when another stream waits.
]]
local record = redis.call("HMGET", KEYS[1], "streamId", "position", "jobs")
-- No record at all (expired): nothing can be admitted, the index entry only lingers.
if record[1] == false or (record[1] == ARGV[2] and record[2] == record[3]) then
  redis.call("SREM", KEYS[2], ARGV[1])
  return 1
end
return 0
