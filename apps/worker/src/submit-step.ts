import { type JobPlan, type OutpaintJob, type TaskState, toOutcomeRecord } from "@reframe/jobs";
import { backoffMs } from "@reframe/reachability";
import {
  type ImageInferenceTask,
  isOutage,
  isStorageTaskError,
  ProviderError,
  RUNWARE_OUTPAINTING_MODEL,
  type TaskAnswer,
  taskWebhookURL,
} from "@reframe/runware";
import {
  presignExpirySeconds,
  presignOutputUpload,
  presignSourceDownload,
  s3OutageNow,
} from "@reframe/storage";
import type { StepEvent } from "./step-machine.ts";
import type { OutpaintDeps } from "./worker-deps.ts";

export async function buildProviderTask(
  job: OutpaintJob,
  plan: JobPlan,
  task: TaskState,
  deps: OutpaintDeps,
): Promise<ImageInferenceTask> {
  // The URLs die by the task's deadline and never later: past it the task is
  // redone under a new generation that writes the same key, and the old task must no longer be able
  // to. A deadline already passed throws PresignDeadlineError; the job's next run redoes the task.
  const signedAt = deps.now();
  const expiresInSeconds = presignExpirySeconds({ deadline: task.deadline, signedAt });
  const image =
    plan.sourceRef.kind === "url"
      ? plan.sourceRef.url
      : await presignSourceDownload({
          client: deps.s3,
          bucket: plan.sourceRef.bucket,
          key: plan.sourceRef.key,
          expiresInSeconds,
          signedAt,
        });
  const uploadEndpoint = await presignOutputUpload({
    client: deps.s3,
    bucket: job.output.bucket,
    key: task.key,
    expiresInSeconds,
    signedAt,
  });
  return {
    taskType: "imageInference",
    taskUUID: task.taskUUID,
    model: RUNWARE_OUTPAINTING_MODEL,
    deliveryMethod: "async",
    numberResults: 1,
    includeCost: true,
    inputs: { image },
    outpaint: plan.margins,
    settings: { autoCrop: job.options.autoCrop, mode: job.options.mode },
    outputType: "URL",
    outputFormat: job.output.format,
    outputQuality: job.output.quality,
    uploadEndpoint,
    ...(job.options.ttl === undefined ? {} : { ttl: job.options.ttl }),
    ...(job.options.safety ? { safety: { checkContent: true } } : {}),
    ...(job.options.watermark ? { advancedFeatures: { watermark: job.options.watermark } } : {}),
    ...(deps.webhook ? { webhookURL: taskWebhookURL({ ...deps.webhook, taskUUID: task.taskUUID }) } : {}),
  } as ImageInferenceTask;
}

/** What the provider said to a submit: the machine's `sent` event (step-machine.ts). */
export type SubmitResult = Extract<StepEvent, { kind: "sent" }>;

/**
 * Sends the provider tasks of a parked job (the caller built them — presigning can fail, and must
 * fail before the job is parked — then saved the state, registered the tasks and moved the job to
 * delayed) and records what the provider said. Per-task answers that end a task (a validation error)
 * are stored as outcomes, like a webhook would, so the job's next run reads them like any other.
 */
export async function sendTasks(
  jobId: string,
  toSend: TaskState[],
  providerTasks: ImageInferenceTask[],
  deps: OutpaintDeps,
  /** A bucket of the job's, to ask S3 whether it is out (see below). */
  bucket: string,
): Promise<SubmitResult> {
  for (const task of providerTasks) deps.logger.debug({ jobId, task }, "submitting a provider task");
  const settled = await Promise.allSettled(providerTasks.map((task) => deps.batcher.submit(task)));
  const confirmed = new Set<string>();
  let retryAfterMs = 0;
  let requestFailed = false;
  let pause: ProviderError | undefined;
  let storedOutcome = false;
  const outage: string[] = [];
  const storageFailed: string[] = [];
  for (const [index, result] of settled.entries()) {
    const task = toSend[index]!;
    // A request lost to a provider outage: its attempt is given back (step-machine.ts `sent`).
    if (result.status === "rejected" && isOutage(result.reason)) outage.push(task.taskUUID);
    // A request that failed as a whole answered each of its tasks with its error.
    const answer: TaskAnswer =
      result.status === "fulfilled"
        ? result.value
        : { kind: "failed", taskUUID: task.taskUUID, error: toProviderError(result.reason, task.taskUUID) };
    const reading = toOutcomeRecord(answer, "sync", deps.now());
    switch (reading.kind) {
      case "running":
        confirmed.add(task.taskUUID);
        break;
      case "store":
        // A sync result means the provider took the task; a terminal refusal means it did not.
        if (reading.record.kind === "success") confirmed.add(task.taskUUID);
        await deps.taskStore.storeOutcome(task.taskUUID, reading.record);
        storedOutcome = true;
        break;
      case "pause":
        pause = reading.error;
        break;
      case "later":
        if (isStorageTaskError(reading.error.code)) storageFailed.push(task.taskUUID);
        requestFailed = true;
        retryAfterMs = Math.max(retryAfterMs, reading.error.retryAfterMs ?? 0);
        break;
      default:
        throw new Error(`unhandled reading ${JSON.stringify(reading satisfies never)}`);
    }
  }
  // The provider could not fetch the source through its presigned URL (downloadFailed): when S3 itself
  // is out (its breaker open, or a HeadBucket unanswered), the attempt is not spent either, and the
  // job tries again after the backoff.
  if (
    storageFailed.length > 0 &&
    (deps.storageBreaker?.openState() !== undefined || (await s3OutageNow(deps.s3, bucket)) !== undefined)
  )
    outage.push(...storageFailed);
  const next: SubmitResult = { kind: "sent", confirmed: [...confirmed], storedOutcome, outage };
  if (pause) next.pause = { code: pause.code, message: pause.message };
  if (requestFailed) next.retryAt = deps.now() + submitBackoffMs(toSend, retryAfterMs);
  return next;
}

function toProviderError(reason: unknown, taskUUID: string): ProviderError {
  if (reason instanceof ProviderError) return reason;
  const message = reason instanceof Error ? reason.message : String(reason);
  return new ProviderError({
    code: "submitFailed",
    message,
    taskUUID,
    disposition: "retryable",
    category: "connection",
  });
}

/** Exponential from 1 s, capped at 60 s, with full jitter; never earlier than Retry-After. */
function submitBackoffMs(tasks: TaskState[], retryAfterMs: number): number {
  const attempts = Math.max(1, ...tasks.map((task) => task.submitAttempts));
  return Math.max(retryAfterMs, backoffMs({ baseMs: 1000, maxMs: 60_000, jitter: 0.5 }, attempts - 1));
}
