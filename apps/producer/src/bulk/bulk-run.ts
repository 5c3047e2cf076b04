import { sourceLimitsOf } from "@reframe/config";
import { announceBatchCompleted, enqueueMany, type OutpaintJob, openRouteQueues } from "@reframe/jobs";
import { scratchAreas } from "@reframe/storage";
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
 * plan, stop there on a dry run or over the budget, then open the batch, enqueue in chunks (a second
 * pass over the same sources), seal it and follow it to its end with a summary and a report. Every
 * step is safe to repeat: the batch id comes from the request and job ids from the work, so running
 * the same command again adds only what is missing.
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
  const enqueued = await enqueueChunks(request, plan, sources, context);
  if (enqueued === "interrupted") return INTERRUPTED_EXIT_CODE;
  await sealAndAnnounce(plan.batchId, context);
  if (request.detach) {
    context.out.write(`batch ${plan.batchId} runs on; follow it with: ${reattachHint(plan.batchId)}\n`);
    return 0;
  }
  return finishBatch(context, plan.batchId, {
    follow: true,
    reportFile: request.reportFile ?? defaultReportFile(plan.batchId),
  });
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

/** Distinct jobs handed to one enqueueMany call: its chunks' lookups travel with the adds before them. */
const ENQUEUE_SLICE_CHUNKS = 20;

/**
 * Every distinct job goes through enqueueMany, chunk by chunk: the missing ones are added and awaited,
 * the others are recorded as skipped with their state. Ctrl-C takes effect between chunks, so a
 * chunk is never half-registered by choice; a crash inside one is repaired by the next run (a job
 * registered but never added is still missing from the queue, so it is added then).
 */
async function enqueueChunks(
  request: BulkRequest,
  plan: BulkPlan,
  sources: BulkSources,
  context: BulkContext,
): Promise<"done" | "interrupted"> {
  const progress = createProgressLine({ stream: context.err, now: context.now });
  const startedAt = context.now();
  const result = await enqueuePlan(request, plan, sources, context, {
    shouldStop: () => context.interrupt.requested,
    onChunk: (added, done, total) => {
      progress.update(
        `enqueued ${added} new of ${done}/${total} jobs${rateAndEta(done, total - done, context.now() - startedAt)}`,
        done / total,
      );
    },
  });
  if (result.stopped) {
    progress.done(
      `enqueued ${result.added} new jobs, looked at ${result.added + result.existing} of ${plan.jobs}`,
    );
    context.err.write(
      `interrupted: batch ${plan.batchId} is not sealed; run the same command again to resume it (it adds only what is missing)\n`,
    );
    return "interrupted";
  }
  await context.confirmWrites();
  progress.done(`enqueued ${result.added} new jobs (${result.existing} already in the queue)`);
  return "done";
}

/**
 * A plan's jobs into its batch: the plan's sources read again and expanded the same way (each
 * distinct job once), ENQUEUE_SLICE_CHUNKS chunks per enqueueMany call; stops between chunks when
 * asked. What `reframe bulk` does after its plan, and what the bulk benchmarks measure.
 */
export async function enqueuePlan(
  request: Pick<BulkRequest, "template" | "chunkSize">,
  plan: Pick<BulkPlan, "batchId" | "jobs">,
  sources: Pick<BulkSources, "again">,
  { queue, store }: Pick<BulkContext, "queue" | "store">,
  options: {
    shouldStop?: () => boolean;
    onChunk?: (added: number, done: number, total: number) => void;
  } = {},
): Promise<{ added: number; existing: number; stopped: boolean }> {
  const total = { added: 0, existing: 0, stopped: false };
  let slice: OutpaintJob[] = [];
  const flush = async () => {
    const result = await enqueueMany(queue, slice, {
      chunkSize: request.chunkSize,
      batch: { store, batchId: plan.batchId },
      ...(options.shouldStop ? { shouldStop: options.shouldStop } : {}),
      onProgress: (done, _total, added) =>
        options.onChunk?.(total.added + added, total.added + total.existing + done, plan.jobs),
    });
    total.added += result.added;
    total.existing += result.existing;
    total.stopped = result.stopped;
    slice = [];
  };
  const seen = createSeenJobs();
  try {
    for await (const chunk of jobChunks(sources.again(), request.template, plan.batchId, seen)) {
      for (const { job } of chunk.jobs) slice.push(job);
      if (slice.length < request.chunkSize * ENQUEUE_SLICE_CHUNKS) continue;
      await flush();
      if (total.stopped) return total;
    }
    if (slice.length > 0) await flush();
    return total;
  } finally {
    seen.close();
  }
}

/** A batch with nothing pending closes when sealed; nobody else would announce it then. */
async function sealAndAnnounce(batchId: string, context: BulkContext): Promise<void> {
  if ((await context.store.seal(batchId)) !== "closed") return;
  const routes = openRouteQueues({ connection: context.redis, prefix: context.config.QUEUE_PREFIX });
  try {
    await announceBatchCompleted(context.store, batchId, routes);
  } finally {
    await routes.close();
  }
}
