import type { S3Client } from "@aws-sdk/client-s3";
import type { GuardedFetch } from "@reframe/egress";
import {
  type BatchStatus,
  type BatchStore,
  formatIssuePath,
  JobValidationError,
  jobStates,
  type OutpaintJob,
  outpaintJobId,
  parseOutpaintJobs,
} from "@reframe/jobs";
import {
  type EstimateSummary,
  estimateJobs,
  expandJobs,
  inspectSource,
  type JobTemplate,
  type SourceItem,
  type SourceLimits,
  startEstimateTally,
} from "@reframe/sources";
import type { Queue } from "bullmq";
import { type PlannedOutputs, startPlannedOutputs } from "./planned-outputs.ts";
import { RunInputError } from "./run-input-error.ts";
import type { RunSources } from "./run-sources.ts";
import { createSeenJobs, type SeenJobs } from "./seen-jobs.ts";

/**
 * What a run would do, computed without writing anything, as one streaming pass: the sources
 * listed or read chunk by chunk, one job per source and target, where each job already stands in the
 * queue, and the estimate of the jobs that would be added. Only counts and a bounded sample of
 * outputs are kept, so a plan of ten million rows takes the memory of one of a thousand (and 8 bytes
 * a job to count repeats once, seen-jobs.ts). `reframe bulk` prints it and a pipeline run records it;
 * then both read the same sources again (RunSources.again) and register what is missing for
 * admission, chunk by chunk (run-start.ts).
 */

/** What a run asks for, whoever drives it. */
export interface RunRequest {
  /** The batch the run's jobs join: a bulk run's derived id, a pipeline run's run id. */
  batchId: string;
  /** What every job asks for; its labels name the batch (`batchId`) and who made the run. */
  template: JobTemplate;
  /** Estimate the jobs to run (reads each source's header when its size is not known). */
  estimate: boolean;
}

export interface RunPlan {
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
  /** Of the jobs to run; absent without `estimate`. */
  estimate: EstimateSummary | undefined;
  /** The outputs the plan lists (a bounded sample of the jobs to run); absent without `estimate`. */
  planned: PlannedOutputs | undefined;
}

/** Jobs of the plan that are in the queue already (done, failed before, or in flight): not added. */
export function skippedJobs(plan: RunPlan): number {
  return plan.done + plan.failedBefore + plan.inFlightInBatch + plan.inFlightElsewhere;
}

/** A plan whose estimate is over the budget: nothing may be written. */
export interface BudgetRefusal {
  jobsToRun: number;
  estimatedCostUsd: number;
  maxCostUsd: number;
}

/**
 * The one budget rule of runs: refused when the estimate of the jobs to run is over the ceiling. A
 * plan without an estimate, or a run without a ceiling, is never refused here.
 */
export function budgetRefusal(plan: RunPlan, maxCostUsd: number | undefined): BudgetRefusal | undefined {
  const cost = plan.estimate?.costUsd;
  if (maxCostUsd === undefined || cost === undefined || cost <= maxCostUsd) return undefined;
  return { jobsToRun: plan.toRun, estimatedCostUsd: cost, maxCostUsd };
}

export interface PlanDeps {
  s3: S3Client;
  queue: Queue;
  store: BatchStore;
  /** Reads URL sources' headers through the caller's egress guard (its allow-list). */
  sourceFetch?: GuardedFetch["fetch"];
  /** MAX_SOURCE_PIXELS and MAX_SOURCE_BYTES: the estimate refuses what the worker will refuse. */
  sourceLimits: SourceLimits;
  /** After each chunk: sources read and distinct jobs planned so far, and the share read when known. */
  onProgress?: (progress: { sources: number; jobs: number; fraction: number | undefined }) => void;
  signal?: AbortSignal;
}

/** Jobs per chunk of a plan: one state lookup, one estimate round. */
const PLAN_CHUNK = 1000;

/**
 * The plan of a run over its sources (their first read; the caller opens them, and closes them after
 * the run's start). Throws a RunInputError naming every bad row or job once the whole input was read:
 * nothing is written before, and the sources are closed.
 */
export async function planRun(request: RunRequest, sources: RunSources, deps: PlanDeps): Promise<RunPlan> {
  try {
    const { batchId } = request;
    const existingBatch = await deps.store.status(batchId);
    const counts = { sources: 0, jobs: 0, duplicates: 0, done: 0, failedBefore: 0, inFlight: 0 };
    let inFlightInBatch = 0;
    let toRun = 0;
    const tally = request.estimate ? startEstimateTally() : undefined;
    const planned = request.estimate ? startPlannedOutputs() : undefined;

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
        inFlightInBatch += (await deps.store.awaits(batchId, inFlight)).filter(Boolean).length;
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
      for await (const chunk of jobChunks(sources.items(), request.template, seen)) {
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
    return {
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
 * the manifest line or object they came from, in one RunInputError after the last chunk; a source with
 * no targets stops the run at once. The plan and the enqueue read the same sources through this.
 */
export async function* jobChunks(
  items: AsyncIterable<SourceItem>,
  jobTemplate: JobTemplate,
  seen: SeenJobs,
): AsyncGenerator<JobChunk> {
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
      throw new RunInputError(`${item.origin}: no targets (give --target or a targets column)`);
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
    throw new RunInputError([`${invalid.count} invalid jobs:`, ...invalid.shown, ...more].join("\n"));
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
