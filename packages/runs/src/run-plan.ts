import type { S3Client } from "@aws-sdk/client-s3";
import type { GuardedFetch } from "@reframe/egress";
import {
  type BatchStatus,
  type BatchStore,
  batchKeys,
  formatIssuePath,
  JobValidationError,
  jobStates,
  type OutpaintJob,
  outpaintJobId,
  parseOutpaintJobs,
} from "@reframe/jobs";
import type { RedisClient } from "@reframe/redis";
import {
  type EstimateSummary,
  estimateJobs,
  expandJobs,
  inspectSource,
  type SourceItem,
  type SourceLimits,
  startEstimateTally,
} from "@reframe/sources";
import type { S3Area } from "@reframe/storage";
import type { Queue } from "bullmq";
import { UsageError } from "../cli/usage-error.ts";
import { type BulkRequest, type BulkTemplate, deriveBatchId } from "./bulk-request.ts";
import { type BulkSources, openSources } from "./bulk-sources.ts";
import { type PlannedOutputs, startPlannedOutputs } from "./planned-outputs.ts";
import { createSeenJobs, type SeenJobs } from "./seen-jobs.ts";

/**
 * What a bulk run would do, computed without writing anything, as one streaming pass: the sources
 * listed or read chunk by chunk, one job per source and target, where each job already stands in the
 * queue, and the estimate of the jobs that would be added. Only counts and a bounded sample of
 * outputs are kept, so a plan of ten million rows takes the memory of one of a thousand (and 8 bytes
 * a job to count repeats once, seen-jobs.ts). The dry run prints it; the real run then reads the same
 * sources again (BulkSources.again) and enqueues what is missing, chunk by chunk.
 */

export interface BulkPlan {
  batchId: string;
  /** The batch as it stands when the same run was started before. */
  existingBatch: BatchStatus | undefined;
  sources: number;
  /** Distinct jobs (a manifest may name the same work twice). */
  jobs: number;
  duplicates: number;
  done: number;
  failedBefore: number;
  inFlightInBatch: number;
  inFlightElsewhere: number;
  /** Jobs missing from the queue: the ones a run adds. */
  toRun: number;
  /** Of the jobs to run; absent with --no-estimate. */
  estimate: EstimateSummary | undefined;
  /** The outputs the plan lists (a bounded sample of the jobs to run); absent with --no-estimate. */
  planned: PlannedOutputs | undefined;
}

export interface PlanDeps {
  s3: S3Client;
  queue: Queue;
  redis: RedisClient;
  store: BatchStore;
  queuePrefix: string;
  sourceFetch: GuardedFetch["fetch"];
  /** The scratch area: a listing leaves it out, with the run's own output areas. */
  scratch: S3Area[];
  /** MAX_SOURCE_PIXELS and MAX_SOURCE_BYTES: the estimate refuses what the worker will refuse. */
  sourceLimits: SourceLimits;
  /** After each chunk: sources read and distinct jobs planned so far, and the share read when known. */
  onProgress?: (progress: { sources: number; jobs: number; fraction: number | undefined }) => void;
  signal?: AbortSignal;
}

/** Jobs per chunk of a plan: one state lookup, one estimate round. */
const PLAN_CHUNK = 1000;

/**
 * The plan, and the sources to read again for the enqueue (close them when done). Throws a
 * UsageError naming every bad row or job once the whole input was read: nothing is written before.
 */
export async function planBulk(
  request: BulkRequest,
  deps: PlanDeps,
): Promise<{ plan: BulkPlan; sources: BulkSources }> {
  const sources = await openSources(request, deps);
  try {
    const batchId = request.batchId ?? deriveBatchId(request, sources.manifestSha256);
    const existingBatch = await deps.store.status(batchId);
    const counts = { sources: 0, jobs: 0, duplicates: 0, done: 0, failedBefore: 0, inFlight: 0 };
    let inFlightInBatch = 0;
    let toRun = 0;
    const tally = request.estimate ? startEstimateTally() : undefined;
    const planned = request.estimate ? startPlannedOutputs() : undefined;
    const batchJobs = batchKeys(deps.queuePrefix, batchId).jobs;

    const finish = async (chunk: JobChunk, lookup: ReturnType<typeof jobStates>) => {
      const states = await lookup;
      const missing: OutpaintJob[] = [];
      const inFlight: string[] = [];
      chunk.jobs.forEach(({ jobId, job }, index) => {
        const state = states[index];
        if (state === undefined) missing.push(job);
        else if (state === "completed") counts.done += 1;
        else if (state === "failed") counts.failedBefore += 1;
        else inFlight.push(jobId);
      });
      counts.inFlight += inFlight.length;
      toRun += missing.length;
      if (inFlight.length > 0)
        inFlightInBatch += (await deps.redis.smismember(batchJobs, ...inFlight)).filter(
          (flag) => flag === 1,
        ).length;
      if (tally && planned) {
        const estimates = await estimateJobs(missing, {
          dimensionsOf: (source) => {
            deps.signal?.throwIfAborted();
            return inspectSource(source, {
              s3: deps.s3,
              sourceFetch: deps.sourceFetch,
              limits: deps.sourceLimits,
            });
          },
        });
        estimates.forEach((estimate, index) => {
          tally.add(estimate);
          planned.add(missing[index]!, estimate);
        });
      }
      counts.sources += chunk.sources;
      counts.jobs += chunk.jobs.length;
      counts.duplicates += chunk.repeats;
      deps.onProgress?.({ sources: counts.sources, jobs: counts.jobs, fraction: sources.fraction() });
    };

    // Each chunk's lookup goes out as soon as it is expanded, and the next chunk is read and expanded
    // while it travels; chunks are finished one after the other, in order.
    let previous: Promise<void> = Promise.resolve();
    const seen = createSeenJobs();
    try {
      for await (const chunk of jobChunks(sources.items(), request.template, batchId, seen)) {
        deps.signal?.throwIfAborted();
        const lookup = jobStates(
          deps.queue,
          chunk.jobs.map(({ jobId }) => jobId),
        );
        lookup.catch(() => undefined); // awaited in finish; this only keeps it from being "unhandled"
        await previous;
        previous = finish(chunk, lookup);
        previous.catch(() => undefined);
      }
      await previous;
    } finally {
      seen.close();
    }
    const plan: BulkPlan = {
      batchId,
      existingBatch,
      sources: counts.sources,
      jobs: counts.jobs,
      duplicates: counts.duplicates,
      done: counts.done,
      failedBefore: counts.failedBefore,
      inFlightInBatch,
      inFlightElsewhere: counts.inFlight - inFlightInBatch,
      toRun,
      estimate: tally?.summary(),
      planned: planned?.result(),
    };
    return { plan, sources };
  } catch (error) {
    await sources.close();
    throw error;
  }
}

export interface JobChunk {
  /** Sources read for this chunk. */
  sources: number;
  /** The chunk's jobs met for the first time in this run, in order. */
  jobs: { jobId: string; job: OutpaintJob }[];
  /** Jobs of the chunk that repeat one met before (counted once). */
  repeats: number;
}

/** Invalid jobs shown by name; past them they are counted. */
const SHOWN_INVALID = 20;

/**
 * Sources → validated jobs with their ids, about PLAN_CHUNK at a time (a source's jobs stay in one
 * chunk), each distinct job once (`seen`). Every invalid job is counted and the first ones named with
 * the manifest line or object they came from, in one UsageError after the last chunk; a source with
 * no targets stops the run at once. The plan and the enqueue read the same sources through this.
 */
export async function* jobChunks(
  items: AsyncIterable<SourceItem>,
  template: BulkTemplate,
  batchId: string,
  seen: SeenJobs,
): AsyncGenerator<JobChunk> {
  const jobTemplate = { ...template, labels: { batchId, requester: "bulk" } };
  const invalid = { count: 0, shown: [] as string[] };
  let buffer: { items: number; inputs: ReturnType<typeof expandJobs>; origins: string[] } = {
    items: 0,
    inputs: [],
    origins: [],
  };
  const take = (): JobChunk => {
    const { items: sourcesRead, inputs, origins } = buffer;
    buffer = { items: 0, inputs: [], origins: [] };
    const jobs = validated(inputs, origins, invalid);
    if (!jobs) return { sources: sourcesRead, jobs: [], repeats: 0 };
    const distinct: JobChunk["jobs"] = [];
    for (const job of jobs) {
      const jobId = outpaintJobId(job);
      if (seen.add(jobId)) distinct.push({ jobId, job });
    }
    return { sources: sourcesRead, jobs: distinct, repeats: jobs.length - distinct.length };
  };
  for await (const item of items) {
    const jobs = expandJobs([item], jobTemplate);
    if (jobs.length === 0)
      throw new UsageError(`${item.origin}: no targets (give --target or a targets column)`);
    buffer.items += 1;
    for (const job of jobs) {
      buffer.inputs.push(job);
      buffer.origins.push(item.origin);
    }
    if (buffer.inputs.length >= PLAN_CHUNK) yield take();
  }
  if (buffer.items > 0) yield take();
  if (invalid.count > 0) {
    const more = invalid.count > SHOWN_INVALID ? [`  … and ${invalid.count - SHOWN_INVALID} more`] : [];
    throw new UsageError([`${invalid.count} invalid jobs:`, ...invalid.shown, ...more].join("\n"));
  }
}

/** The chunk's jobs, or undefined when one is invalid (then each problem is counted in `invalid`). */
function validated(
  inputs: readonly unknown[],
  origins: readonly string[],
  invalid: { count: number; shown: string[] },
): OutpaintJob[] | undefined {
  try {
    return parseOutpaintJobs(inputs);
  } catch (error) {
    if (!(error instanceof JobValidationError)) throw error;
    // Paths are ["inputs", index, ...field]: the index names the manifest line or object.
    for (const {
      path: [, index, ...field],
      rule,
    } of error.issues) {
      invalid.count += 1;
      if (invalid.shown.length >= SHOWN_INVALID) continue;
      const origin = typeof index === "number" ? origins[index] : undefined;
      invalid.shown.push(
        origin ? `  ${origin}: ${formatIssuePath(field)} ${rule}` : `  ${formatIssuePath(field)}: ${rule}`,
      );
    }
    return undefined;
  }
}
