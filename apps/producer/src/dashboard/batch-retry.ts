import { type BatchStore, batchKeys } from "@reframe/jobs";
import type { RedisClient } from "@reframe/redis";
import type { Queue } from "bullmq";

/**
 * The dashboard's "retry the failed jobs" of a batch, paying only for those: the batch takes each
 * failure back (it awaits the job again and reopens), then BullMQ retries the job under the same id,
 * from its plan. To be folded into the CLI's `reframe batch retry` (issue 11, the newcomer's part),
 * which keeps the earlier tasks so that provider failures are redone under new taskUUIDs; until then
 * a job whose provider task failed terminally fails again the same way, while a job that failed
 * before the provider (a missing or unreadable source, since fixed) completes.
 */
export async function retryFailedJobs(
  queue: Queue,
  store: BatchStore,
  redis: RedisClient,
  prefix: string,
  batchId: string,
  now: () => number = Date.now,
): Promise<number> {
  const failed: { jobId: string; code: string }[] = [];
  for await (const [jobId, end] of store.results(batchId)) {
    if (end.state === "failed") failed.push({ jobId, code: end.reason?.code ?? "" });
  }
  const keys = batchKeys(prefix, batchId);
  let retried = 0;
  for (const { jobId, code } of failed) {
    const job = await queue.getJob(jobId);
    if (!job || (await job.getState()) !== "failed") continue;
    const transaction = redis
      .multi()
      .hdel(keys.results, jobId)
      .sadd(keys.pending, jobId)
      .hincrby(keys.batch, "failed", -1)
      .hdel(keys.batch, "closedAt");
    if (code) transaction.hincrby(keys.failures, code, -1);
    await transaction.exec();
    await job.updateData({ ...job.data, state: { step: "plan", tasks: [], enqueuedAt: now() } });
    await job.retry("failed", { resetAttemptsMade: true, resetAttemptsStarted: true });
    retried += 1;
  }
  return retried;
}
