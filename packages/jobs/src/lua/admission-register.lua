--[[
  Registers a batch's job stream for windowed admission, or replaces the one registered before (a
  run started again): the chunks written under a staging key become the stream, read from its start.
  Re-reading jobs admitted before adds nothing (job ids are idempotency keys). A stream of no jobs
  drops the registration instead.

  KEYS[1]  the admission record     ({prefix}:batch:<id>:admission)  hash: streamId, jobs, position,
                                                                      window, chunk
  KEYS[2]  the stream               ({prefix}:batch:<id>:stream)     list of compressed chunks
  KEYS[3]  the staging list         ({prefix}:batch:<id>:stream:<streamId>)
  KEYS[4]  the admissions index     ({prefix}:admissions)            set of batch ids
  KEYS[5]  the batch's hash         ({prefix}:batch:<id>)

  ARGV[1]  batch id
  ARGV[2]  stream id (random per registration)
  ARGV[3]  jobs in the stream
  ARGV[4]  window
  ARGV[5]  jobs per chunk
  ARGV[6]  time to live of the keys (ms)

  Returns 1 when registered, 0 when the stream was empty (nothing waits).

  A batch that is sealed but not closed is unsealed: its admitter seals it again after the last
  chunk, so it cannot close while jobs still wait. A closed batch stays closed until an admitted job
  reopens it (batch-add.lua), as for any run again.
]]
if tonumber(ARGV[3]) == 0 then
  redis.call("DEL", KEYS[1], KEYS[2], KEYS[3])
  redis.call("SREM", KEYS[4], ARGV[1])
  return 0
end
redis.call("RENAME", KEYS[3], KEYS[2])
redis.call("DEL", KEYS[1])
redis.call("HSET", KEYS[1], "streamId", ARGV[2], "jobs", ARGV[3], "position", 0, "window", ARGV[4], "chunk", ARGV[5])
redis.call("PEXPIRE", KEYS[1], ARGV[6])
redis.call("PEXPIRE", KEYS[2], ARGV[6])
redis.call("SADD", KEYS[4], ARGV[1])
if redis.call("HEXISTS", KEYS[5], "closedAt") == 0 then
  redis.call("HDEL", KEYS[5], "sealedAt")
end
return 1
