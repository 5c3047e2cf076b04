import { parseTargetSpec } from "@reframe/geometry";
import {
  type BatchStore,
  enqueueIntoLabelledBatches,
  JobValidationError,
  type OutpaintJobInput,
  parseOutpaintJob,
} from "@reframe/jobs";
import type { Job, Queue } from "bullmq";
import { parseSourceSpec, UsageError } from "./source-spec.ts";

export interface EnqueueFlags {
  source: string;
  target: string;
  anchor?: string;
  bucket?: string;
  prefix?: string;
  format?: string;
  quality?: string;
  variants?: string;
  mode?: string;
  route?: string;
  batch?: string;
}

/** Builds the job from flags; the schema in @reframe/jobs does the validation and names the field. */
export function jobFromFlags(flags: EnqueueFlags, defaultBucket: string | undefined): OutpaintJobInput {
  const target = parseTargetSpec(flags.target);
  if (!target.ok) throw new UsageError(`--target ${flags.target}: ${target.message}`);
  const bucket = flags.bucket ?? defaultBucket;
  if (!bucket) throw new UsageError("--bucket is required (or set OUTPUT_BUCKET)");
  const withAnchor =
    flags.anchor && target.target.kind !== "margins"
      ? { ...target.target, anchor: flags.anchor }
      : target.target;
  return {
    source: parseSourceSpec(flags.source),
    target: withAnchor,
    output: {
      bucket,
      ...(flags.prefix === undefined ? {} : { prefix: flags.prefix }),
      ...(flags.format === undefined ? {} : { format: flags.format.toUpperCase() }),
      ...(flags.quality === undefined ? {} : { quality: Number(flags.quality) }),
    },
    options: {
      ...(flags.variants === undefined ? {} : { variants: Number(flags.variants) }),
      ...(flags.mode === undefined ? {} : { mode: flags.mode }),
    },
    route: flags.route
      ? flags.route
          .split(",")
          .map((name) => name.trim())
          .filter(Boolean)
      : [],
    labels: { requester: "cli", ...(flags.batch ? { batchId: flags.batch } : {}) },
  } as OutpaintJobInput;
}

/** One job; with --batch it joins that batch (opened on first use), so `reframe batch status` counts it. */
export async function enqueueCommand(
  queue: Queue,
  batches: BatchStore,
  input: OutpaintJobInput,
): Promise<{ jobId: string; added: boolean }> {
  try {
    const { added, jobIds } = await enqueueIntoLabelledBatches(
      queue,
      batches,
      [parseOutpaintJob(input)],
      "cli",
    );
    return { jobId: jobIds[0]!, added: added === 1 };
  } catch (error) {
    if (error instanceof JobValidationError) throw new UsageError(error.message);
    throw error;
  }
}

export interface JobStatus {
  jobId: string;
  state: string;
  step: string | undefined;
  outputs: { bucket: string; key: string; width: number; height: number; size: number }[];
  failedReason: string | undefined;
  costUsd: number | undefined;
}

export async function jobStatus(queue: Queue, jobId: string): Promise<JobStatus | undefined> {
  const job: Job | undefined = await queue.getJob(jobId);
  if (!job) return undefined;
  const state = await job.getState();
  const result = job.returnvalue as
    | {
        bucket: string;
        costUsd: number;
        variants: { key: string; width: number; height: number; size: number }[];
      }
    | null
    | undefined;
  return {
    jobId,
    state,
    step: (job.data as { state?: { step?: string } }).state?.step,
    outputs: result?.variants.map((variant) => ({ bucket: result.bucket, ...variant })) ?? [],
    failedReason: job.failedReason || undefined,
    costUsd: result?.costUsd,
  };
}

const FINAL_STATES = new Set(["completed", "failed"]);

/** Follows a job to its end, reporting each change of state or step. */
export async function waitForJob(
  queue: Queue,
  jobId: string,
  onChange: (status: JobStatus) => void,
  { pollMs = 250, timeoutMs = 30 * 60_000 }: { pollMs?: number; timeoutMs?: number } = {},
): Promise<JobStatus> {
  const deadline = Date.now() + timeoutMs;
  let last = "";
  for (;;) {
    const status = await jobStatus(queue, jobId);
    if (!status) throw new UsageError(`no job ${jobId} (it may have been removed by retention)`);
    const signature = `${status.state}/${status.step}`;
    if (signature !== last) onChange(status);
    last = signature;
    if (FINAL_STATES.has(status.state)) return status;
    if (Date.now() > deadline) throw new Error(`job ${jobId} did not finish within ${timeoutMs} ms`);
    await new Promise((resolve) => setTimeout(resolve, pollMs));
  }
}
