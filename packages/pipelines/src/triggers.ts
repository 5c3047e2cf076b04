import type { S3Client } from "@aws-sdk/client-s3";
import { targetLabel } from "@reframe/geometry";
import {
  enqueueMany,
  jobStatesInChunks,
  type OutpaintJob,
  outpaintJobId,
  parseOutpaintJobs,
  publishEvent,
  type RouteQueues,
} from "@reframe/jobs";
import {
  estimateJob,
  expandJobs,
  inspectSource,
  outputAreasOf,
  type SourceDimensions,
  type SourceLimits,
} from "@reframe/sources";
import { areaContains, type CreatedObject, inArea, type S3Area } from "@reframe/storage";
import type { Queue } from "bullmq";
import { jobTemplateOf } from "./job-template.ts";
import type { Trigger } from "./pipeline-file.ts";
import type { AppliedPipeline } from "./pipeline-store.ts";
import { type BudgetExceededEvent, makeBudgetExceededEvent } from "./run-events.ts";
import {
  type BudgetItem,
  type UploadBudgets,
  type UploadCeilings,
  type UploadUsage,
  uploadCeilingsOf,
} from "./upload-budget.ts";
import type { WrittenObjects } from "./written-objects.ts";

/**
 * Upload-triggered jobs: each created object is matched against every pipeline's triggers (bucket,
 * prefix, suffix, size) and becomes that pipeline's jobs. Before a job is added:
 * - the loop guard, twice over. By area: an object in the scratch area, or in an output area that
 *   does not hold the whole of the trigger's watched area, is an output. (An output area that holds
 *   it all, e.g. a template starting with `{dir}`, cannot tell the trigger's uploads from outputs:
 *   `apply` refuses such a file, and a pipeline stored without that check is left to the second
 *   guard.) By record: an object the worker recorded as its own write is an output, whatever the
 *   templates say (written-objects.ts).
 * - duplicates: the job id hashes bucket, key and ETag (or version, or the event's sequencer), so a
 *   redelivered or repeated event for the same object version adds nothing (and counts nothing).
 * - the pipeline's upload budget: each new job's planned cost, from the image's header read here
 *   (so the count is the cost the worker will plan: same reader, same canvas planning), is counted
 *   against the pipeline's rolling ceilings; a job that does not fit is not added. The dimensions
 *   travel with the job, so the worker plans from exactly what was counted.
 */

export type UploadMatch = "matched" | "output" | "unmatched";

export interface IntakeResult {
  objects: number;
  /** Objects by what happened to them. */
  byMatch: Record<UploadMatch, number>;
  /** Jobs new to the queue, and jobs the same events had already added. */
  added: number;
  duplicates: number;
  /** Jobs not added: their pipeline's upload ceiling (per rolling day or hour) was reached. */
  overBudget: number;
  jobIds: string[];
}

export interface IntakeDeps {
  pipelines: readonly AppliedPipeline[];
  queue: Queue;
  /** Reads the matched images' headers, for their planned cost. */
  s3: S3Client;
  /** MAX_SOURCE_PIXELS and MAX_SOURCE_BYTES: a source over them counts nothing (the worker refuses it). */
  sourceLimits: SourceLimits;
  written: WrittenObjects;
  budgets: UploadBudgets;
  /** Where a pipeline's budget-exceeded event goes: the queues of its route. */
  routes: Pick<RouteQueues, "queue" | "deliveries">;
  /** The scratch area: never a source. */
  scratch?: readonly S3Area[];
  now?: () => number;
  onBudgetExceeded?(event: BudgetExceededEvent): void;
  /** A pipeline's upload spend after each reservation, against its ceilings (the spend gauges). */
  onSpend?(pipeline: string, usage: UploadUsage, ceilings: UploadCeilings): void;
}

export function triggerMatches(trigger: Trigger, object: CreatedObject): boolean {
  if (trigger.bucket !== object.bucket || !object.key.startsWith(trigger.prefix)) return false;
  const key = object.key.toLowerCase();
  if (trigger.suffix.length > 0 && !trigger.suffix.some((suffix) => key.endsWith(suffix.toLowerCase())))
    return false;
  if (object.size !== undefined) {
    if (trigger.minSize !== undefined && object.size < trigger.minSize) return false;
    if (trigger.maxSize !== undefined && object.size > trigger.maxSize) return false;
  }
  return true;
}

/** The loop guard by area (see above); the record of written objects is checked after it. */
export function matchUpload(
  object: CreatedObject,
  pipelines: readonly AppliedPipeline[],
  scratch: readonly S3Area[] = [],
  outputAreas: readonly S3Area[] = pipelines.flatMap((applied) => outputAreasOf(applied.definition)),
): { match: UploadMatch; pipelines: AppliedPipeline[] } {
  if (scratch.some((area) => inArea(area, object))) return { match: "output", pipelines: [] };
  const holding = outputAreas.filter((area) => inArea(area, object));
  const matched = pipelines.filter((applied) =>
    applied.definition.triggers.some(
      (trigger) => triggerMatches(trigger, object) && holding.every((area) => areaContains(area, trigger)),
    ),
  );
  if (matched.length > 0) return { match: "matched", pipelines: matched };
  return { match: holding.length > 0 ? "output" : "unmatched", pipelines: [] };
}

interface Candidate {
  applied: AppliedPipeline;
  object: CreatedObject;
  job: OutpaintJob;
  jobId: string;
}

/** The jobs the objects trigger, within their pipelines' budgets, enqueued in one call (idempotent). */
export async function ingestCreatedObjects(
  objects: readonly CreatedObject[],
  deps: IntakeDeps,
): Promise<IntakeResult> {
  const result: IntakeResult = {
    objects: objects.length,
    byMatch: { matched: 0, output: 0, unmatched: 0 },
    added: 0,
    duplicates: 0,
    overBudget: 0,
    jobIds: [],
  };
  const candidates = await matchObjects(objects, deps, result);
  if (candidates.length === 0) return result;
  const states = await jobStatesInChunks(
    deps.queue,
    candidates.map((candidate) => candidate.jobId),
  );
  const fresh = new Map<string, Candidate>();
  candidates.forEach((candidate, index) => {
    if (states[index] === undefined && !fresh.has(candidate.jobId)) fresh.set(candidate.jobId, candidate);
  });
  result.duplicates = candidates.length - fresh.size;
  const admitted = await withinBudgets([...fresh.values()], deps, result);
  const enqueued = admitted.length > 0 ? await enqueueMany(deps.queue, admitted) : undefined;
  result.added = enqueued?.added ?? 0;
  result.duplicates += enqueued?.existing ?? 0;
  result.jobIds = enqueued?.jobIds ?? [];
  return result;
}

/** Matches (counted into `result`), and the jobs of the matched objects. */
async function matchObjects(
  objects: readonly CreatedObject[],
  deps: IntakeDeps,
  result: IntakeResult,
): Promise<Candidate[]> {
  const outputAreas = deps.pipelines.flatMap((applied) => outputAreasOf(applied.definition));
  const matched: { object: CreatedObject; pipelines: AppliedPipeline[] }[] = [];
  for (const object of objects) {
    const outcome = matchUpload(object, deps.pipelines, deps.scratch, outputAreas);
    if (outcome.match === "matched") matched.push({ object, pipelines: outcome.pipelines });
    else result.byMatch[outcome.match] += 1;
  }
  const written = await deps.written.written(matched.map(({ object }) => object));
  const inputs: { applied: AppliedPipeline; object: CreatedObject; input: unknown }[] = [];
  matched.forEach(({ object, pipelines }, index) => {
    result.byMatch[written[index] ? "output" : "matched"] += 1;
    if (written[index]) return;
    for (const applied of pipelines) {
      const jobs = expandJobs(
        [{ source: sourceOf(object), origin: `s3://${object.bucket}/${object.key}`, overrides: {} }],
        jobTemplateOf(applied.name, applied.definition, { requester: "s3-event" }),
      );
      for (const input of jobs) inputs.push({ applied, object, input });
    }
  });
  const jobs = parseOutpaintJobs(inputs.map(({ input }) => input));
  return inputs.map(({ applied, object }, index) => ({
    applied,
    object,
    job: jobs[index]!,
    jobId: outpaintJobId(jobs[index]!),
  }));
}

function sourceOf(object: CreatedObject) {
  return {
    kind: "s3" as const,
    bucket: object.bucket,
    key: object.key,
    ...(object.eTag ? { etag: object.eTag } : {}),
    ...(object.versionId ? { versionId: object.versionId } : {}),
    ...(object.sequencer ? { sequencer: object.sequencer } : {}),
  };
}

/**
 * The new jobs that fit in their pipelines' budgets, with the source's dimensions as hints. A source
 * whose header says it cannot be outpainted counts nothing: the worker fails it at plan without a
 * provider call. A header that cannot be read now (S3 unreachable) throws: the notifier retries the
 * event, rather than a job being counted at a guess.
 */
async function withinBudgets(
  candidates: readonly Candidate[],
  deps: IntakeDeps,
  result: IntakeResult,
): Promise<OutpaintJob[]> {
  const now = deps.now ?? Date.now;
  const dimensions = new Map<string, SourceDimensions>();
  const sources = new Map(
    candidates.map(({ object, job }) => [`${object.bucket}/${object.key}`, job.source]),
  );
  await Promise.all(
    [...sources].map(async ([where, source]) =>
      dimensions.set(where, await inspectSource(source, { s3: deps.s3, limits: deps.sourceLimits })),
    ),
  );
  const admitted: OutpaintJob[] = [];
  for (const [name, group] of Map.groupBy(candidates, (candidate) => candidate.applied.name)) {
    const { applied } = group[0]!;
    const items: BudgetItem[] = [];
    const jobs = group.map(({ object, job, jobId }) => {
      const size = dimensions.get(`${object.bucket}/${object.key}`)!;
      const estimate = estimateJob(job, size);
      const costUsd = estimate.kind === "outpaint" ? estimate.costUsd : 0;
      items.push({
        jobId,
        costUsd,
        source: `s3://${object.bucket}/${object.key}`,
        target: targetLabel(job.target),
      });
      // No size hints on the job: the worker inspects the same header again (same plan, same cost)
      // and learns the format, which decides whether the source must be converted first.
      return job;
    });
    const ceilings = uploadCeilingsOf(applied.definition);
    const reservation = await deps.budgets.reserve(name, ceilings, items, now());
    deps.onSpend?.(name, reservation.usage, ceilings);
    reservation.admitted.forEach((fits, index) => {
      if (fits) admitted.push(jobs[index]!);
      else result.overBudget += 1;
    });
    await announce(applied, reservation, items, deps, now());
  }
  return admitted;
}

async function announce(
  applied: AppliedPipeline,
  reservation: Awaited<ReturnType<UploadBudgets["reserve"]>>,
  items: readonly BudgetItem[],
  deps: IntakeDeps,
  time: number,
): Promise<void> {
  const ceilings = uploadCeilingsOf(applied.definition);
  const refused = items.find((_, index) => !reservation.admitted[index]);
  if (!refused) return;
  for (const window of reservation.announce) {
    const event = makeBudgetExceededEvent({
      pipeline: applied.name,
      window,
      ceilingUsd: window === "day" ? ceilings.perDayUsd : (ceilings.perHourUsd ?? ceilings.perDayUsd),
      spentUsd: window === "day" ? reservation.usage.dayUsd : reservation.usage.hourUsd,
      refused: {
        jobId: refused.jobId,
        source: refused.source,
        target: refused.target,
        costUsd: refused.costUsd,
      },
      time,
    });
    deps.onBudgetExceeded?.(event);
    await publishEvent(deps.routes, applied.definition.route, event);
  }
}
