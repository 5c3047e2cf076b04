import type { RedisClient } from "@reframe/redis";
import type { Queue } from "bullmq";
import { OUTPAINT_QUEUE, taskStoreKeys } from "./names.ts";
import { readPauseState } from "./queue-pause.ts";

/** The states the gauges report (BullMQ's getJobCounts names). */
export const SAMPLED_STATES = ["waiting", "active", "delayed", "prioritized", "completed", "failed"] as const;

/** What the queue gauges show; the same shape as the telemetry package's QueueSample. */
export interface QueueSampleData {
  queues: { queue: string; counts: Record<string, number>; paused: boolean; pauseReason?: string }[];
  parkedJobs: number;
  pendingTasks: number;
  reconcilerLag: number;
}

export interface QueueSamplerOptions {
  /** The queues to count; the outpaint queue's delayed jobs are the parked ones. */
  queues: readonly Queue[];
  redis: RedisClient;
  prefix: string;
  /** How long one reading serves: BullMQ's counts are one round trip, but a scrape asks per gauge. */
  cacheMs?: number;
  now?: () => number;
}

/**
 * Reads the queues' counts, pause states and the task store's backlog in a few round trips, at most
 * once per `cacheMs` whatever the number of scrapes and scrapers: never a read per job.
 */
export function createQueueSampler(options: QueueSamplerOptions): () => Promise<QueueSampleData> {
  const cacheMs = options.cacheMs ?? 5_000;
  const now = options.now ?? Date.now;
  const { pending } = taskStoreKeys(options.prefix);
  let cached: { at: number; sample: Promise<QueueSampleData> } | undefined;
  const read = async (): Promise<QueueSampleData> => {
    const at = now();
    const queues = await Promise.all(
      options.queues.map(async (queue) => {
        const [counts, pause] = await Promise.all([
          queue.getJobCounts(...SAMPLED_STATES),
          readPauseState(queue),
        ]);
        return {
          queue: queue.name,
          counts,
          paused: pause.paused,
          ...(pause.reason ? { pauseReason: pause.reason.code } : {}),
        };
      }),
    );
    const [pendingTasks, oldest] = await Promise.all([
      options.redis.zcard(pending),
      options.redis.zrange(pending, 0, 0, "WITHSCORES"),
    ]);
    const oldestDue = oldest[1] === undefined ? undefined : Number(oldest[1]);
    return {
      queues,
      parkedJobs: queues.find((queue) => queue.queue === OUTPAINT_QUEUE)?.counts.delayed ?? 0,
      pendingTasks,
      reconcilerLag: oldestDue !== undefined && oldestDue < at ? (at - oldestDue) / 1000 : 0,
    };
  };
  return () => {
    if (!cached || now() - cached.at >= cacheMs) {
      const sample = read();
      cached = { at: now(), sample };
      // A failed reading is not kept: the next scrape tries again.
      sample.catch(() => {
        if (cached?.sample === sample) cached = undefined;
      });
    }
    return cached.sample;
  };
}
