import { readFile } from "node:fs/promises";
import {
  type AppliedChange,
  applyPipelines,
  createPipelineRunQueue,
  createPipelineStore,
  PIPELINE_RUN_JOB_NAME,
  type PipelineRunData,
  PipelinesFileError,
  parsePipelinesFile,
  type RunRecord,
  runIdOf,
} from "@reframe/pipelines";
import type { Queue } from "bullmq";
import type { Redis } from "ioredis";
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
reframe pipelines list [--json]                 applied pipelines, their schedule and next run
reframe pipelines run <name> [--detach]         run one now (a worker expands it), print what it added
reframe pipelines runs <name> [--json]          its recent runs

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
  connection: Redis;
  prefix: string;
  print(line: string): void;
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
        if (values.json) {
          context.print(JSON.stringify(listed, null, 2));
          return 0;
        }
        if (applied.length === 0) context.print("no pipelines applied (reframe pipelines apply <file>)");
        for (const { name, schedule, nextRunAt, triggers } of listed) {
          const when = schedule
            ? `${schedule.cron} ${schedule.timezone}, next ${formatTime(nextRunAt)}`
            : "no schedule";
          context.print(
            `${name}: ${when}${triggers.length > 0 ? `, ${triggers.length} upload trigger(s)` : ""}`,
          );
        }
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
        const runs = await store.runs(name);
        if (values.json) {
          context.print(JSON.stringify(runs, null, 2));
          return 0;
        }
        if (runs.length === 0) context.print(`pipeline ${name} has not run yet`);
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
    if (state === "completed") return job!.returnvalue as RunRecord;
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

function formatTime(epochMs: number | undefined): string {
  return epochMs === undefined ? "—" : `${new Date(epochMs).toISOString().slice(0, 19)}Z`;
}
