import type { S3Client } from "@aws-sdk/client-s3";
import type { GuardedFetch } from "@reframe/egress";
import { type BatchStore, DEFAULT_BULK_WINDOW, publishEvent, type RouteQueues } from "@reframe/jobs";
import type { RedisClient } from "@reframe/redis";
import {
  budgetRefusal,
  openSources,
  planRun,
  RunInputError,
  type RunRequest,
  runAdmitter,
  type StartDeps,
  skippedJobs,
  startRun,
} from "@reframe/runs";
import type { SourceLimits } from "@reframe/sources";
import type { S3Area } from "@reframe/storage";
import type { Queue } from "bullmq";
import { jobTemplateOf, neverSourceAreas } from "./job-template.ts";
import type { PipelineStore, RunRecord } from "./pipeline-store.ts";
import { makeRunRefusedEvent } from "./run-events.ts";

export interface RunDeps {
  store: PipelineStore;
  batches: BatchStore;
  outpaintQueue: Queue;
  redis: RedisClient;
  /** QUEUE_PREFIX. */
  prefix: string;
  s3: S3Client;
  /** Where the run-refused event goes (publishEvent). */
  routes: Pick<RouteQueues, "queue" | "deliveries">;
  /** The scratch area; the output areas of every applied pipeline are added to it. */
  scratch?: readonly S3Area[];
  /** Reads URL sources' headers through the caller's egress guard (its allow-list). */
  sourceFetch?: GuardedFetch["fetch"];
  /** MAX_SOURCE_PIXELS and MAX_SOURCE_BYTES: a budget's estimate leaves out what the worker will refuse. */
  sourceLimits: SourceLimits;
  /** Jobs of a run in the queue at a time (BULK_WINDOW); the rest wait in the run's stream. */
  window?: number;
  now?: () => number;
}

/** The run cannot be carried out as defined: retrying will not help. */
export class RunDefinitionError extends Error {
  readonly code: "pipelineNotFound" | "pipelineWithoutSource" | "invalidJobs";
  constructor(code: RunDefinitionError["code"], message: string) {
    super(message);
    this.name = "RunDefinitionError";
    this.code = code;
  }
}

/**
 * One run of a pipeline, a worker job over the run engine (@reframe/runs): plan its source (list,
 * expand every object × target into jobs, look each up: unchanged objects have the same job id as
 * last night, so they are skipped), and with a budget estimate the jobs to add and refuse the run,
 * with an event to the route, when they would cost more. Otherwise start it as a batch named by the
 * run id, its jobs admitted a window at a time: the first window here, the rest by the workers'
 * admitters. The batch's completion (announced by whoever ends its last job) is the run-completed
 * event. Running the same run id again (a retry after a crash) resumes it and adds nothing twice.
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
  const maxCostUsd = definition.budget?.maxCostUsd;
  const request: RunRequest = {
    batchId: runId,
    template: jobTemplateOf(pipeline, definition, { batchId: runId }),
    // Reading every source's header costs a request each: only a budget needs the estimate.
    estimate: maxCostUsd !== undefined,
  };
  const sources = await openSources(
    { kind: "prefix", ...definition.source },
    { s3: deps.s3, neverSources: neverSourceAreas(await deps.store.all(), deps.scratch ?? []) },
  );
  try {
    const plan = await planRun(request, sources, {
      s3: deps.s3,
      queue: deps.outpaintQueue,
      store: deps.batches,
      ...(deps.sourceFetch ? { sourceFetch: deps.sourceFetch } : {}),
      sourceLimits: deps.sourceLimits,
    });
    const record: RunRecord = {
      runId,
      pipeline,
      trigger,
      startedAt,
      state: "enqueued",
      sources: plan.sources,
      jobs: plan.jobs,
      ...(plan.estimate ? { estimatedCostUsd: plan.estimate.costUsd } : {}),
    };
    const refusal = budgetRefusal(plan, maxCostUsd);
    if (refusal) {
      const event = makeRunRefusedEvent({ pipeline, runId, ...refusal, time: now() });
      await publishEvent(deps.routes, definition.route, event);
      const refused: RunRecord = { ...record, state: "refused", reason: event.data.reason.message };
      await deps.store.recordRun(refused);
      return refused;
    }
    const start: StartDeps = {
      queue: deps.outpaintQueue,
      redis: deps.redis,
      store: deps.batches,
      prefix: deps.prefix,
      routes: deps.routes,
      window: deps.window ?? DEFAULT_BULK_WINDOW,
    };
    // The run admits its first window itself, holding the batch's lease from before its stream is
    // registered; then it lets go and the workers' admitters top the window up.
    const admitter = runAdmitter(runId, start);
    try {
      await admitter.claim();
      await startRun(request, plan, sources, start, {
        info: {
          kind: "pipeline-run",
          createdAt: startedAt,
          route: definition.route,
          pipeline,
          description: `${trigger} run of ${pipeline}`,
        },
      });
      await admitter.tick();
    } finally {
      await admitter.stop();
    }
    const enqueued: RunRecord = { ...record, added: plan.toRun, skipped: skippedJobs(plan) };
    await deps.store.recordRun(enqueued);
    return enqueued;
  } catch (error) {
    if (error instanceof RunInputError) throw new RunDefinitionError("invalidJobs", error.message);
    throw error;
  } finally {
    await sources.close();
  }
}
