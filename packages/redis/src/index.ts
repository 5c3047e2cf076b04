export { assertNoEviction, type EvictionCheck, RedisConfigError } from "./eviction.ts";
export { hashTagOf, inOneSlot, slotOf } from "./hash-slot.ts";
export { LeaderLock } from "./leader-lock.ts";
export { type LuaScript, luaScript, runScript } from "./lua-script.ts";
export {
  checkRedisReachable,
  createRedisClient,
  describeRedisClient,
  type RedisClient,
  type RedisClientOptions,
  type RedisRole,
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
export {
  isRedisOutage,
  type ReconnectLog,
  redisError,
  redisReconnectDelay,
  redisTarget,
  reportRedisReconnects,
  waitForRedisReady,
} from "./redis-reachability.ts";
export { confirmWrites, WriteNotConfirmedError } from "./write-confirmation.ts";
