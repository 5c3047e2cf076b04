import { resolve } from "node:path";
import { parseEnv, sourceLimitsOf } from "@reframe/config";
import {
  BATCH_ID_PATTERN,
  type BatchFailure,
  type BatchStatus,
  batchFailures,
  outpaintJobDataSchema,
  retryBatchFailures,
} from "@reframe/jobs";
import { estimateJobs, inspectSource, summarizeEstimates } from "@reframe/sources";
import { batchView } from "../batch-view.ts";
import { bulkConfigSchema } from "../bulk/bulk-config.ts";
import { type BulkContext, withBulkContext } from "../bulk/bulk-context.ts";
import { OVER_BUDGET_EXIT_CODE } from "../bulk/bulk-run.ts";
import { finishBatch, reattachHint } from "../bulk/finish-batch.ts";
import { watchInterrupt } from "../bulk/interrupt.ts";
import { formatUsd } from "../bulk/plan-text.ts";
import {
  type CliCommand,
  type CliIo,
  EXIT_CODES,
  JSON_FLAG,
  parseCommandArgs,
  writeJson,
} from "./cli-command.ts";
import { UsageError } from "./usage-error.ts";

const STATUS_FLAGS = { follow: { type: "boolean" }, report: { type: "string" }, ...JSON_FLAG } as const;
const LIST_FLAGS = { limit: { type: "string" }, ...JSON_FLAG } as const;
const RETRY_FLAGS = {
  reason: { type: "string", multiple: true },
  "dry-run": { type: "boolean" },
  "max-cost": { type: "string" },
  follow: { type: "boolean" },
  report: { type: "string" },
  ...JSON_FLAG,
} as const;

export const batchCommand: CliCommand = {
  help: `reframe batch status <batchId> [--follow] [--report FILE] [--json]
reframe batch list [--limit 20] [--json]
reframe batch retry <batchId> [--reason CODE]… [--dry-run] [--max-cost USD] [--follow] [--report FILE] [--json]

  status  completed, failed by reason, skipped, cost against the estimate, time per job
          --follow  a progress line until the batch ends (Ctrl-C stops following; the batch runs on)
          --report  also write the HTML report (each source beside its outputs, every failure)
  list    the newest batches first: kind, when, state, counts, cost
  retry   re-adds the batch's failed jobs under the same ids, and only those: a job id is the
          idempotency key, so enqueueing the same work again would skip them as "failed before".
          Prints the failures by reason and the estimated cost first.
          --reason    only failures with this reason code (repeatable)
          --dry-run   what would be retried and its estimate; nothing changes
          --max-cost  refuse (exit 3) when the estimate is over this many US dollars
          --follow    then follow the batch to its end, as status --follow
  --json  the status, the list or what retry did, as JSON

  Exit codes: 0, 1 some jobs of the batch failed (status), 2 bad usage or no such batch, 3 over
  --max-cost, 4 Redis or S3 unreachable, 130 interrupted.`,
  async run(args, io) {
    const [subcommand, ...rest] = args;
    switch (subcommand) {
      case "status":
        return batchStatus(rest, io);
      case "list":
        return batchList(rest, io);
      case "retry":
        return batchRetry(rest, io);
      default:
        throw new UsageError("batch needs one of: status <id>, list, retry <id>");
    }
  },
};

function batchIdOf(positionals: string[], subcommand: string): string {
  if (positionals.length !== 1) throw new UsageError(`batch ${subcommand} needs one batch id`);
  const batchId = positionals[0]!;
  if (!BATCH_ID_PATTERN.test(batchId))
    throw new UsageError(`batch id ${batchId}: letters, digits, '.', '_' or '-', at most 128`);
  return batchId;
}

/** The bulk context (Redis, S3, the egress guard) with Ctrl-C watched, for one subcommand. */
async function withContext(io: CliIo, run: (context: BulkContext) => Promise<number>): Promise<number> {
  const interrupt = watchInterrupt();
  try {
    return await withBulkContext(
      parseEnv(bulkConfigSchema, io.env),
      { out: io.out, err: io.err, interrupt },
      run,
    );
  } finally {
    interrupt.dispose();
  }
}

async function batchStatus(args: string[], io: CliIo): Promise<number> {
  const { values, positionals } = parseCommandArgs(args, STATUS_FLAGS);
  const batchId = batchIdOf(positionals, "status");
  return withContext(io, (context) =>
    finishBatch(context, batchId, {
      follow: values.follow ?? false,
      reportFile: values.report === undefined ? undefined : resolve(values.report),
      json: values.json ?? false,
    }),
  );
}

async function batchList(args: string[], io: CliIo): Promise<number> {
  const { values, positionals } = parseCommandArgs(args, LIST_FLAGS);
  if (positionals.length > 0) throw new UsageError(`batch list takes no argument (${positionals[0]})`);
  const limit = values.limit === undefined ? 20 : Number(values.limit);
  if (!Number.isInteger(limit) || limit < 1 || limit > 1000)
    throw new UsageError(`--limit ${values.limit}: must be a whole number from 1 to 1000`);
  return withContext(io, async (context) => {
    const batches = await context.store.list(limit);
    if (values.json) writeJson(io, batches.map(batchView));
    else if (batches.length === 0)
      io.out.write("no batches yet (reframe bulk, a pipeline run, or jobs with --batch)\n");
    else for (const status of batches) io.out.write(`${describeBatch(status)}\n`);
    return EXIT_CODES.ok;
  });
}

function describeBatch(status: BatchStatus): string {
  const state = status.closedAt ? "closed" : status.sealedAt ? "running" : "open";
  const created = new Date(status.info.createdAt).toISOString().slice(0, 16).replace("T", " ");
  const counts = `${status.total} jobs: ${status.completed} completed, ${status.failed} failed, ${status.inFlight} in flight`;
  return `${status.batchId.padEnd(26)} ${status.info.kind.padEnd(12)} ${created}Z  ${state.padEnd(7)}  ${counts}  ${formatUsd(status.costUsd)}`;
}

async function batchRetry(args: string[], io: CliIo): Promise<number> {
  const { values, positionals } = parseCommandArgs(args, RETRY_FLAGS);
  const batchId = batchIdOf(positionals, "retry");
  const maxCost = values["max-cost"] === undefined ? undefined : Number(values["max-cost"]);
  if (maxCost !== undefined && !(Number.isFinite(maxCost) && maxCost >= 0))
    throw new UsageError(`--max-cost ${values["max-cost"]}: must be an amount in US dollars, 0 or more`);
  return withContext(io, async (context) => {
    if (!(await context.store.status(batchId)))
      throw new UsageError(`no batch ${batchId} (unknown, or expired 30 days after its last change)`);
    const failures = await batchFailures(context.queue, context.store, batchId, {
      ...(values.reason ? { reasons: values.reason } : {}),
    });
    const retriable = failures.filter((failure) => failure.job);
    const estimatedCostUsd = await estimateRetry(retriable, context);
    const outcome = {
      batchId,
      failed: failures.length,
      byReason: countBy(failures, (failure) => failure.reason),
      gone: failures.length - retriable.length,
      estimatedCostUsd,
      retried: 0,
    };
    if (!values.json) io.out.write(`${retryPlanText(outcome)}\n`);
    const overBudget = maxCost !== undefined && estimatedCostUsd > maxCost;
    if (values["dry-run"] || overBudget || retriable.length === 0) {
      if (values.json) writeJson(io, outcome);
      if (overBudget)
        io.err.write(
          `refused: the estimated cost ${formatUsd(estimatedCostUsd)} is over the budget of ${formatUsd(maxCost)} (--max-cost); nothing was retried\n`,
        );
      else if (values["dry-run"] && !values.json) io.out.write("dry run: nothing was retried\n");
      return overBudget ? OVER_BUDGET_EXIT_CODE : EXIT_CODES.ok;
    }
    outcome.retried = await retryBatchFailures(context.store, batchId, retriable, { now: context.now() });
    if (values.json && !values.follow) writeJson(io, outcome);
    if (!values.json) io.out.write(`retried ${outcome.retried} jobs of batch ${batchId}\n`);
    if (!values.follow) {
      if (!values.json) io.out.write(`follow them with: ${reattachHint(batchId)}\n`);
      return EXIT_CODES.ok;
    }
    return finishBatch(context, batchId, {
      follow: true,
      reportFile: values.report === undefined ? undefined : resolve(values.report),
      json: values.json ?? false,
    });
  });
}

/** What the retried jobs will cost: the same estimate as a bulk plan's, over these jobs only. */
async function estimateRetry(failures: readonly BatchFailure[], context: BulkContext): Promise<number> {
  const jobs = failures.flatMap((failure) => {
    const parsed = outpaintJobDataSchema.safeParse(failure.job!.data);
    if (!parsed.success) return [];
    const { state: _state, ...job } = parsed.data;
    return [job];
  });
  const estimates = await estimateJobs(jobs, {
    dimensionsOf: (source) =>
      inspectSource(source, {
        s3: context.s3,
        sourceFetch: context.sourceFetch,
        limits: sourceLimitsOf(context.config),
      }),
  });
  return summarizeEstimates(estimates).costUsd;
}

function countBy<T>(items: readonly T[], key: (item: T) => string): Record<string, number> {
  const counts: Record<string, number> = {};
  for (const item of items) counts[key(item)] = (counts[key(item)] ?? 0) + 1;
  return counts;
}

function retryPlanText(outcome: {
  batchId: string;
  failed: number;
  byReason: Record<string, number>;
  gone: number;
  estimatedCostUsd: number;
}): string {
  const row = (label: string, value: string | number, note = "") =>
    `  ${label.padEnd(26)}${String(value).padStart(8)}${note ? `   ${note}` : ""}`;
  return [
    `batch ${outcome.batchId}: ${outcome.failed} failed jobs`,
    ...Object.entries(outcome.byReason)
      .sort(([, a], [, b]) => b - a)
      .map(([reason, count]) => row(reason, count)),
    ...(outcome.gone > 0
      ? [row("no longer in the queue", outcome.gone, "(removed by retention: run the bulk command again)")]
      : []),
    row("to retry", outcome.failed - outcome.gone),
    row("estimated cost", formatUsd(outcome.estimatedCostUsd)),
  ].join("\n");
}
