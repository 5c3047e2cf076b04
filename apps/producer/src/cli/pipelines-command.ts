import { readFile } from "node:fs/promises";
import { createSpendLedger } from "@reframe/jobs";
import {
  type AppliedChange,
  type AppliedPipeline,
  applyPipelines,
  createPipelineRunQueue,
  createPipelineStore,
  createUploadBudgets,
  PIPELINE_RUN_JOB_NAME,
  type PipelineRunData,
  PipelinesFileError,
  parsePipelinesFile,
  type RunRecord,
  runIdOf,
  runRecordSchema,
  type UploadBudgets,
  uploadCeilingsOf,
} from "@reframe/pipelines";
import type { RedisClient } from "@reframe/redis";
import type { Queue } from "bullmq";
import {
  type CliCommand,
  JSON_FLAG,
  parseCommandArgs,
  producerConfig,
  withOutpaintQueue,
} from "./cli-command.ts";
import { UsageError } from "./usage-error.ts";

export const pipelinesCommand: CliCommand = {
  help: `reframe pipelines apply <file.yaml> [--check]   validate, then make the applied pipelines and schedules match the file
reframe pipelines list [--json]                 applied pipelines, their schedule and next run, uploads' spend
reframe pipelines run <name> [--detach]         run one now (a worker expands it), print what it added
reframe pipelines runs <name> [--json]          its recent runs; its uploads' spend and refusals

  apply is declarative: the file is the whole truth (unchanged pipelines are left alone, pipelines
  no longer in it lose their schedule); --check validates only. A bad file changes nothing and names
  every problem.

  Exit codes: 0, 2 bad usage or a bad file, 3 a run refused over its budget, 4 Redis unreachable.`,
  run: (args, io) =>
    withOutpaintQueue(producerConfig(io.env), (_queue, context) =>
      runPipelinesCommand(args, { ...context, print: (line) => io.out.write(`${line}\n`) }),
    ),
};

export interface PipelinesContext {
  connection: RedisClient;
  prefix: string;
  print(line: string): void;
  now?: () => number;
}

/** `reframe pipelines …`; returns the exit code. */
export async function runPipelinesCommand(argv: string[], context: PipelinesContext): Promise<number> {
  const [sub, ...rest] = argv;
  const { values, positionals } = parseCommandArgs(rest, {
    check: { type: "boolean" },
    detach: { type: "boolean" },
    ...JSON_FLAG,
  });
  const store = createPipelineStore(context.connection, { prefix: context.prefix });
  const budgets = createUploadBudgets(context.connection, { prefix: context.prefix });
  const now = context.now ?? Date.now;
  const runQueue = createPipelineRunQueue({ connection: context.connection, prefix: context.prefix });
  try {
    switch (sub) {
      case "apply": {
        const path = positionals[0];
        if (!path) throw new UsageError("pipelines apply needs a file");
        const file = parseFile(await readFileOrUsage(path), path);
        const count = Object.keys(file.pipelines).length;
        if (values.check) {
          context.print(`${path}: ${count} pipeline${count === 1 ? "" : "s"}, valid`);
          return 0;
        }
        for (const change of await applyPipelines(file, { store, runQueue }))
          context.print(describeChange(change));
        return 0;
      }
      case "list": {
        const applied = await store.all();
        if (values.json) {
          const listed = [];
          for (const { name, definition } of applied) {
            const scheduler = await runQueue.getJobScheduler(`pipeline-${name}`);
            listed.push({
              name,
              schedule: definition.schedule,
              nextRunAt: scheduler?.next,
              triggers: definition.triggers,
            });
          }
          context.print(JSON.stringify(listed, null, 2));
          return 0;
        }
        if (applied.length === 0) context.print("no pipelines applied (reframe pipelines apply <file>)");
        for (const pipeline of applied) {
          const { name, definition } = pipeline;
          const scheduler = await runQueue.getJobScheduler(`pipeline-${name}`);
          const schedule = definition.schedule
            ? `${definition.schedule.cron} ${definition.schedule.timezone}, next ${formatTime(scheduler?.next)}`
            : "no schedule";
          const triggers =
            definition.triggers.length > 0 ? `, ${definition.triggers.length} upload trigger(s)` : "";
          context.print(`${name}: ${schedule}${triggers}`);
          if (definition.triggers.length > 0)
            context.print(`  ${await describeUploads(pipeline, budgets, now())}`);
        }
        const spend = await createSpendLedger(context.connection, { prefix: context.prefix }).status(now());
        if (spend.limitUsd !== undefined)
          context.print(
            `all jobs today (UTC ${spend.day}): $${spend.spentUsd.toFixed(2)} of $${spend.limitUsd.toFixed(2)} (SPEND_LIMIT_USD_PER_DAY)${spend.pause ? "; the queue is paused at this ceiling" : ""}`,
          );
        return 0;
      }
      case "run": {
        const name = positionals[0];
        if (!name) throw new UsageError("pipelines run needs a pipeline name");
        if (!(await store.get(name)))
          throw new UsageError(`no pipeline ${name} is applied (reframe pipelines list)`);
        const runId = runIdOf(name, Date.now(), "-manual");
        const data: PipelineRunData = { pipeline: name, trigger: "manual", runId };
        await runQueue.add(PIPELINE_RUN_JOB_NAME, data, { jobId: runId });
        context.print(`run ${runId} queued`);
        if (values.detach) return 0;
        const record = await waitForRun(runQueue, runId);
        context.print(describeRun(record));
        if (record.state === "enqueued")
          context.print(`follow it with: reframe batch status ${runId} --follow`);
        return record.state === "refused" ? 3 : 0;
      }
      case "runs": {
        const name = positionals[0];
        if (!name) throw new UsageError("pipelines runs needs a pipeline name");
        if (values.json) {
          context.print(JSON.stringify(await store.runs(name), null, 2));
          return 0;
        }
        const pipeline = await store.get(name);
        if (pipeline && pipeline.definition.triggers.length > 0) {
          context.print(await describeUploads(pipeline, budgets, now()));
          for (const refusal of await budgets.refusals(name))
            context.print(
              `  refused ${formatTime(refusal.at)}: ${refusal.source} ${refusal.target} $${refusal.costUsd.toFixed(2)} (over the ${refusal.window === "day" ? "24-hour" : "hourly"} ceiling)`,
            );
        }
        const runs = await store.runs(name);
        if (runs.length === 0)
          context.print(
            `pipeline ${name} has not run yet${pipeline?.definition.triggers.length ? " (schedule or manual)" : ""}`,
          );
        for (const record of runs) context.print(describeRun(record));
        return 0;
      }
      default:
        throw new UsageError("pipelines needs one of: apply <file>, list, run <name>, runs <name>");
    }
  } finally {
    await runQueue.close();
  }
}

function parseFile(text: string, path: string) {
  try {
    return parsePipelinesFile(text, path);
  } catch (error) {
    if (error instanceof PipelinesFileError) throw new UsageError(error.message);
    throw error;
  }
}

async function readFileOrUsage(path: string): Promise<string> {
  try {
    return await readFile(path, "utf8");
  } catch (error) {
    throw new UsageError(`cannot read ${path}: ${(error as NodeJS.ErrnoException).code ?? String(error)}`);
  }
}

/** The run job ends once the run is expanded and its jobs enqueued; its return value is the record. */
async function waitForRun(runQueue: Queue, runId: string, timeoutMs = 10 * 60_000): Promise<RunRecord> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const job = await runQueue.getJob(runId);
    const state = await job?.getState();
    if (state === "completed") return runRecordSchema.parse(job!.returnvalue);
    if (state === "failed") throw new UsageError(`run ${runId} failed: ${job!.failedReason}`);
    if (Date.now() > deadline)
      throw new Error(`run ${runId} did not start within ${timeoutMs} ms: is a worker running?`);
    await new Promise((resolve) => setTimeout(resolve, 250));
  }
}

function describeChange({ pipeline, change, nextRunAt }: AppliedChange): string {
  return `${pipeline}: ${change}${nextRunAt ? `, next run ${formatTime(nextRunAt)}` : ""}`;
}

export function describeRun(record: RunRecord): string {
  const base = `${record.runId} (${record.trigger}, ${formatTime(record.startedAt)}): ${record.sources} sources, ${record.jobs} jobs`;
  if (record.state === "refused") return `${base}, refused: ${record.reason}`;
  const cost =
    record.estimatedCostUsd === undefined ? "" : `, estimated $${record.estimatedCostUsd.toFixed(2)}`;
  return `${base}, ${record.added ?? 0} added, ${record.skipped ?? 0} already done or queued${cost}`;
}

/** What a pipeline's upload triggers spent against their ceilings, and what they could not add. */
async function describeUploads(
  pipeline: AppliedPipeline,
  budgets: UploadBudgets,
  now: number,
): Promise<string> {
  const ceilings = uploadCeilingsOf(pipeline.definition);
  const usage = await budgets.usage(pipeline.name, now);
  const hour =
    ceilings.perHourUsd === undefined
      ? ""
      : `, $${usage.hourUsd.toFixed(2)} of $${ceilings.perHourUsd.toFixed(2)} in the last hour`;
  const refused = usage.refusedLastDay === 0 ? "" : `; ${usage.refusedLastDay} job(s) refused over a ceiling`;
  return `upload triggers spent $${usage.dayUsd.toFixed(2)} of $${ceilings.perDayUsd.toFixed(2)} in the last 24 hours${hour}${refused}`;
}

function formatTime(epochMs: number | undefined): string {
  return epochMs === undefined ? "—" : `${new Date(epochMs).toISOString().slice(0, 19)}Z`;
}
