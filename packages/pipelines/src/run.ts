import type { S3Client } from "@aws-sdk/client-s3";
import type { GuardedFetch } from "@reframe/egress";
import {
  announceBatchCompleted,
  type BatchStore,
  enqueueMany,
  jobStatesInChunks,
  type OutpaintJob,
  outpaintJobId,
  parseOutpaintJobs,
  publishEvent,
  type RouteQueues,
} from "@reframe/jobs";
import {
  estimateJobs,
  expandJobs,
  inspectSource,
  prefixItems,
  type SourceItem,
  type SourceLimits,
  summarizeEstimates,
} from "@reframe/sources";
import type { S3Area } from "@reframe/storage";
import type { Queue } from "bullmq";
import { jobTemplateOf, neverSourceAreas } from "./job-template.ts";
import type { PipelineStore, RunRecord } from "./pipeline-store.ts";
import { makeRunRefusedEvent } from "./run-events.ts";

export interface RunDeps {
  store: PipelineStore;
  batches: BatchStore;
  outpaintQueue: Queue;
  s3: S3Client;
  /** Where the run-refused event goes (publishEvent). */
  routes: Pick<RouteQueues, "queue" | "deliveries">;
  /** The scratch area; the output areas of every applied pipeline are added to it. */
  scratch?: readonly S3Area[];
  /** Reads URL sources' headers through the caller's egress guard (its allow-list). */
  sourceFetch?: GuardedFetch["fetch"];
  /** MAX_SOURCE_PIXELS and MAX_SOURCE_BYTES: a budget's estimate leaves out what the worker will refuse. */
  sourceLimits: SourceLimits;
  now?: () => number;
}

/** The run cannot be carried out as defined: retrying will not help. */
export class RunDefinitionError extends Error {
  readonly code: "pipelineNotFound" | "pipelineWithoutSource";
  constructor(code: RunDefinitionError["code"], message: string) {
    super(message);
    this.name = "RunDefinitionError";
    this.code = code;
  }
}

/**
 * One run of a pipeline: list its source, expand every object × target into jobs, and enqueue the
 * ones not already in the queue (unchanged objects have the same job id as last night, so they are
 * skipped) into a batch named by the run id. With a budget, the jobs to add are estimated first and
 * the run is refused, with an event to the route, when they would cost more. The batch's
 * completion (announced by whoever ends its last job) is the run-completed event. Running the same
 * run id again (a retry after a crash) resumes it and adds nothing twice.
 */
export async function executeRun(
  pipeline: string,
  runId: string,
  trigger: RunRecord["trigger"],
  deps: RunDeps,
): Promise<RunRecord> {
  const now = deps.now ?? Date.now;
  const applied = await deps.store.get(pipeline);
  if (!applied) throw new RunDefinitionError("pipelineNotFound", `no pipeline ${pipeline} is applied`);
  const { definition } = applied;
  if (!definition.source) {
    throw new RunDefinitionError(
      "pipelineWithoutSource",
      `pipeline ${pipeline} has no source: it runs on uploads only`,
    );
  }
  const startedAt = now();
  const items: SourceItem[] = [];
  for await (const item of prefixItems(deps.s3, definition.source, {
    neverSources: neverSourceAreas(await deps.store.all(), deps.scratch ?? []),
  }))
    items.push(item);
  const jobs = parseOutpaintJobs(expandJobs(items, jobTemplateOf(pipeline, definition, { batchId: runId })));
  const record: RunRecord = {
    runId,
    pipeline,
    trigger,
    startedAt,
    state: "enqueued",
    sources: items.length,
    jobs: jobs.length,
  };
  const maxCostUsd = definition.budget?.maxCostUsd;
  if (maxCostUsd !== undefined) {
    const toAdd = await missingJobs(deps.outpaintQueue, jobs);
    const estimate = summarizeEstimates(
      await estimateJobs(toAdd, {
        dimensionsOf: (source) =>
          inspectSource(source, { s3: deps.s3, sourceFetch: deps.sourceFetch, limits: deps.sourceLimits }),
      }),
    );
    record.estimatedCostUsd = estimate.costUsd;
    if (estimate.costUsd > maxCostUsd) {
      const event = makeRunRefusedEvent({
        pipeline,
        runId,
        jobsToRun: toAdd.length,
        estimatedCostUsd: estimate.costUsd,
        maxCostUsd,
        time: now(),
      });
      await publishEvent(deps.routes, definition.route, event);
      const refused: RunRecord = { ...record, state: "refused", reason: event.data.reason.message };
      await deps.store.recordRun(refused);
      return refused;
    }
  }
  await deps.batches.open(runId, {
    kind: "pipeline-run",
    createdAt: startedAt,
    route: definition.route,
    pipeline,
    description: `${trigger} run of ${pipeline}`,
    ...(record.estimatedCostUsd === undefined ? {} : { estimatedCostUsd: record.estimatedCostUsd }),
  });
  await deps.store.recordRun(record);
  const result = await enqueueMany(deps.outpaintQueue, jobs, {
    batch: { store: deps.batches, batchId: runId },
  });
  if ((await deps.batches.seal(runId)) === "closed")
    await announceBatchCompleted(deps.batches, runId, deps.routes);
  const enqueued: RunRecord = { ...record, added: result.added, skipped: result.existing };
  await deps.store.recordRun(enqueued);
  return enqueued;
}

async function missingJobs(queue: Queue, jobs: readonly OutpaintJob[]): Promise<OutpaintJob[]> {
  const states = await jobStatesInChunks(queue, jobs.map(outpaintJobId));
  return jobs.filter((_, index) => states[index] === undefined);
}
