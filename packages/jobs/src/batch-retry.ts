import type { Job, Queue } from "bullmq";
import type { BatchStore } from "./batch-store.ts";
import { jobStatesInChunks } from "./enqueue.ts";
import { outpaintJobDataSchema, retryState } from "./job-data.ts";

/**
 * Retrying a batch's failed jobs, paying only for those. A job's id is its idempotency key, so the
 * same work enqueued again is skipped as "failed before": a retry is not an enqueue but BullMQ's own
 * retry of the failed job, under the same id, after the batch takes the failure back (it awaits the
 * job again, and reopens if it had closed). The job restarts at its plan with a new enqueue time
 * (its events are new ones); the tasks of its earlier run stay in its state so that the new ones
 * get new taskUUIDs (the provider answers a taskUUID it has seen with `conflictTaskUUID`).
 */

export interface BatchFailure {
  jobId: string;
  /** The failure's reason code, as the batch recorded it. */
  reason: string;
  /** The failed job; undefined when retention removed it (30 days, 50,000 failed jobs). */
  job: Job | undefined;
}

/**
 * The batch's failed jobs (those with a reason in `reasons`, when given) that are still failed in
 * the queue or gone from it; also jobs a retry took back but did not reach the queue (it stopped
 * between the two), which are pending in the batch and still failed in the queue.
 */
export async function batchFailures(
  queue: Queue,
  store: BatchStore,
  batchId: string,
  { reasons }: { reasons?: readonly string[] } = {},
): Promise<BatchFailure[]> {
  const recorded = new Map<string, string>();
  for await (const [jobId, end] of store.results(batchId)) {
    const reason = end.reason?.code ?? "failed";
    if (end.state === "failed" && (!reasons || reasons.includes(reason))) recorded.set(jobId, reason);
  }
  const pending: string[] = [];
  for await (const jobId of store.pending(batchId)) pending.push(jobId);
  const pendingStates = await jobStatesInChunks(queue, pending);
  const interrupted = pending.filter((_, index) => pendingStates[index] === "failed");
  const ids = [...recorded.keys(), ...interrupted];
  const states = await jobStatesInChunks(queue, ids);
  const failures: BatchFailure[] = [];
  for (const [index, jobId] of ids.entries()) {
    const state = states[index];
    if (state !== undefined && state !== "failed") continue; // retried already: running or done
    const job = state === "failed" ? await queue.getJob(jobId) : undefined;
    const reason = recorded.get(jobId) ?? reasonCode(job?.failedReason);
    if (!recorded.has(jobId) && reasons && !reasons.includes(reason)) continue;
    failures.push({ jobId, reason, job });
  }
  return failures;
}

/** "contentPolicyViolation: …" → its code; what a failed job says when the batch did not record it. */
function reasonCode(failedReason: string | undefined): string {
  return /^([A-Za-z][\w-]*):/.exec(failedReason ?? "")?.[1] ?? "failed";
}

/**
 * Retries the given failed jobs (those still in the queue): the batch awaits them again first, then
 * each restarts at its plan. Returns how many went back to the queue.
 */
export async function retryBatchFailures(
  store: BatchStore,
  batchId: string,
  failures: readonly BatchFailure[],
  { now = Date.now(), concurrency = 32 }: { now?: number; concurrency?: number } = {},
): Promise<number> {
  const jobs = failures.flatMap((failure) => (failure.job ? [failure.job] : []));
  await store.takeBackFailures(
    batchId,
    jobs.map((job) => job.id!),
  );
  let retried = 0;
  for (let start = 0; start < jobs.length; start += concurrency) {
    await Promise.all(
      jobs.slice(start, start + concurrency).map(async (job) => {
        // Back at the plan step, its earlier tasks kept. Data no schema reads (it failed for that) is
        // retried as it is, and fails again with the same readable reason.
        const saved = outpaintJobDataSchema.safeParse(job.data);
        if (saved.success) await job.updateData({ ...saved.data, state: retryState(saved.data.state, now) });
        try {
          await job.retry("failed", { resetAttemptsMade: true, resetAttemptsStarted: true });
          retried += 1;
        } catch (error) {
          // Retried meanwhile by someone else (no longer failed): it runs, and its batch awaits it.
          if ((await job.getState()) === "failed") throw error;
        }
      }),
    );
  }
  return retried;
}
