import { backoffMs } from "@reframe/reachability";
import { DEFAULT_QUEUE_PREFIX, type RedisClient } from "@reframe/redis";
import { type DefaultJobOptions, Queue, type Telemetry } from "bullmq";
import { OUTPAINT_QUEUE } from "./names.ts";

const DAY_SECONDS = 24 * 60 * 60;

/**
 * Retention (Redis memory grows when finished jobs are kept forever). BullMQ counts `age`
 * in seconds and trims when another job finishes.
 * - Completed: 7 days or the newest 10,000, whichever keeps fewer. The completed job is also what
 *   makes a re-enqueue of the same work a no-op (its id is the idempotency key), so this is the
 *   idempotency horizon: a library larger than `count` re-adds its oldest jobs on the next full run.
 *   Raise `count` for such libraries: about 6.3 KiB of Redis per job with its completion event
 *   (`pnpm bench redisCeiling`, docs/sizing.md).
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

export interface QueueFactoryOptions {
  connection: RedisClient;
  /** "{reframe}" by default: braced for Redis Cluster (DEFAULT_QUEUE_PREFIX). */
  prefix?: string;
  /** Replaces parts of the defaults above (e.g. a larger `removeOnComplete.count`). */
  defaultJobOptions?: DefaultJobOptions;
  /** BullMQ's telemetry (bullmq-otel) while tracing is on: jobs carry their trace context. */
  telemetry?: Telemetry | undefined;
}

export function createOutpaintQueue({
  connection,
  prefix,
  defaultJobOptions,
  telemetry,
}: QueueFactoryOptions): Queue {
  return new Queue(OUTPAINT_QUEUE, {
    connection,
    prefix: prefix ?? DEFAULT_QUEUE_PREFIX,
    defaultJobOptions: { ...OUTPAINT_JOB_OPTIONS, ...defaultJobOptions },
    ...(telemetry ? { telemetry } : {}),
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
  const jittered = backoffMs(
    { baseMs: BACKOFF_BASE_MS, maxMs: BACKOFF_CAP_MS, jitter: 1 },
    attemptsMade - 1,
    random,
  );
  const retryAfterMs = (err as { retryAfterMs?: unknown } | undefined)?.retryAfterMs;
  return typeof retryAfterMs === "number" && Number.isFinite(retryAfterMs) && retryAfterMs > 0
    ? Math.max(Math.ceil(retryAfterMs), jittered)
    : jittered;
}
