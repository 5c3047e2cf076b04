import { type DefaultJobOptions, Queue } from "bullmq";
import { Redis } from "ioredis";
import { RedisConfigError } from "./errors.ts";
import { DEFAULT_QUEUE_PREFIX, OUTPAINT_QUEUE } from "./names.ts";
import { redisReconnectDelay, waitForRedisReady } from "./redis-reachability.ts";

const DAY_SECONDS = 24 * 60 * 60;

/**
 * Retention (anchors A5: Redis memory grows when finished jobs are kept forever). BullMQ counts `age`
 * in seconds and trims when another job finishes.
 * - Completed: 7 days or the newest 10,000, whichever keeps fewer. The completed job is also what
 *   makes a re-enqueue of the same work a no-op (its id is the idempotency key), so this is the
 *   idempotency horizon: a library larger than `count` re-adds its oldest jobs on the next full run.
 *   Raise `count` for such libraries: about 6.5 KB of Redis per job with its completion event
 *   (`pnpm bench redisMemory`).
 * - Failed: 30 days or 50,000, long enough for someone to look at them and retry.
 * - 8 attempts with the provider-aware backoff: at most 1 s, 2 s, … 64 s between them (≈ 2 min in
 *   all, half that on average with full jitter), longer when the provider sends Retry-After. Provider
 *   submits have their own backoff in the worker; these retries are for S3 and Redis trouble.
 */
export const OUTPAINT_JOB_OPTIONS = {
  attempts: 8,
  backoff: { type: "provider" },
  removeOnComplete: { age: 7 * DAY_SECONDS, count: 10_000 },
  removeOnFail: { age: 30 * DAY_SECONDS, count: 50_000 },
} as const satisfies DefaultJobOptions;

/** Event queues carry small JSON; consumers retry on their own terms. */
export const ROUTE_JOB_OPTIONS = {
  attempts: 8,
  backoff: { type: "exponential", delay: 1000, jitter: 0.5 },
  removeOnComplete: { age: 7 * DAY_SECONDS, count: 10_000 },
  removeOnFail: { age: 30 * DAY_SECONDS, count: 50_000 },
} as const satisfies DefaultJobOptions;

export type RedisRole = "worker" | "producer";

/**
 * Workers block on Redis and must wait through an outage: `maxRetriesPerRequest: null` (BullMQ
 * requires it). Producers must not hang while Redis is down: `enableOfflineQueue: false` makes a
 * command fail at once (BullMQ "failing fast when Redis is down"); BullMQ itself waits for the first
 * connection before its own commands, and `waitForRedisReady` does the same for direct ones. Both
 * reconnect with a growing delay (redis-reachability.ts), so an outage is a line per attempt.
 */
export function createRedisConnection(url: string, { role }: { role: RedisRole }): Redis {
  return role === "worker"
    ? new Redis(url, { maxRetriesPerRequest: null, retryStrategy: redisReconnectDelay })
    : new Redis(url, {
        enableOfflineQueue: false,
        maxRetriesPerRequest: 1,
        retryStrategy: redisReconnectDelay,
      });
}

export interface QueueFactoryOptions {
  connection: Redis;
  /** "{reframe}" by default: braced for Redis Cluster (see names.ts). */
  prefix?: string;
  /** Replaces parts of the defaults above (e.g. a larger `removeOnComplete.count`). */
  defaultJobOptions?: DefaultJobOptions;
}

export function createOutpaintQueue({ connection, prefix, defaultJobOptions }: QueueFactoryOptions): Queue {
  return new Queue(OUTPAINT_QUEUE, {
    connection,
    prefix: prefix ?? DEFAULT_QUEUE_PREFIX,
    defaultJobOptions: { ...OUTPAINT_JOB_OPTIONS, ...defaultJobOptions },
  });
}

const BACKOFF_BASE_MS = 1000;
const BACKOFF_CAP_MS = 5 * 60 * 1000;

/**
 * The worker's `settings.backoffStrategy` for `backoff: { type: "provider" }`: exponential
 * 2^(n-1) × 1 s with full jitter, capped at 5 min, and never sooner than the error's `retryAfterMs`
 * (ProviderError carries the provider's Retry-After). Full jitter spreads the retries of many jobs that
 * failed together (one provider outage) instead of sending them back in one wave.
 */
export function providerBackoffStrategy(attemptsMade: number, _type?: string, err?: Error): number {
  return providerBackoffDelay(attemptsMade, err);
}

/** The delay behind `providerBackoffStrategy`, with the random source exposed for tests. */
export function providerBackoffDelay(
  attemptsMade: number,
  err?: unknown,
  random: () => number = Math.random,
): number {
  const exponential = Math.min(BACKOFF_CAP_MS, BACKOFF_BASE_MS * 2 ** Math.max(0, attemptsMade - 1));
  const jittered = Math.floor(random() * exponential);
  const retryAfterMs = (err as { retryAfterMs?: unknown } | undefined)?.retryAfterMs;
  return typeof retryAfterMs === "number" && Number.isFinite(retryAfterMs) && retryAfterMs > 0
    ? Math.max(Math.ceil(retryAfterMs), jittered)
    : jittered;
}

export interface EvictionCheck {
  /** The server's policy, or undefined when neither CONFIG GET nor INFO would tell. */
  policy: string | undefined;
  checked: boolean;
}

/**
 * BullMQ loses jobs and locks when Redis evicts keys: only `noeviction` is safe (anchors A1). Reads the
 * policy from INFO (allowed on managed Redis, where CONFIG is often disabled), falling back to
 * CONFIG GET. When neither answers, the check cannot be made: it warns through `onUnchecked` and
 * lets the process start, since refusing would make reframe unusable on such services; the operator
 * is told to verify the setting by hand.
 */
export async function assertNoEviction(
  redis: Redis,
  { onUnchecked = defaultUncheckedWarning }: { onUnchecked?: (message: string) => void } = {},
): Promise<EvictionCheck> {
  await waitForRedisReady(redis);
  const policy = (await policyFromInfo(redis)) ?? (await policyFromConfig(redis));
  if (policy === undefined) {
    onUnchecked(
      "could not read Redis's maxmemory-policy (INFO and CONFIG GET refused); make sure it is noeviction, or queued jobs can be lost",
    );
    return { policy, checked: false };
  }
  if (policy !== "noeviction") {
    throw new RedisConfigError(
      `Redis maxmemory-policy is "${policy}": evicting keys loses queued jobs. Set \`maxmemory-policy noeviction\` (redis.conf, CONFIG SET, or your provider's parameter group) and restart.`,
    );
  }
  return { policy, checked: true };
}

async function policyFromInfo(redis: Redis): Promise<string | undefined> {
  try {
    const info = await redis.info("memory");
    return /^maxmemory_policy:(\S+)/m.exec(info)?.[1];
  } catch {
    return undefined;
  }
}

async function policyFromConfig(redis: Redis): Promise<string | undefined> {
  try {
    const reply = (await redis.config("GET", "maxmemory-policy")) as string[];
    return reply[1];
  } catch {
    return undefined;
  }
}

function defaultUncheckedWarning(message: string): void {
  process.emitWarning(message, { code: "REFRAME_EVICTION_UNCHECKED" });
}
