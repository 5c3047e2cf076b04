import {
  makeCompletionEvent,
  makeFailureEvent,
  type OutpaintJob,
  publishEvent,
  type TaskOutcomeRecord,
} from "@reframe/jobs";
import { verifyOutputObject } from "@reframe/storage";
import { UnrecoverableError } from "bullmq";
import { reportJobEnd } from "./batch-report.ts";
import type { FailureReason } from "./decide-await.ts";
import type { PreparedSource, StepState } from "./step-state.ts";
import type { OutpaintDeps } from "./worker-deps.ts";

export interface OutpaintVariantResult {
  variant: number;
  key: string;
  width: number;
  height: number;
  size: number;
  contentType: string;
  etag: string | undefined;
  imageUUID: string;
  seed: number | undefined;
  costUsd: number;
}

export interface OutpaintResult {
  jobId: string;
  bucket: string;
  variants: OutpaintVariantResult[];
  costUsd: number;
  exactSizeMet: boolean;
  requested: { width: number; height: number } | null;
  /** The factor the source was resized by before outpainting (1: as it was). */
  sourceScale: number;
  /** The share of each output's pixels that was generated (0 to 1). */
  generatedShare: number;
  /**
   * What the worker did to the source before the provider read it (converted, scaled), and whether
   * it was animated (its first frame was used); absent when the provider read the original.
   */
  preparedSource?: PreparedSource;
  timings: {
    enqueuedAt: number;
    submittedAt: number;
    completedAt: number;
    providerMs: number;
    totalMs: number;
  };
}

/**
 * Checks every output in S3 (the provider says it uploaded; the bucket must agree), records the
 * provider's imageUUID, seed and cost, and adds one completion event to each route queue. The event's
 * id is the BullMQ jobId there, so running finalize twice (a crash, a retry) adds it once.
 */
export async function finalizeStep(
  jobId: string,
  job: OutpaintJob,
  state: StepState,
  deps: OutpaintDeps,
  /** The outcomes the await step just read; read again when absent (a copy, a resumed finalize). */
  known?: ReadonlyMap<string, TaskOutcomeRecord>,
): Promise<OutpaintResult> {
  const plan = state.plan!;
  const outcomes = known ?? (await deps.taskStore.getOutcomes(state.tasks.map((task) => task.taskUUID)));
  const variants: OutpaintVariantResult[] = [];
  for (const task of state.tasks) {
    const verified = await verifyOutputObject({
      client: deps.s3,
      bucket: job.output.bucket,
      key: task.key,
      expected: { contentType: plan.contentType, width: plan.output.width, height: plan.output.height },
    });
    if (!verified.ok) {
      // A missing object may still be on its way (eventual consistency, a slow PUT): BullMQ retries.
      if (verified.reason === "missing") throw new Error(`output ${task.key} is not in the bucket yet`);
      const reason: FailureReason = {
        code: "outputInvalid",
        message: `output ${task.key}: ${verified.detail}`,
        disposition: "terminal",
      };
      await recordFailure(jobId, job, reason, deps, state.enqueuedAt);
      throw new UnrecoverableError(`${reason.code}: ${reason.message}`);
    }
    const outcome = outcomes.get(task.taskUUID);
    const result = outcome?.kind === "success" ? outcome.result : undefined;
    variants.push({
      variant: task.variant,
      key: task.key,
      width: verified.width,
      height: verified.height,
      size: verified.size,
      contentType: verified.contentType,
      etag: verified.etag,
      imageUUID: String(result?.imageUUID ?? ""),
      seed: typeof result?.seed === "number" ? result.seed : undefined,
      costUsd: typeof result?.cost === "number" ? result.cost : plan.costUsd,
    });
  }
  const completedAt = deps.now();
  const submittedAt = state.submittedAt ?? completedAt;
  const result: OutpaintResult = {
    jobId,
    bucket: job.output.bucket,
    variants,
    costUsd: roundCents(variants.reduce((sum, variant) => sum + variant.costUsd, 0)),
    exactSizeMet: plan.exactSizeMet,
    requested: plan.requested,
    sourceScale: plan.sourceScale,
    generatedShare: plan.generatedShare,
    ...(plan.preparedSource ? { preparedSource: plan.preparedSource } : {}),
    timings: {
      enqueuedAt: state.enqueuedAt,
      submittedAt,
      completedAt,
      providerMs: completedAt - submittedAt,
      totalMs: completedAt - state.enqueuedAt,
    },
  };
  const event = makeCompletionEvent({ jobId, job, result });
  await publishEvent(deps.routes, job.route, event);
  await reportJobEnd(
    jobId,
    job,
    {
      state: "completed",
      costUsd: result.costUsd,
      outputs: variants.map(({ key, width, height }) => ({ bucket: job.output.bucket, key, width, height })),
      sourceScale: plan.sourceScale,
      generatedShare: plan.generatedShare,
    },
    state.enqueuedAt,
    deps,
  );
  return result;
}

/**
 * A job that ends failed: the failure event goes to each route queue (its id is deterministic, so
 * twice adds it once) and the job's batch records the reason. Called before the job is failed, so a
 * crash in between repeats both, harmlessly.
 */
export async function recordFailure(
  jobId: string,
  job: OutpaintJob,
  reason: FailureReason,
  deps: Pick<OutpaintDeps, "routes" | "batches" | "logger" | "now">,
  enqueuedAt: number,
): Promise<void> {
  if (job.route.length > 0) {
    const event = makeFailureEvent({ jobId, job, reason, enqueuedAt });
    await publishEvent(deps.routes, job.route, event);
  }
  await reportJobEnd(
    jobId,
    job,
    { state: "failed", costUsd: 0, outputs: [], reason: { code: reason.code, message: reason.message } },
    enqueuedAt,
    deps,
  );
}

function roundCents(usd: number): number {
  return Math.round(usd * 10_000) / 10_000;
}
