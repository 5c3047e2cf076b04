import type { JobsOptions, Queue } from "bullmq";
import { JobValidationError, type JobValidationIssue } from "./errors.ts";
import { OUTPAINT_JOB_NAME } from "./names.ts";
import { type OutpaintJob, type OutpaintJobInput, outpaintJobId, outpaintJobSchema } from "./outpaint-job.ts";

/**
 * Enqueueing is idempotent through BullMQ custom job ids: adding an id that is still in the queue (in
 * any state) is a no-op (anchors A2 "Custom job IDs"). BullMQ does not say whether it added, so the
 * ids are looked up just before the add: `added` is exact for one producer; two producers
 * adding the same work at the same instant may both report it added (the queue still holds one job).
 */

export interface EnqueueOptions {
  /** Larger runs later (BullMQ priority: 1 is the highest). */
  priority?: number;
  /** Milliseconds before the job may start. */
  delay?: number;
}

export interface EnqueueResult {
  jobId: string;
  added: boolean;
}

export interface EnqueueManyResult {
  /** Jobs new to the queue. */
  added: number;
  /** Jobs whose id was already in the queue (same work enqueued before). */
  existing: number;
  /** Inputs that repeat an earlier input of the same call (they are enqueued once). */
  duplicates: number;
  /** The job id of every input, in input order (repeated inputs repeat the id). */
  jobIds: string[];
}

export function parseOutpaintJob(input: unknown, pathPrefix: readonly PropertyKey[] = []): OutpaintJob {
  const parsed = outpaintJobSchema.safeParse(input);
  if (!parsed.success) throw JobValidationError.fromZod(parsed.error, pathPrefix);
  return parsed.data;
}

/** Every invalid input is reported in one error, so a bad manifest is fixed in one pass. */
function parseAll(inputs: readonly OutpaintJobInput[]): OutpaintJob[] {
  const jobs: OutpaintJob[] = [];
  const issues: JobValidationIssue[] = [];
  inputs.forEach((input, index) => {
    try {
      jobs.push(parseOutpaintJob(input, ["inputs", index]));
    } catch (error) {
      if (!(error instanceof JobValidationError)) throw error;
      issues.push(...error.issues);
    }
  });
  if (issues.length > 0) throw new JobValidationError(issues);
  return jobs;
}

export async function enqueueOutpaint(
  queue: Queue,
  input: OutpaintJobInput,
  opts: EnqueueOptions = {},
): Promise<EnqueueResult> {
  const job = parseOutpaintJob(input);
  const jobId = outpaintJobId(job);
  const [existed] = await existingIds(queue, [jobId]);
  await queue.add(OUTPAINT_JOB_NAME, job, { ...jobOptions(opts), jobId });
  return { jobId, added: !existed };
}

/**
 * Validates every input first (nothing is enqueued when one is invalid; the error names
 * `inputs[i].field`), then adds the distinct jobs through `addBulk`, `chunkSize` per MULTI, so a run of
 * 100,000 jobs neither sends one huge transaction nor 100,000 round trips.
 */
export async function enqueueMany(
  queue: Queue,
  inputs: readonly OutpaintJobInput[],
  { chunkSize = 500, ...opts }: EnqueueOptions & { chunkSize?: number } = {},
): Promise<EnqueueManyResult> {
  if (!Number.isInteger(chunkSize) || chunkSize < 1)
    throw new RangeError("chunkSize must be a positive integer");
  const jobs = parseAll(inputs);
  const jobIds = jobs.map(outpaintJobId);
  const distinct = new Map<string, OutpaintJob>();
  jobs.forEach((job, index) => {
    const jobId = jobIds[index]!;
    if (!distinct.has(jobId)) distinct.set(jobId, job);
  });
  const entries = [...distinct];
  let added = 0;
  for (let start = 0; start < entries.length; start += chunkSize) {
    const chunk = entries.slice(start, start + chunkSize);
    const existed = await existingIds(
      queue,
      chunk.map(([jobId]) => jobId),
    );
    await queue.addBulk(
      chunk.map(([jobId, job]) => ({
        name: OUTPAINT_JOB_NAME,
        data: job,
        opts: { ...jobOptions(opts), jobId },
      })),
    );
    added += existed.filter((found) => !found).length;
  }
  return { added, existing: entries.length - added, duplicates: jobs.length - entries.length, jobIds };
}

/** Sent together (one write burst, no waiting in between): one round trip for a whole chunk. */
async function existingIds(queue: Queue, jobIds: readonly string[]): Promise<boolean[]> {
  const client = await queue.getBackend().client;
  const replies = await Promise.all(jobIds.map((jobId) => client.hexists(queue.toKey(jobId), "timestamp")));
  return replies.map((count) => count === 1);
}

function jobOptions(opts: EnqueueOptions): JobsOptions {
  return {
    ...(opts.priority === undefined ? {} : { priority: opts.priority }),
    ...(opts.delay === undefined ? {} : { delay: opts.delay }),
  };
}
