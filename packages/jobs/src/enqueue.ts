import { luaScript } from "@reframe/redis";
import type { JobsOptions, Queue } from "bullmq";
import type { BatchInfo, BatchStore, SkipReason } from "./batch-store.ts";
import { JobValidationError, type JobValidationIssue } from "./errors.ts";
import { OUTPAINT_JOB_NAME } from "./names.ts";
import { type OutpaintJob, type OutpaintJobInput, outpaintJobId, outpaintJobSchema } from "./outpaint-job.ts";

/**
 * Enqueueing is idempotent through BullMQ custom job ids: adding an id that is still in the queue (in
 * any state) is a no-op (BullMQ's documented behaviour for custom job ids). Each chunk's ids are looked up first, in one
 * round trip (lua/job-states.lua), so that only missing jobs are sent, `added` is exact for one
 * producer, and a batch learns why it skips the others. Two producers adding the same work at the
 * same instant may both count it added (the queue still holds one job).
 */

export interface EnqueueOptions {
  /** Larger runs later (BullMQ priority: 1 is the highest). */
  priority?: number;
  /** Milliseconds before the job may start. */
  delay?: number;
}

/** Where a job already in the queue stands. */
export type ExistingState = "inFlight" | "completed" | "failed";

export interface EnqueueManyResult {
  /** Jobs new to the queue. */
  added: number;
  /** Jobs whose id was already in the queue (same work enqueued before). */
  existing: number;
  /** The same, by state: done, failed, or still in flight. */
  existingByState: Record<ExistingState, number>;
  /** Inputs that repeat an earlier input of the same call (they are enqueued once). */
  duplicates: number;
  /** The job id of every input, in input order (repeated inputs repeat the id). */
  jobIds: string[];
  /** shouldStop said so before every job was handled: `added` and `existing` count the chunks done. */
  stopped: boolean;
}

export interface EnqueueManyOptions extends EnqueueOptions {
  /** Jobs per round trip (one state lookup and one addBulk MULTI). */
  chunkSize?: number;
  /** The batch that awaits the added jobs; their labels.batchId must name it. */
  batch?: { store: BatchStore; batchId: string };
  /** After each chunk: distinct jobs handled so far, of how many, and how many of them were added. */
  onProgress?: (done: number, total: number, added: number) => void;
  /** Asked before each chunk: true stops there (a Ctrl-C), with what is added so far in the result. */
  shouldStop?: () => boolean;
}

/**
 * Jobs this parser returned. A producer validates its jobs when it plans them and again when
 * enqueueing them; a job already parsed here is taken as it is (a 100,000-row bulk run spent a third
 * of its time validating twice). Parsed jobs are not to be changed afterwards: make a new input.
 */
const parsedJobs = new WeakSet<object>();

export function parseOutpaintJob(input: unknown, pathPrefix: readonly PropertyKey[] = []): OutpaintJob {
  if (typeof input === "object" && input !== null && parsedJobs.has(input)) return input as OutpaintJob;
  const parsed = outpaintJobSchema.safeParse(input);
  if (!parsed.success) throw JobValidationError.fromZod(parsed.error, pathPrefix);
  parsedJobs.add(parsed.data);
  return parsed.data;
}

/**
 * Every invalid input is reported in one error (fields named `inputs[i].field`), so a bad manifest is
 * fixed in one pass. The job schema is a strict object of independent fields, so each field is parsed
 * on its own and a raw value seen before in this call reuses its result: the jobs of one run share
 * their target, output, options, route and labels, and 100,000 of them validate in a fraction of the
 * time. An input that fails is parsed whole again, for the usual issue paths.
 */
export function parseOutpaintJobs(inputs: readonly unknown[]): OutpaintJob[] {
  const jobs: OutpaintJob[] = [];
  const issues: JobValidationIssue[] = [];
  const seen = new Map<string, Map<unknown, unknown>>(JOB_FIELDS.map((field) => [field, new Map()]));
  inputs.forEach((input, index) => {
    const job = parsedJobs.has(input as object) ? (input as OutpaintJob) : parseByField(input, seen);
    if (job) {
      jobs.push(job);
      return;
    }
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

const JOB_FIELDS = Object.keys(outpaintJobSchema.shape) as (keyof OutpaintJob)[];

/** The job, or undefined when any field fails (or an unknown field is there): then parse it whole. */
function parseByField(input: unknown, seen: Map<string, Map<unknown, unknown>>): OutpaintJob | undefined {
  if (typeof input !== "object" || input === null || Array.isArray(input)) return undefined;
  const record = input as Record<string, unknown>;
  for (const key in record) if (!(JOB_FIELDS as string[]).includes(key)) return undefined;
  const job: Record<string, unknown> = {};
  for (const field of JOB_FIELDS) {
    const raw = record[field];
    // The source is each job's own; the other fields repeat across a run's jobs, often as the
    // same object (looked up by reference first), else as equal JSON.
    const memo = field === "source" ? undefined : seen.get(field)!;
    let value = memo?.get(raw);
    const key = memo && value === undefined ? String(JSON.stringify(raw)) : undefined;
    if (key !== undefined) value = memo!.get(key);
    if (value === undefined) {
      const parsed = outpaintJobSchema.shape[field].safeParse(raw);
      if (!parsed.success) return undefined;
      value = parsed.data;
      if (key !== undefined) memo!.set(key, value);
    }
    if (memo && typeof raw === "object" && raw !== null) memo.set(raw, value);
    job[field] = value;
  }
  parsedJobs.add(job);
  return job as OutpaintJob;
}

/**
 * Validates every input first (nothing is enqueued when one is invalid), then adds the distinct
 * missing jobs through `addBulk`, `chunkSize` per MULTI, so a run of 100,000 jobs neither sends one
 * huge transaction nor 100,000 round trips. With a batch, each chunk's new jobs become its pending
 * members before they are added (a job that ends at once still finds itself awaited).
 */
export async function enqueueMany(
  queue: Queue,
  inputs: readonly (OutpaintJobInput | OutpaintJob)[],
  { chunkSize = 500, batch, onProgress, shouldStop, ...opts }: EnqueueManyOptions = {},
): Promise<EnqueueManyResult> {
  if (!Number.isInteger(chunkSize) || chunkSize < 1)
    throw new RangeError("chunkSize must be a positive integer");
  const jobs = parseOutpaintJobs(inputs);
  const jobIds = jobs.map(outpaintJobId);
  const distinct = new Map<string, OutpaintJob>();
  jobs.forEach((job, index) => {
    const jobId = jobIds[index]!;
    if (!distinct.has(jobId)) distinct.set(jobId, job);
  });
  const entries = [...distinct];
  const stranger = batch && entries.find(([, job]) => job.labels.batchId !== batch.batchId);
  if (stranger) {
    throw new TypeError(`job ${stranger[0]}: labels.batchId must be ${batch!.batchId} to join that batch`);
  }
  const existingByState: Record<ExistingState, number> = { inFlight: 0, completed: 0, failed: 0 };
  let added = 0;
  let handled = 0;
  const lookUp = (start: number) => {
    const lookup = jobStates(
      queue,
      entries.slice(start, start + chunkSize).map(([jobId]) => jobId),
    );
    lookup.catch(() => undefined); // awaited below; this only keeps it from being "unhandled" meanwhile
    return lookup;
  };
  let nextStates = lookUp(0);
  for (let start = 0; start < entries.length; start += chunkSize) {
    if (shouldStop?.()) break;
    const chunk = entries.slice(start, start + chunkSize);
    const states = await nextStates;
    // The next chunk's lookup goes out now and travels with this chunk's add: its ids are others
    // (duplicates were removed above), so the add cannot change its answer. One round trip saved
    // per chunk; a 100,000-row bulk run was 30% slower than a raw addBulk without it.
    if (start + chunkSize < entries.length) nextStates = lookUp(start + chunkSize);
    const missing = await joinChunk(chunk, states, batch, existingByState);
    if (missing.length > 0) await queue.addBulk(bulkJobs(missing, opts));
    added += missing.length;
    handled = start + chunk.length;
    onProgress?.(handled, entries.length, added);
  }
  return {
    added,
    existing: handled - added,
    existingByState,
    duplicates: jobs.length - entries.length,
    jobIds,
    stopped: handled < entries.length,
  };
}

/** A job with its id (outpaintJobId), as enqueueing and the admission stream carry them. */
export type IdentifiedJob = readonly [jobId: string, job: OutpaintJob];

/**
 * Adds distinct, already validated jobs of a batch (a window's slice of its admission stream) with
 * no stop between chunks: every chunk is looked up and joins the batch first, all at once, then the
 * missing jobs are added with two addBulk calls in flight, so that Redis runs one chunk's adds while
 * the next chunk's are serialized here. A crash in between leaves jobs pending that are not in the
 * queue yet: the same slice admitted again adds them (they are still missing) and counts them once.
 */
export async function addToBatch(
  queue: Queue,
  entries: readonly IdentifiedJob[],
  { chunkSize, batch }: { chunkSize: number; batch: { store: BatchStore; batchId: string } },
): Promise<{ added: number; existing: number; existingByState: Record<ExistingState, number> }> {
  const existingByState: Record<ExistingState, number> = { inFlight: 0, completed: 0, failed: 0 };
  const chunks: IdentifiedJob[][] = [];
  for (let start = 0; start < entries.length; start += chunkSize)
    chunks.push(entries.slice(start, start + chunkSize));
  const missing = await Promise.all(
    chunks.map(async (chunk) =>
      joinChunk(
        chunk,
        await jobStates(
          queue,
          chunk.map(([jobId]) => jobId),
        ),
        batch,
        existingByState,
      ),
    ),
  );
  let inFlight: Promise<unknown> = Promise.resolve();
  let added = 0;
  for (const jobs of missing) {
    if (jobs.length === 0) continue;
    const adding = queue.addBulk(bulkJobs(jobs, {}));
    adding.catch(() => undefined); // awaited next round or below
    await inFlight;
    inFlight = adding;
    added += jobs.length;
  }
  await inFlight;
  return { added, existing: entries.length - added, existingByState };
}

/**
 * One chunk's jobs by where they stand (`states`, from jobStates): the missing ones are returned to
 * be added, after they become the batch's pending members and the others its skipped ones.
 */
async function joinChunk(
  chunk: readonly IdentifiedJob[],
  states: readonly (ExistingState | undefined)[],
  batch: { store: BatchStore; batchId: string } | undefined,
  existingByState: Record<ExistingState, number>,
): Promise<IdentifiedJob[]> {
  const missing = chunk.filter((_, index) => states[index] === undefined);
  for (const state of states) if (state) existingByState[state] += 1;
  if (batch) {
    await batch.store.addJobs(batch.batchId, {
      awaited: missing.map(([jobId]) => jobId),
      skipped: chunk.flatMap(([jobId], index) => {
        const state = states[index];
        return state ? [{ jobId, reason: SKIP_REASON[state] }] : [];
      }),
    });
  }
  return missing;
}

function bulkJobs(jobs: readonly IdentifiedJob[], opts: EnqueueOptions) {
  const options = jobOptions(opts);
  return jobs.map(([jobId, job]) => ({ name: OUTPAINT_JOB_NAME, data: job, opts: { ...options, jobId } }));
}

const SKIP_REASON: Record<ExistingState, SkipReason> = {
  completed: "done",
  failed: "failed",
  inFlight: "inFlight",
};

const JOB_STATES = luaScript(new URL("./lua/job-states.lua", import.meta.url));
const JOB_STATES_COMMAND = "reframeJobStates";
const STATE_CODES: (ExistingState | undefined)[] = [undefined, "inFlight", "completed", "failed"];
const clientsWithJobStates = new WeakSet<object>();

/**
 * Where each job is (undefined: not in the queue), in one round trip. Runs on the queue's own client
 * through BullMQ's client interface (defineCommand/runCommand), whichever Redis client it wraps.
 */
export async function jobStates(
  queue: Queue,
  jobIds: readonly string[],
): Promise<(ExistingState | undefined)[]> {
  if (jobIds.length === 0) return [];
  const client = await queue.getBackend().client;
  if (!clientsWithJobStates.has(client)) {
    client.defineCommand(JOB_STATES_COMMAND, { numberOfKeys: 2, lua: JOB_STATES.source });
    clientsWithJobStates.add(client);
  }
  const codes = (await client.runCommand(JOB_STATES_COMMAND, [
    queue.toKey("completed"),
    queue.toKey("failed"),
    queue.toKey(""),
    ...jobIds,
  ])) as number[];
  return codes.map((code) => STATE_CODES[code]);
}

/**
 * jobStates for any number of ids: chunks of `chunkSize`, `inFlight` of them at once (each is one
 * round trip; waiting for them one by one was most of a 100,000-row plan's lookup time).
 */
export async function jobStatesInChunks(
  queue: Queue,
  jobIds: readonly string[],
  {
    chunkSize = 1000,
    inFlight = 4,
    onChunk,
    signal,
  }: {
    chunkSize?: number;
    inFlight?: number;
    onChunk?: (done: number, total: number) => void;
    signal?: AbortSignal;
  } = {},
): Promise<(ExistingState | undefined)[]> {
  const states: (ExistingState | undefined)[] = new Array(jobIds.length);
  let next = 0;
  let done = 0;
  await Promise.all(
    Array.from({ length: Math.min(inFlight, Math.ceil(jobIds.length / chunkSize)) }, async () => {
      while (next < jobIds.length) {
        signal?.throwIfAborted();
        const start = next;
        next += chunkSize;
        const chunk = await jobStates(queue, jobIds.slice(start, start + chunkSize));
        chunk.forEach((state, index) => {
          states[start + index] = state;
        });
        done += chunk.length;
        onChunk?.(done, jobIds.length);
      }
    }),
  );
  return states;
}

function jobOptions(opts: EnqueueOptions): JobsOptions {
  return {
    ...(opts.priority === undefined ? {} : { priority: opts.priority }),
    ...(opts.delay === undefined ? {} : { delay: opts.delay }),
  };
}

/**
 * Jobs enqueued by hand (the API, `reframe enqueue --batch`) join the batch their labels.batchId
 * names, opened on first use and never sealed: more jobs may join it later. Jobs without one are
 * enqueued as they are. Ids come back in input order.
 */
export async function enqueueIntoLabelledBatches(
  queue: Queue,
  batches: BatchStore,
  jobs: readonly OutpaintJob[],
  kind: BatchInfo["kind"],
): Promise<{ added: number; existing: number; jobIds: string[] }> {
  const groups = Map.groupBy(jobs.entries(), ([, job]) => job.labels.batchId);
  const jobIds: string[] = new Array(jobs.length);
  let added = 0;
  let existing = 0;
  for (const [batchId, entries] of groups) {
    if (batchId) await batches.open(batchId, { kind, createdAt: Date.now() });
    const result = await enqueueMany(
      queue,
      entries.map(([, job]) => job),
      batchId ? { batch: { store: batches, batchId } } : {},
    );
    entries.forEach(([index], position) => {
      jobIds[index] = result.jobIds[position]!;
    });
    added += result.added;
    existing += result.existing;
  }
  return { added, existing, jobIds };
}
