import { readFile } from "node:fs/promises";
import type { S3Client } from "@aws-sdk/client-s3";
import type { GuardedFetch } from "@reframe/egress";
import {
  type BatchStatus,
  type BatchStore,
  batchKeys,
  type ExistingState,
  formatIssuePath,
  JobValidationError,
  jobStatesInChunks,
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
  type JobEstimate,
  ManifestError,
  outputAreasOf,
  parseManifest,
  prefixItems,
  type SourceItem,
  type SourceLimits,
  summarizeEstimates,
} from "@reframe/sources";
import type { S3Area } from "@reframe/storage";
import type { Queue } from "bullmq";
import { UsageError } from "../cli/usage-error.ts";
import { type BulkRequest, type BulkTemplate, deriveBatchId } from "./bulk-request.ts";

/**
 * What a bulk run would do, computed without writing anything: the sources listed or parsed, one job
 * per source and target, where each job already stands in the queue, and the estimate of the jobs
 * that would be added. The dry run prints it; the real run enqueues `toRun` after printing it.
 */

export interface BulkPlan {
  batchId: string;
  /** The batch as it stands when the same run was started before. */
  existingBatch: BatchStatus | undefined;
  sources: number;
  /** Distinct jobs (a manifest may name the same work twice). */
  jobs: OutpaintJob[];
  jobIds: string[];
  duplicates: number;
  done: number;
  failedBefore: number;
  inFlightInBatch: number;
  inFlightElsewhere: number;
  /** Jobs missing from the queue: the ones a run adds. */
  toRun: { jobId: string; job: OutpaintJob }[];
  /** Of `toRun`; absent with --no-estimate. */
  estimate: EstimateSummary | undefined;
  /** Each job of `toRun`'s estimate, in the same order (its scale, generated share, cost); absent with --no-estimate. */
  estimates: JobEstimate[] | undefined;
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
  onProgress?: (phase: "listing" | "checking" | "estimating", done: number, total?: number) => void;
  signal?: AbortSignal;
}

const STATE_CHUNK = 1000;

export async function planBulk(request: BulkRequest, deps: PlanDeps): Promise<BulkPlan> {
  const { items, manifestText } = await readSources(request, deps);
  const batchId = request.batchId ?? deriveBatchId(request, manifestText);
  const jobs = expandAndValidate(items, request.template, batchId);
  const byId = new Map<string, OutpaintJob>();
  for (const job of jobs) {
    const jobId = outpaintJobId(job);
    if (!byId.has(jobId)) byId.set(jobId, job);
  }
  const jobIds = [...byId.keys()];
  const counts = { done: 0, failedBefore: 0, inFlight: [] as string[] };
  const toRun: BulkPlan["toRun"] = [];
  const states = await jobStatesInChunks(deps.queue, jobIds, {
    chunkSize: STATE_CHUNK,
    onChunk: (done, total) => deps.onProgress?.("checking", done, total),
    ...(deps.signal ? { signal: deps.signal } : {}),
  });
  jobIds.forEach((jobId, index) => {
    tally(jobId, states[index], byId, counts, toRun);
  });
  const inFlightInBatch = await membersOf(deps, batchId, counts.inFlight);
  const existingBatch = await deps.store.status(batchId);
  const estimates = request.estimate ? await estimateToRun(toRun, deps) : undefined;
  return {
    batchId,
    existingBatch,
    sources: items.length,
    jobs: [...byId.values()],
    jobIds,
    duplicates: jobs.length - byId.size,
    done: counts.done,
    failedBefore: counts.failedBefore,
    inFlightInBatch,
    inFlightElsewhere: counts.inFlight.length - inFlightInBatch,
    toRun,
    estimate: estimates && summarizeEstimates(estimates),
    estimates,
  };
}

function tally(
  jobId: string,
  state: ExistingState | undefined,
  byId: Map<string, OutpaintJob>,
  counts: { done: number; failedBefore: number; inFlight: string[] },
  toRun: BulkPlan["toRun"],
): void {
  switch (state) {
    case undefined:
      toRun.push({ jobId, job: byId.get(jobId)! });
      return;
    case "completed":
      counts.done += 1;
      return;
    case "failed":
      counts.failedBefore += 1;
      return;
    case "inFlight":
      counts.inFlight.push(jobId);
      return;
    default:
      throw new Error(`unknown job state ${JSON.stringify(state satisfies never)}`);
  }
}

async function readSources(
  request: BulkRequest,
  deps: PlanDeps,
): Promise<{ items: SourceItem[]; manifestText?: string }> {
  const { sources } = request;
  if (sources.kind === "manifest") {
    let text: string;
    try {
      text = await readFile(sources.path, "utf8");
    } catch (error) {
      throw new UsageError(`--manifest ${sources.path}: ${(error as Error).message}`);
    }
    try {
      const items = parseManifest(text, {
        name: sources.path,
        format: sources.format,
        ...(sources.sourceBucket ? { defaultBucket: sources.sourceBucket } : {}),
      });
      return { items, manifestText: text };
    } catch (error) {
      if (error instanceof ManifestError) throw new UsageError(error.message);
      throw error;
    }
  }
  // Where this run writes (storage's outputAreaOf, as for pipelines): a listing leaves it out, so a
  // run over a bucket it also writes to never takes its own outputs for sources.
  const own = outputAreasOf(request.template);
  if (own.some((area) => area.bucket === sources.bucket && area.prefix === ""))
    throw new UsageError(
      `outputs would be written among the sources of s3://${sources.bucket}/: give --prefix, a --bucket of their own, or a --key-template that starts with a fixed folder`,
    );
  const items: SourceItem[] = [];
  for await (const item of prefixItems(deps.s3, sources, {
    neverSources: [...own, ...deps.scratch],
    ...(deps.signal ? { signal: deps.signal } : {}),
  })) {
    items.push(item);
    if (items.length % 1000 === 0) deps.onProgress?.("listing", items.length);
  }
  deps.onProgress?.("listing", items.length);
  return { items };
}

/** One job per source and target; a bad job names the manifest line or object it came from. */
function expandAndValidate(
  items: readonly SourceItem[],
  template: BulkTemplate,
  batchId: string,
): OutpaintJob[] {
  const origins: string[] = [];
  const inputs = items.flatMap((item) => {
    const jobs = expandJobs([item], { ...template, labels: { batchId, requester: "bulk" } });
    if (jobs.length === 0)
      throw new UsageError(`${item.origin}: no targets (give --target or a targets column)`);
    for (const _ of jobs) origins.push(item.origin);
    return jobs;
  });
  try {
    return parseOutpaintJobs(inputs);
  } catch (error) {
    if (!(error instanceof JobValidationError)) throw error;
    // Paths are ["inputs", index, ...field]: the index names the manifest line or object.
    const lines = error.issues.slice(0, 20).map(({ path: [, index, ...field], rule }) => {
      const origin = typeof index === "number" ? origins[index] : undefined;
      return origin
        ? `  ${origin}: ${formatIssuePath(field)} ${rule}`
        : `  ${formatIssuePath(field)}: ${rule}`;
    });
    const more = error.issues.length > 20 ? [`  … and ${error.issues.length - 20} more`] : [];
    throw new UsageError([`${error.issues.length} invalid jobs:`, ...lines, ...more].join("\n"));
  }
}

/** How many of these in-flight jobs this batch already awaits (a resumed run). */
async function membersOf(deps: PlanDeps, batchId: string, jobIds: readonly string[]): Promise<number> {
  const key = batchKeys(deps.queuePrefix, batchId).jobs;
  let members = 0;
  for (let start = 0; start < jobIds.length; start += STATE_CHUNK) {
    const flags = await deps.redis.smismember(key, ...jobIds.slice(start, start + STATE_CHUNK));
    members += flags.filter((flag) => flag === 1).length;
  }
  return members;
}

async function estimateToRun(toRun: BulkPlan["toRun"], deps: PlanDeps): Promise<JobEstimate[]> {
  return await estimateJobs(
    toRun.map(({ job }) => job),
    {
      dimensionsOf: (source) => {
        deps.signal?.throwIfAborted();
        return inspectSource(source, {
          s3: deps.s3,
          sourceFetch: deps.sourceFetch,
          limits: deps.sourceLimits,
        });
      },
      onProgress: (done, total) => deps.onProgress?.("estimating", done, total),
    },
  );
}
