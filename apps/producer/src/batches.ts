import type { Queue } from "bullmq";
import type { Redis } from "ioredis";

/**
 * Which jobs belong to a batch (labels.batchId), kept as a Redis set beside the queue so a batch's
 * progress can be counted without scanning the queue. Adding a job id twice is harmless.
 */
export function batchKey(prefix: string, batchId: string): string {
  return `${prefix}:batch:${batchId}`;
}

export async function recordBatchJobs(
  redis: Redis,
  prefix: string,
  batchId: string,
  jobIds: readonly string[],
): Promise<void> {
  if (jobIds.length === 0) return;
  await redis.sadd(batchKey(prefix, batchId), ...jobIds);
}

export const BATCH_STATES = [
  "completed",
  "failed",
  "active",
  "waiting",
  "delayed",
  "prioritized",
  "waiting-children",
  "unknown",
] as const;
export type BatchState = (typeof BATCH_STATES)[number];

export interface BatchStatus {
  batchId: string;
  total: number;
  counts: Record<BatchState, number>;
  /** What completed jobs cost (USD). */
  costUsd: number;
}

/** Counts a batch's jobs by state; jobs removed by retention count as unknown. */
export async function batchStatus(
  redis: Redis,
  queue: Queue,
  prefix: string,
  batchId: string,
): Promise<BatchStatus | undefined> {
  const jobIds = await redis.smembers(batchKey(prefix, batchId));
  if (jobIds.length === 0) return undefined;
  const counts = Object.fromEntries(BATCH_STATES.map((state) => [state, 0])) as Record<BatchState, number>;
  let costUsd = 0;
  for (const jobId of jobIds) {
    const job = await queue.getJob(jobId);
    const state = job ? ((await job.getState()) as BatchState) : "unknown";
    counts[BATCH_STATES.includes(state) ? state : "unknown"] += 1;
    const cost = (job?.returnvalue as { costUsd?: number } | undefined)?.costUsd;
    if (state === "completed" && typeof cost === "number") costUsd += cost;
  }
  return { batchId, total: jobIds.length, counts, costUsd: Math.round(costUsd * 10_000) / 10_000 };
}
