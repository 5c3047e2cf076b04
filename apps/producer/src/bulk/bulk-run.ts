import { sourceLimitsOf } from "@reframe/config";
import { type AdmitResult, openRouteQueues } from "@reframe/jobs";
import {
  budgetRefusal,
  openSources,
  planRun,
  type RunPlan,
  type RunRequest,
  type RunSources,
  runAdmitter,
  type StartDeps,
  startRun,
} from "@reframe/runs";
import { outputAreasOf } from "@reframe/sources";
import { scratchAreas } from "@reframe/storage";
import { UsageError } from "../cli/usage-error.ts";
import type { BulkContext } from "./bulk-context.ts";
import { type BulkRequest, runRequestOf } from "./bulk-request.ts";
import { defaultReportFile, finishBatch, reattachHint } from "./finish-batch.ts";
import { INTERRUPTED_EXIT_CODE, isInterruption } from "./interrupt.ts";
import { formatPlan, formatUsd } from "./plan-text.ts";
import { createProgressLine, rateAndEta } from "./progress-line.ts";

/** The budget was below the estimate: nothing was enqueued. */
export const OVER_BUDGET_EXIT_CODE = 3;

/**
 * `reframe bulk`: a command line over the run engine (@reframe/runs). Plan (list or parse, expand,
 * look up, estimate: one streaming pass), print the plan, stop there on a dry run or over the budget,
 * then start the run: open the batch and register its jobs as a stream (a second pass over the same
 * sources), which is admitted to the queue a window at a time (BULK_WINDOW) and sealed after its last
 * job. With --detach the command ends once the stream is registered and the workers admit it;
 * otherwise it admits its own batch while it follows it to its end with a summary and a report.
 * Every step is safe to repeat: the batch id comes from the request and job ids from the work, so
 * running the same command again adds only what is missing.
 */
export async function runBulk(
  request: BulkRequest,
  context: BulkContext,
  commandLine: string,
): Promise<number> {
  let planned: Planned;
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
  { run, plan, sources }: Planned,
): Promise<number> {
  context.out.write(`${formatPlan(plan, request)}\n`);
  if (request.dryRun) {
    context.out.write("dry run: nothing was enqueued\n");
    return 0;
  }
  const refusal = budgetRefusal(plan, request.maxCostUsd);
  if (refusal) {
    context.err.write(
      `refused: the estimated cost ${formatUsd(refusal.estimatedCostUsd)} of ${refusal.jobsToRun} jobs to run is over the budget of ${formatUsd(refusal.maxCostUsd)} (--max-cost); nothing was enqueued\n`,
    );
    return OVER_BUDGET_EXIT_CODE;
  }
  const routes = openRouteQueues({ connection: context.redis, prefix: context.config.QUEUE_PREFIX });
  const deps: StartDeps = {
    queue: context.queue,
    redis: context.redis,
    store: context.store,
    prefix: context.config.QUEUE_PREFIX,
    routes,
    window: context.config.BULK_WINDOW,
    chunkSize: request.chunkSize,
  };
  // Followed, the run admits its own batch: it holds the batch's lease from before the stream is
  // registered, so the workers' admitters leave it alone until this process ends or lets go.
  const own = request.detach ? undefined : ownAdmitter(plan.batchId, deps, context);
  try {
    await own?.admitter.claim();
    const registered = await registerStream(run, plan, sources, context, deps, commandLine);
    if (registered === "interrupted") return INTERRUPTED_EXIT_CODE;
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
    await routes.close();
  }
}

/**
 * An admitter of this run's batch only. Its first pass runs in the foreground with a progress line (a
 * run within the window is wholly enqueued there, as before windows), the next ones while the batch
 * is followed.
 */
function ownAdmitter(batchId: string, deps: StartDeps, context: BulkContext) {
  const progress = createProgressLine({ stream: context.err, now: context.now });
  const total = { added: 0, existing: 0 };
  let last: AdmitResult | undefined;
  let foreground = true;
  const admitter = runAdmitter(batchId, deps, {
    shouldStop: () => context.interrupt.requested,
    onAdmitted: (result) => {
      total.added += result.added;
      total.existing += result.existing;
      last = result;
      if (foreground)
        progress.update(`enqueued ${total.added} new of ${result.position}/${result.jobs} jobs`);
    },
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

interface Planned {
  run: RunRequest;
  plan: RunPlan;
  /** Read again to register the jobs; closed by runBulk. */
  sources: RunSources;
}

async function makePlan(request: BulkRequest, context: BulkContext): Promise<Planned> {
  const sources = await openSources(request.sources, {
    s3: context.s3,
    neverSources: [
      ...ownOutputAreas(request),
      ...scratchAreas({ bucket: context.config.SCRATCH_BUCKET, prefix: context.config.SCRATCH_PREFIX }),
    ],
    signal: context.interrupt.signal,
  });
  const run = runRequestOf(request, sources.manifestSha256);
  const progress = createProgressLine({ stream: context.err, now: context.now });
  const startedAt = context.now();
  let last = "";
  const plan = await planRun(run, sources, {
    s3: context.s3,
    queue: context.queue,
    store: context.store,
    sourceFetch: context.sourceFetch,
    sourceLimits: sourceLimitsOf(context.config),
    signal: context.interrupt.signal,
    onProgress: ({ sources: read, jobs, fraction }) => {
      last = `planned ${jobs} jobs from ${read} sources`;
      progress.update(`${last}${rateAndEta(read, 0, context.now() - startedAt)}`, fraction);
    },
  });
  if (last) progress.done(last);
  return { run, plan, sources };
}

/**
 * Where this run writes (storage's outputAreaOf, as for pipelines): a listing leaves it out. Outputs
 * written at the root of the listed bucket would be among the sources wherever they land: refused.
 */
function ownOutputAreas(request: BulkRequest) {
  const own = outputAreasOf(request.template);
  const { sources } = request;
  if (sources.kind === "prefix" && own.some((area) => area.bucket === sources.bucket && area.prefix === ""))
    throw new UsageError(
      `outputs would be written among the sources of s3://${sources.bucket}/: give --prefix, a --bucket of their own, or a --key-template that starts with a fixed folder`,
    );
  return own;
}

/**
 * The run started: its batch opened and the plan's jobs registered as its stream, chunk by chunk;
 * Ctrl-C takes effect between chunks and leaves nothing registered (the stream is registered whole
 * or not at all).
 */
async function registerStream(
  run: RunRequest,
  plan: RunPlan,
  sources: RunSources,
  context: BulkContext,
  deps: StartDeps,
  commandLine: string,
): Promise<{ jobs: number } | "interrupted"> {
  const progress = createProgressLine({ stream: context.err, now: context.now });
  const startedAt = context.now();
  const result = await startRun(run, plan, sources, deps, {
    info: {
      kind: "bulk",
      createdAt: context.now(),
      route: run.template.route ?? [],
      description: commandLine,
    },
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
