import {
  type Admission,
  type AdmitResult,
  Admitter,
  announceBatchCompleted,
  type BatchInfoInput,
  type BatchStore,
  createAdmission,
  jobStates,
  type RouteQueues,
} from "@reframe/jobs";
import type { RedisClient } from "@reframe/redis";
import type { Queue } from "bullmq";
import { jobChunks, type RunPlan, type RunRequest } from "./run-plan.ts";
import type { RunSources } from "./run-sources.ts";
import { createSeenJobs } from "./seen-jobs.ts";

/**
 * A planned run, started: its batch opened, its jobs registered as the batch's stream (a second pass
 * over the same sources), admitted to the queue a window at a time (BULK_WINDOW, @reframe/jobs
 * admission.ts) and the batch sealed after its last job. `reframe bulk` and pipeline runs start
 * their runs here; whoever holds the batch's admitter lease (the run's own admitter, then any
 * worker's) tops the window up, and whoever closes the batch announces it to the route. Every step
 * is safe to repeat: a run started again registers only what may still be missing.
 */
export interface StartDeps {
  queue: Queue;
  redis: RedisClient;
  store: BatchStore;
  /** QUEUE_PREFIX. */
  prefix: string;
  /** Where the batch's completion is announced. */
  routes: Pick<RouteQueues, "queue" | "deliveries">;
  /** Jobs of the run in the queue at a time (BULK_WINDOW). */
  window: number;
  /** Jobs per enqueue round trip. */
  chunkSize?: number;
}

function runAdmission(deps: StartDeps): Admission {
  return createAdmission(deps.redis, {
    queue: deps.queue,
    store: deps.store,
    prefix: deps.prefix,
    ...(deps.chunkSize === undefined ? {} : { chunkSize: deps.chunkSize }),
  });
}

/**
 * An admitter of this run's batch only. Its driver claims the lease before it starts the run (so the
 * workers' admitters leave the batch alone until it lets go), ticks it for the first window, and
 * either keeps it running (a CLI following its run) or stops it (the workers admit the rest).
 */
export function runAdmitter(
  batchId: string,
  deps: StartDeps,
  options: { shouldStop?: () => boolean; onAdmitted?: (result: AdmitResult) => void } = {},
): Admitter {
  return new Admitter({
    redis: deps.redis,
    admission: runAdmission(deps),
    prefix: deps.prefix,
    batchId,
    ...(options.shouldStop ? { shouldStop: options.shouldStop } : {}),
    onAdmitted: (_, result) => options.onAdmitted?.(result),
    onClosed: async () => {
      await announceBatchCompleted(deps.store, batchId, deps.routes);
    },
  });
}

/**
 * Opens the plan's batch (or finds it, for a resumed run) and registers its jobs for admission. A
 * run with nothing to register is sealed here, and announced when that closes it; otherwise the
 * admitter seals it after its last job. Stops between chunks when asked, with nothing registered.
 */
export async function startRun(
  request: RunRequest,
  plan: RunPlan,
  sources: Pick<RunSources, "again">,
  deps: StartDeps,
  options: {
    info: Omit<BatchInfoInput, "estimatedCostUsd">;
    shouldStop?: () => boolean;
    onChunk?: (done: number) => void;
  },
): Promise<{ jobs: number; stopped: boolean }> {
  const cost = plan.estimate?.costUsd;
  await deps.store.open(plan.batchId, {
    ...options.info,
    ...(cost === undefined ? {} : { estimatedCostUsd: cost }),
  });
  const result = await streamPlan(request, plan, sources, deps, runAdmission(deps), {
    window: deps.window,
    ...(options.shouldStop ? { shouldStop: options.shouldStop } : {}),
    ...(options.onChunk ? { onChunk: options.onChunk } : {}),
  });
  if (!result.stopped && result.jobs === 0 && (await deps.store.seal(plan.batchId)) === "closed")
    await announceBatchCompleted(deps.store, plan.batchId, deps.routes);
  return result;
}

/**
 * A plan's jobs into its batch's stream: the plan's sources read again and expanded the same way
 * (each distinct job once), less the jobs the batch already has in the queue (a run started again
 * re-registers only what may still be missing: jobs that wait, and jobs registered in the batch whose
 * add a crash cut short). Stops between chunks when asked; nothing waits for admission until the
 * stream is committed whole. What a run does after its plan, and what the bulk benchmarks measure.
 */
export async function streamPlan(
  request: Pick<RunRequest, "template">,
  plan: Pick<RunPlan, "batchId" | "existingBatch">,
  sources: Pick<RunSources, "again">,
  { queue, store }: Pick<StartDeps, "queue" | "store">,
  admission: Admission,
  options: { window: number; shouldStop?: () => boolean; onChunk?: (done: number) => void },
): Promise<{ jobs: number; stopped: boolean }> {
  const writer = admission.writeStream(plan.batchId, { window: options.window });
  // A batch new to Redis has no members: nothing to look up.
  const resumed = (plan.existingBatch?.total ?? 0) > 0;
  let done = 0;
  const seen = createSeenJobs();
  try {
    for await (const chunk of jobChunks(sources.again(), request.template, seen)) {
      if (options.shouldStop?.()) {
        await writer.abort();
        return { jobs: 0, stopped: true };
      }
      let jobs = chunk.jobs;
      if (resumed && jobs.length > 0) {
        const ids = jobs.map(({ jobId }) => jobId);
        const [member, states] = await Promise.all([store.awaits(plan.batchId, ids), jobStates(queue, ids)]);
        jobs = jobs.filter((_, index) => !member[index] || states[index] === undefined);
      }
      await writer.write(jobs.map(({ job }) => job));
      done += chunk.jobs.length;
      options.onChunk?.(done);
    }
    return { jobs: (await writer.commit()).jobs, stopped: false };
  } finally {
    seen.close();
  }
}
