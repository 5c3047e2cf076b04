import type { OutpaintJob } from "@reframe/jobs";
import {
  type ImageInferenceTask,
  isOutage,
  ProviderError,
  RUNWARE_OUTPAINTING_MODEL,
  type TaskOutcome,
  taskWebhookURL,
} from "@reframe/runware";
import { presignExpirySeconds, presignOutputUpload, presignSourceDownload } from "@reframe/storage";
import type { Job } from "bullmq";
import type { JobPlan, StepState, TaskState } from "./step-state.ts";
import type { OutpaintDeps } from "./worker-deps.ts";

export async function buildProviderTask(
  job: OutpaintJob,
  plan: JobPlan,
  task: TaskState,
  deps: OutpaintDeps,
): Promise<ImageInferenceTask> {
  // The URLs die by the task's deadline and never later (design.md "Storage"): past it the task is
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

export interface SubmitResult {
  state: StepState;
  /** When the request as a whole failed and should be tried again, no earlier than this. */
  retryAt?: number;
  /** The provider refused the account (credits, key): the queue must pause. */
  pause?: ProviderError;
  /** An outcome was stored from the answer itself (a sync result, a task's error). */
  storedOutcome: boolean;
  /** Tasks whose request failed for a provider outage: their attempt is given back (not spent). */
  outage: string[];
}

/**
 * Sends the provider tasks of a parked job (the caller built them — presigning can fail, and must
 * fail before the job is parked — then saved the state, registered the tasks and moved the job to
 * delayed) and records what the provider said. Per-task answers that end a task (a validation error)
 * are stored as outcomes, like a webhook would, so the job's next run reads them like any other.
 */
export async function sendTasks(
  jobId: string,
  state: StepState,
  toSend: TaskState[],
  providerTasks: ImageInferenceTask[],
  deps: OutpaintDeps,
): Promise<SubmitResult> {
  for (const task of providerTasks) deps.logger.debug({ jobId, task }, "submitting a provider task");
  const settled = await Promise.allSettled(providerTasks.map((task) => deps.batcher.submit(task)));
  const confirmed = new Set<string>();
  let retryAfterMs = 0;
  let requestFailed = false;
  let pause: ProviderError | undefined;
  let storedOutcome = false;
  const outage: string[] = [];
  for (const [index, result] of settled.entries()) {
    const task = toSend[index]!;
    if (result.status === "rejected") {
      if (isOutage(result.reason)) outage.push(task.taskUUID);
      const error = toProviderError(result.reason, task.taskUUID);
      if (error.disposition === "pause") pause = error;
      else if (error.disposition === "terminal") {
        await storeTaskError(task.taskUUID, error, deps);
        storedOutcome = true;
      } else requestFailed = true;
      retryAfterMs = Math.max(retryAfterMs, error.retryAfterMs ?? 0);
      continue;
    }
    const outcome: TaskOutcome = result.value;
    if (await recordOutcome(task, outcome, deps, confirmed)) storedOutcome = true;
    if (outcome.kind === "failed" && outcome.error.disposition === "pause") pause = outcome.error;
  }
  const tasks = state.tasks.map((task) =>
    confirmed.has(task.taskUUID) ? { ...task, confirmed: true } : task,
  );
  const next: SubmitResult = { state: { ...state, tasks }, storedOutcome, outage };
  if (pause) next.pause = pause;
  if (requestFailed) next.retryAt = deps.now() + submitBackoffMs(toSend, retryAfterMs);
  return next;
}

async function recordOutcome(
  task: TaskState,
  outcome: TaskOutcome,
  deps: OutpaintDeps,
  confirmed: Set<string>,
): Promise<boolean> {
  const receivedAt = deps.now();
  switch (outcome.kind) {
    case "accepted":
    case "alreadyAccepted":
    case "processing":
      confirmed.add(task.taskUUID);
      return false;
    case "completed": {
      confirmed.add(task.taskUUID);
      const [result] = outcome.results;
      if (!result) return false;
      await deps.taskStore.storeOutcome(task.taskUUID, { kind: "success", result, receivedAt, via: "sync" });
      return true;
    }
    case "failed":
      if (outcome.error.disposition !== "terminal") return false;
      await storeTaskError(task.taskUUID, outcome.error, deps);
      return true;
    default:
      return assertNever(outcome);
  }
}

async function storeTaskError(taskUUID: string, error: ProviderError, deps: OutpaintDeps): Promise<void> {
  await deps.taskStore.storeOutcome(taskUUID, {
    kind: "error",
    error: { code: error.code, message: error.message },
    receivedAt: deps.now(),
    via: "sync",
  });
}

/** An attempt lost to an outage is not spent: TASK_MAX_SUBMIT_ATTEMPTS counts the provider's refusals only. */
export function giveBackAttempts(state: StepState, taskUUIDs: readonly string[]): StepState {
  if (taskUUIDs.length === 0) return state;
  const given = new Set(taskUUIDs);
  const tasks = state.tasks.map((task) =>
    given.has(task.taskUUID) ? { ...task, submitAttempts: Math.max(0, task.submitAttempts - 1) } : task,
  );
  return { ...state, tasks };
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
  const exponential = Math.min(60_000, 1000 * 2 ** (attempts - 1));
  return Math.max(retryAfterMs, Math.round(exponential * (0.5 + Math.random() * 0.5)));
}

function assertNever(value: never): never {
  throw new Error(`unhandled outcome ${JSON.stringify(value)}`);
}

export type { Job };
