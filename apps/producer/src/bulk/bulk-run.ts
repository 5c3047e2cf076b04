import { sourceLimitsOf } from "@reframe/config";
import {
  type Admission,
  type AdmitResult,
  Admitter,
  announceBatchCompleted,
  batchKeys,
  createAdmission,
  jobStates,
  openRouteQueues,
} from "@reframe/jobs";
import type { RedisClient } from "@reframe/redis";
import { scratchAreas } from "@reframe/storage";
import type { Queue } from "bullmq";
import type { BulkContext } from "./bulk-context.ts";
import { type BulkPlan, jobChunks, planBulk } from "./bulk-plan.ts";
import type { BulkRequest } from "./bulk-request.ts";
import type { BulkSources } from "./bulk-sources.ts";
import { defaultReportFile, finishBatch, reattachHint } from "./finish-batch.ts";
import { INTERRUPTED_EXIT_CODE, isInterruption } from "./interrupt.ts";
import { formatPlan, formatUsd } from "./plan-text.ts";
import { createProgressLine, rateAndEta } from "./progress-line.ts";
import { createSeenJobs } from "./seen-jobs.ts";

/** The budget was below the estimate: nothing was enqueued. */
export const OVER_BUDGET_EXIT_CODE = 3;

/**
 * `reframe bulk`: plan (list or parse, expand, look up, estimate: one streaming pass), print the
 * plan, stop there on a dry run or over the budget, then open the batch and register its jobs as a
 * stream (a second pass over the same sources), which is admitted to the queue a window at a time
 * (BULK_WINDOW, @reframe/jobs admission.ts) and sealed after its last job. With --detach the command
 * ends once the stream is registered and the workers admit it; otherwise it admits its own batch
 * while it follows it to its end with a summary and a report. Every step is safe to repeat: the
 * batch id comes from the request and job ids from the work, so running the same command again adds
 * only what is missing.
 */
export async function runBulk(
  request: BulkRequest,
  context: BulkContext,
  commandLine: string,
): Promise<number> {
  let planned: Awaited<ReturnType<typeof makePlan>>;
  try {
    planned = await makePlan(request, context);
  } catch (error) {
    if (!isInterruption(error, context.interrupt)) throw error;
    context.err.write("interrupted before anything was enqueued\n");
    return INTERRUPTED_EXIT_CODE;
  }
  try {
    return await runPlan(request, context, commandLine, planned);
  } finally {
    await planned.sources.close();
  }
}

async function runPlan(
  request: BulkRequest,
  context: BulkContext,
  commandLine: string,
  { plan, sources }: { plan: BulkPlan; sources: BulkSources },
): Promise<number> {
  context.out.write(`${formatPlan(plan, request)}\n`);
  if (request.dryRun) {
    context.out.write("dry run: nothing was enqueued\n");
    return 0;
  }
  const cost = plan.estimate?.costUsd;
  if (request.maxCostUsd !== undefined && cost !== undefined && cost > request.maxCostUsd) {
    context.err.write(
      `refused: the estimated cost ${formatUsd(cost)} of ${plan.toRun} jobs to run is over the budget of ${formatUsd(request.maxCostUsd)} (--max-cost); nothing was enqueued\n`,
    );
    return OVER_BUDGET_EXIT_CODE;
  }
  await context.store.open(plan.batchId, {
    kind: "bulk",
    createdAt: context.now(),
    route: request.template.route,
    description: commandLine,
    ...(cost === undefined ? {} : { estimatedCostUsd: cost }),
  });
  const admission = createAdmission(context.redis, {
    queue: context.queue,
    store: context.store,
    prefix: context.config.QUEUE_PREFIX,
    chunkSize: request.chunkSize,
  });
  // Followed, the run admits its own batch: it holds the batch's lease from before the stream is
  // registered, so the workers' admitters leave it alone until this process ends or lets go.
  const own = request.detach ? undefined : ownAdmitter(plan.batchId, admission, context);
  try {
    await own?.admitter.claim();
    const registered = await registerStream(request, plan, sources, context, admission);
    if (registered === "interrupted") return INTERRUPTED_EXIT_CODE;
    if (registered.jobs === 0) await sealAndAnnounce(plan.batchId, context);
    if (!own) {
      context.out.write(
        `batch ${plan.batchId} runs on (the workers admit its jobs); follow it with: ${reattachHint(plan.batchId)}\n`,
      );
      return 0;
    }
    // The first window in the foreground (a run within the window is wholly enqueued here, as the
    // line says), the rest while the batch is followed.
    await own.admitFirstWindow();
    return await finishBatch(context, plan.batchId, {
      follow: true,
      reportFile: request.reportFile ?? defaultReportFile(plan.batchId),
    });
  } finally {
    await own?.admitter.stop();
  }
}

/**
 * An admitter of this run's batch only. Its first pass runs in the foreground with a progress line (a
 * run within the window is wholly enqueued there, as before windows), the next ones while the batch
 * is followed.
 */
function ownAdmitter(batchId: string, admission: Admission, context: BulkContext) {
  const progress = createProgressLine({ stream: context.err, now: context.now });
  const total = { added: 0, existing: 0 };
  let last: AdmitResult | undefined;
  let foreground = true;
  const admitter = new Admitter({
    redis: context.redis,
    admission,
    prefix: context.config.QUEUE_PREFIX,
    batchId,
    shouldStop: () => context.interrupt.requested,
    onAdmitted: (_, result) => {
      total.added += result.added;
      total.existing += result.existing;
      last = result;
      if (foreground)
        progress.update(`enqueued ${total.added} new of ${result.position}/${result.jobs} jobs`);
    },
    onClosed: () => announce(batchId, context),
  });
  return {
    admitter,
    async admitFirstWindow() {
      await admitter.tick();
      foreground = false;
      if (last?.finished)
        progress.done(`enqueued ${total.added} new jobs (${total.existing} already in the queue)`);
      else if (last)
        progress.done(
          `enqueued ${total.added} new jobs of the first ${last.position}; ${last.jobs - last.position} wait for room in the window`,
        );
      admitter.start();
    },
  };
}

async function makePlan(request: BulkRequest, context: BulkContext) {
  const progress = createProgressLine({ stream: context.err, now: context.now });
  const startedAt = context.now();
  let last = "";
  const planned = await planBulk(request, {
    s3: context.s3,
    queue: context.queue,
    redis: context.redis,
    store: context.store,
    queuePrefix: context.config.QUEUE_PREFIX,
    sourceFetch: context.sourceFetch,
    scratch: scratchAreas({ bucket: context.config.SCRATCH_BUCKET, prefix: context.config.SCRATCH_PREFIX }),
    sourceLimits: sourceLimitsOf(context.config),
    signal: context.interrupt.signal,
    onProgress: ({ sources, jobs, fraction }) => {
      last = `planned ${jobs} jobs from ${sources} sources`;
      progress.update(`${last}${rateAndEta(sources, 0, context.now() - startedAt)}`, fraction);
    },
  });
  if (last) progress.done(last);
  return planned;
}

/**
 * The plan's jobs become the batch's stream (admission.ts), chunk by chunk; Ctrl-C takes effect
 * between chunks and leaves nothing registered (the stream is registered whole or not at all).
 */
async function registerStream(
  request: BulkRequest,
  plan: BulkPlan,
  sources: BulkSources,
  context: BulkContext,
  admission: Admission,
): Promise<{ jobs: number } | "interrupted"> {
  const progress = createProgressLine({ stream: context.err, now: context.now });
  const startedAt = context.now();
  const result = await streamPlan(request, plan, sources, context, admission, {
    window: context.config.BULK_WINDOW,
    shouldStop: () => context.interrupt.requested,
    onChunk: (done) => {
      progress.update(
        `registered ${done}/${plan.jobs} jobs${rateAndEta(done, plan.jobs - done, context.now() - startedAt)}`,
        done / plan.jobs,
      );
    },
  });
  if (result.stopped) {
    progress.done(`registered none of ${plan.jobs} jobs`);
    context.err.write(
      `interrupted: batch ${plan.batchId} is not sealed; run the same command again to resume it (it adds only what is missing)\n`,
    );
    return "interrupted";
  }
  await context.confirmWrites();
  progress.done(
    `registered ${result.jobs} jobs; the queue holds at most ${context.config.BULK_WINDOW} of them at a time (BULK_WINDOW)`,
  );
  return { jobs: result.jobs };
}

/**
 * A plan's jobs into its batch's stream: the plan's sources read again and expanded the same way
 * (each distinct job once), less the jobs the batch already has in the queue (a run started again
 * re-registers only what may still be missing: jobs that wait, and jobs registered in the batch whose
 * add a crash cut short). Stops between chunks when asked; nothing waits for admission until the
 * stream is committed whole. What `reframe bulk` does after its plan, and what the bulk benchmarks
 * measure.
 */
export async function streamPlan(
  request: Pick<BulkRequest, "template">,
  plan: Pick<BulkPlan, "batchId" | "existingBatch">,
  sources: Pick<BulkSources, "again">,
  { queue, redis, config }: { queue: Queue; redis: RedisClient; config: { QUEUE_PREFIX: string } },
  admission: Admission,
  options: { window: number; shouldStop?: () => boolean; onChunk?: (done: number) => void },
): Promise<{ jobs: number; stopped: boolean }> {
  const writer = admission.writeStream(plan.batchId, { window: options.window });
  const members = batchKeys(config.QUEUE_PREFIX, plan.batchId).jobs;
  // A batch new to Redis has no members: nothing to look up.
  const resumed = (plan.existingBatch?.total ?? 0) > 0;
  let done = 0;
  const seen = createSeenJobs();
  try {
    for await (const chunk of jobChunks(sources.again(), request.template, plan.batchId, seen)) {
      if (options.shouldStop?.()) {
        await writer.abort();
        return { jobs: 0, stopped: true };
      }
      let jobs = chunk.jobs;
      if (resumed && jobs.length > 0) {
        const ids = jobs.map(({ jobId }) => jobId);
        const [member, states] = await Promise.all([
          redis.smismember(members, ...ids),
          jobStates(queue, ids),
        ]);
        jobs = jobs.filter((_, index) => member[index] !== 1 || states[index] === undefined);
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

/** A batch with nothing pending closes when sealed; nobody else would announce it then. */
async function sealAndAnnounce(batchId: string, context: BulkContext): Promise<void> {
  if ((await context.store.seal(batchId)) === "closed") await announce(batchId, context);
}

async function announce(batchId: string, context: BulkContext): Promise<void> {
  const routes = openRouteQueues({ connection: context.redis, prefix: context.config.QUEUE_PREFIX });
  try {
    await announceBatchCompleted(context.store, batchId, routes);
  } finally {
    await routes.close();
  }
}
