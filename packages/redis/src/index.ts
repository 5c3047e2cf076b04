export { assertNoEviction, type EvictionCheck, RedisConfigError } from "./eviction.ts";
export { hashTagOf, inOneSlot, slotOf } from "./hash-slot.ts";
export { type LuaScript, luaScript, runScript } from "./lua-script.ts";
export {
  createRedisClient,
  describeRedisClient,
  type RedisClient,
  type RedisClientOptions,
  type RedisRole,
  RedisUnreachableError,
  waitForRedisReady,
} from "./redis-client.ts";
export {
  checkRedisEnv,
  DEFAULT_QUEUE_PREFIX,
  type HostPort,
  type RedisEnv,
  type RedisSettings,
  type RedisTarget,
  redisEnvFields,
  redisEnvSchema,
  redisSettingsFromEnv,
  redisSettingsFromUrl,
  redisSettingsOf,
  type TlsSettings,
} from "./redis-env.ts";
export { confirmWrites, WriteNotConfirmedError } from "./write-confirmation.ts";
