import {
  type FailureReason,
  makeCompletionEvent,
  makeFailureEvent,
  type OutpaintJob,
  type OutpaintResult,
  type OutpaintVariantResult,
  publishEvent,
  type StepState,
  type TaskOutcomeRecord,
} from "@reframe/jobs";
import { verifyOutputObject } from "@reframe/storage";
import { ATTRIBUTES, SPANS, withSpan } from "@reframe/telemetry";
import { UnrecoverableError } from "bullmq";
import { reportJobEnd } from "./batch-report.ts";
import type { OutpaintDeps } from "./worker-deps.ts";

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
    const verified = await withSpan(SPANS.outputCheck, { [ATTRIBUTES.key]: task.key }, () =>
      verifyOutputObject({
        client: deps.s3,
        bucket: job.output.bucket,
        key: task.key,
        expected: { contentType: plan.contentType, width: plan.output.width, height: plan.output.height },
      }),
    );
    if (!verified.ok) {
      // A missing object may still be on its way (eventual consistency, a slow PUT): BullMQ retries.
      if (verified.reason === "missing") throw new Error(`output ${task.key} is not in the bucket yet`);
      const reason: FailureReason = {
        code: "outputInvalid",
        message: `output ${task.key}: ${verified.detail}`,
        disposition: "terminal",
      };
      await recordFailure(jobId, job, reason, deps, state.enqueuedAt);
      throw Object.assign(new UnrecoverableError(`${reason.code}: ${reason.message}`), { code: reason.code });
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
    ...(state.outageGenerations?.length ? { outageGenerations: state.outageGenerations.length } : {}),
    timings: {
      enqueuedAt: state.enqueuedAt,
      submittedAt,
      completedAt,
      providerMs: completedAt - submittedAt,
      totalMs: completedAt - state.enqueuedAt,
    },
  };
  const event = makeCompletionEvent({ jobId, job, result });
  await withSpan(SPANS.eventPublish, eventAttributes(event, job.route), () =>
    publishEvent(deps.routes, job.route, event),
  );
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
    await withSpan(SPANS.eventPublish, eventAttributes(event, job.route), () =>
      publishEvent(deps.routes, job.route, event),
    );
  }
  await reportJobEnd(
    jobId,
    job,
    { state: "failed", costUsd: 0, outputs: [], reason: { code: reason.code, message: reason.message } },
    enqueuedAt,
    deps,
  );
}

function eventAttributes(event: { id: string; type: string }, route: readonly string[]) {
  return {
    [ATTRIBUTES.eventId]: event.id,
    [ATTRIBUTES.eventType]: event.type,
    [ATTRIBUTES.route]: [...route],
  };
}

function roundCents(usd: number): number {
  return Math.round(usd * 10_000) / 10_000;
}
