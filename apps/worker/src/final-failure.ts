import {
  COMPLETION_EVENT_TYPE,
  deliveryId,
  type FailureReason,
  type OutpaintJob,
  outpaintEventId,
  outpaintJobDataSchema,
  parseRouteDestination,
} from "@reframe/jobs";
import { type Job, UnrecoverableError } from "bullmq";
import { recordFailure } from "./finalize-step.ts";
import type { OutpaintDeps } from "./worker-deps.ts";
import { metricTarget } from "./worker-telemetry.ts";

/**
 * Every job that ends failed owes its route one failure event and its batch one result, whoever
 * failed it:
 * - the step machine (a terminal provider error, a plan that cannot be made): it recorded both
 *   before throwing UnrecoverableError; recording again adds nothing (the event id is the jobId in
 *   the route queue, and a batch keeps a job's first end);
 * - BullMQ, after the last attempt of a retryable error (S3 or Redis trouble, a missing output);
 * - BullMQ, for a job stalled more often than `maxStalledCount` (its worker died each time it held
 *   the job): BullMQ fails it with an UnrecoverableError of its own, so the class alone does not say
 *   the event went out.
 * Called from the worker's `failed` listener, which also fires for attempts that will be retried.
 *
 * A job can also fail after its finalize published the completion event (its worker lost the lock,
 * or stalled, between the event and BullMQ's completion): its outputs are verified and announced, so
 * a failure event would contradict the announcement. Such a job is run once more instead (`rerunOnce`
 * says whether this job may be; the run finalizes again, which adds no second event) and completes.
 */
export async function recordFinalFailure(
  job: Job | undefined,
  error: Error,
  deps: Pick<OutpaintDeps, "routes" | "batches" | "logger" | "now" | "metrics"> & {
    rerunOnce?: (jobId: string) => Promise<boolean>;
  },
): Promise<void> {
  if (!job?.id) return;
  // One bullmq in the lockfile (scripts/single-copies.mjs): the class is the same everywhere.
  const final = error instanceof UnrecoverableError || job.attemptsMade >= (job.opts.attempts ?? 1);
  if (!final) return;
  // The saved job: its step state too, once a worker saved one (the job's own schema is strict).
  const parsed = outpaintJobDataSchema.safeParse(job.data);
  if (!parsed.success) {
    deps.logger.error(
      { jobId: job.id, issue: parsed.error.issues[0]?.message },
      "a failed job's data is not an outpaint job; no failure event recorded",
    );
    return;
  }
  const { state, ...data } = parsed.data;
  const enqueuedAt = state?.enqueuedAt ?? job.timestamp;
  if (deps.rerunOnce && (await completionEventOut(job.id, data, enqueuedAt, deps).catch(() => false))) {
    if (await deps.rerunOnce(job.id).catch(() => false)) {
      deps.logger.warn(
        { jobId: job.id, err: error },
        "the job failed after its completion event went out; it runs once more to complete",
      );
      const rerun = await job
        .retry("failed", { resetAttemptsMade: true, resetAttemptsStarted: true })
        .then(() => true)
        .catch((retryError: unknown) => {
          deps.logger.error({ err: retryError, jobId: job.id }, "could not run the job again");
          return false;
        });
      if (rerun) return;
    }
  }
  const reason = failureReason(job, error);
  deps.metrics?.jobFailed({ reason: reason.code, target: metricTarget(data.target) });
  await recordFailure(job.id, data, reason, deps, enqueuedAt).catch((recordError: unknown) =>
    deps.logger.error({ err: recordError, jobId: job.id }, "could not record the failure"),
  );
}

/** Whether the job's completion event is already in its route's first destination. */
async function completionEventOut(
  jobId: string,
  job: OutpaintJob,
  enqueuedAt: number,
  deps: Pick<OutpaintDeps, "routes">,
): Promise<boolean> {
  const first = job.route[0] === undefined ? undefined : parseRouteDestination(job.route[0]);
  if (!first) return false;
  const eventId = outpaintEventId(COMPLETION_EVENT_TYPE, jobId, enqueuedAt);
  const found =
    first.kind === "queue"
      ? await deps.routes.queue(first.queue).getJob(eventId)
      : await deps.routes.deliveries().getJob(deliveryId(first.endpoint, eventId));
  return found !== undefined && found !== null;
}

function failureReason(job: Job, error: Error): FailureReason {
  if (job.deferredFailure) {
    return {
      code: "stalledTooOften",
      message: `${job.deferredFailure}: its worker stopped while running it ${job.stalledCounter} times`,
      disposition: "retryable",
    };
  }
  if (error instanceof UnrecoverableError) {
    // The step machine's own failures carry their code (what it recorded already has it too).
    const code = (error as { code?: unknown }).code;
    return {
      code: typeof code === "string" ? code : "failed",
      message: error.message,
      disposition: "terminal",
    };
  }
  return { code: "attemptsExhausted", message: error.message, disposition: "retryable" };
}
