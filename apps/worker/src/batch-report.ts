import { targetLabel } from "@reframe/geometry";
import { announceBatchCompleted, type BatchJobEndInput, type OutpaintJob } from "@reframe/jobs";
import type { OutpaintDeps } from "./worker-deps.ts";

export type JobEnd = Pick<
  BatchJobEndInput,
  "state" | "costUsd" | "outputs" | "reason" | "sourceScale" | "generatedShare"
>;

/**
 * Tells the job's batch (labels.batchId) how the job ended. Recording is idempotent, so a finalize
 * that runs twice records once; the call that closes the batch announces its completion, and so does
 * a retry of that call (announcing is idempotent too), so a crash in between loses nothing.
 */
export async function reportJobEnd(
  jobId: string,
  job: OutpaintJob,
  end: JobEnd,
  enqueuedAt: number,
  deps: Pick<OutpaintDeps, "batches" | "routes" | "logger" | "now">,
): Promise<void> {
  const batchId = job.labels.batchId;
  if (!batchId) return;
  const endedAt = deps.now();
  const outcome = await deps.batches.recordEnd(batchId, jobId, {
    ...end,
    source: job.source.kind === "s3" ? `s3://${job.source.bucket}/${job.source.key}` : job.source.url,
    target: targetLabel(job.target),
    durationMs: Math.max(0, endedAt - enqueuedAt),
    endedAt,
  });
  if (outcome !== "closed") return;
  const event = await announceBatchCompleted(deps.batches, batchId, deps.routes);
  if (event) {
    deps.logger.info(
      { batchId, completed: event.data.completed, failed: event.data.failed, costUsd: event.data.costUsd },
      "batch completed",
    );
  }
}
