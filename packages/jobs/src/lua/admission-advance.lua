--[[
  Moves a stream's position past jobs just admitted, if nobody moved it meanwhile (compare and set:
  a second admitter, or a stream replaced by a run started again, makes this a no-op). Chunks wholly
  passed leave the stream, so Redis holds only what still waits; the last one takes the stream with it.

  KEYS[1]  the admission record     ({prefix}:batch:<id>:admission)
  KEYS[2]  the stream               ({prefix}:batch:<id>:stream)

  ARGV[1]  stream id the admitter read
  ARGV[2]  position it read from
  ARGV[3]  position after the jobs it admitted
  ARGV[4]  chunks wholly passed (admission-window.ts chunksPassed)
  ARGV[5]  time to live of the keys (ms)

  Returns 1 when moved, 0 when the record changed meanwhile.
]]
local record = redis.call("HMGET", KEYS[1], "streamId", "position", "jobs")
if record[1] ~= ARGV[1] or record[2] ~= ARGV[2] then
  return 0
end
redis.call("HSET", KEYS[1], "position", ARGV[3])
if tonumber(ARGV[3]) >= tonumber(record[3]) then
  redis.call("DEL", KEYS[2])
else
  if tonumber(ARGV[4]) > 0 then
    redis.call("LTRIM", KEYS[2], ARGV[4], -1)
  end
  redis.call("PEXPIRE", KEYS[2], ARGV[5])
end
redis.call("PEXPIRE", KEYS[1], ARGV[5])
return 1
