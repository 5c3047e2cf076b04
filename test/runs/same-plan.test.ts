import { mkdtemp, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { LOCAL_BUCKETS, type LocalStack, startLocalStack } from "@reframe/local-stack";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { cliEnvironment, planNumber, runCli } from "../bulk/bulk-fixture.ts";
import { type StackClients, stackClients, uploadSource } from "../outpaint-flow/stack-fixture.ts";
import { reframe } from "../reframe-cli.ts";

/**
 * One run engine (@reframe/runs), two drivers: `reframe bulk` as a command line and a pipeline run as
 * a worker job. Over real processes (the CLI, a worker, Redis, the embedded S3), the same library
 * asked for the same work gives the same plan from both: jobs, jobs skipped as already done, the
 * estimate, and the same refusal over the same budget.
 */

const PREFIX = "same-plan/";
const OUTPUT = "same-plan-out/";
const ROUTE = "same-plan-done";
/** Five sources of the size the other end-to-end suites use (each of its reformats completes). */
const SOURCES = 5;

const bulkArgs = (targets: string[], ...extra: string[]) => [
  "bulk",
  "--source",
  `s3://${LOCAL_BUCKETS.sources}/${PREFIX}`,
  ...targets.flatMap((target) => ["--target", target]),
  "--bucket",
  LOCAL_BUCKETS.outputs,
  "--prefix",
  OUTPUT,
  "--route",
  ROUTE,
  ...extra,
];

const pipelinesFile = (maxCostUsd: number) => `
pipelines:
  same:
    source: { bucket: ${LOCAL_BUCKETS.sources}, prefix: ${PREFIX} }
    targets: ["16:9", "1:1"]
    output: { bucket: ${LOCAL_BUCKETS.outputs}, prefix: ${OUTPUT} }
    route: [${ROUTE}]
    budget: { maxCostUsd: ${maxCostUsd} }
`;

describe("a bulk run and a pipeline run over the same library", () => {
  let stack: LocalStack;
  let clients: StackClients;
  let env: Record<string, string>;
  let directory: string;
  beforeAll(async () => {
    directory = await mkdtemp(join(tmpdir(), "reframe-same-plan-"));
    stack = await startLocalStack({ workers: 1, emulatorEnv: { EMULATOR_LATENCY_MS: "20-60" } });
    clients = stackClients(stack);
    env = cliEnvironment(stack);
    await Promise.all(
      Array.from({ length: SOURCES }, (_, index) => uploadSource(clients.s3, `${PREFIX}asset-${index}.jpg`)),
    );
  }, 120_000);
  afterAll(async () => {
    await clients?.close();
    await stack?.stop();
    if (directory) await rm(directory, { recursive: true, force: true });
  });

  const apply = async (maxCostUsd: number) => {
    const file = join(directory, "pipelines.yaml");
    await writeFile(file, pipelinesFile(maxCostUsd));
    const applied = await reframe(["pipelines", "apply", file], stack.workerEnvironment);
    expect(applied.code).toBe(0);
  };
  const lastRun = async () => {
    const listed = await reframe(["pipelines", "runs", "same", "--json"], stack.workerEnvironment);
    const runs = JSON.parse(listed.stdout) as Record<string, unknown>[];
    return runs.at(0);
  };

  it("give the same numbers: jobs, skipped, estimate, and the same refusal", async () => {
    // Half the work done before: every source's 16:9, by a bulk run followed to its end.
    const before = await runCli(bulkArgs(["16:9"], "--report", join(directory, "before.html")), env);
    expect(before.code, before.stderr).toBe(0);

    // The plan of `reframe bulk`, a dry run: 10 jobs, 5 already done, 5 to run, and their estimate.
    const dry = await runCli(bulkArgs(["16:9", "1:1"], "--dry-run"), env);
    expect(dry.code, dry.stderr).toBe(0);
    const bulk = {
      sources: planNumber(dry.stdout, "sources"),
      jobs: planNumber(dry.stdout, "jobs"),
      done: planNumber(dry.stdout, "already done"),
      toRun: planNumber(dry.stdout, "to run"),
      costUsd: planNumber(dry.stdout, "estimated cost"),
    };
    expect(bulk).toMatchObject({ sources: 5, jobs: 10, done: 5, toRun: 5 });
    expect(bulk.costUsd).toBeGreaterThan(0);

    // Over a budget below the estimate both refuse, with the same numbers, and add nothing.
    const ceiling = bulk.costUsd / 2;
    const refusedBulk = await runCli(bulkArgs(["16:9", "1:1"], "--max-cost", String(ceiling)), env);
    expect(refusedBulk.code).toBe(3);
    expect(refusedBulk.stderr).toContain(
      `refused: the estimated cost $${bulk.costUsd.toFixed(2)} of ${bulk.toRun} jobs to run is over the budget of $${ceiling.toFixed(2)}`,
    );
    await apply(ceiling);
    const refusedRun = await reframe(["pipelines", "run", "same"], stack.workerEnvironment, 120_000);
    expect(refusedRun.code, refusedRun.stderr).toBe(3);
    expect(await lastRun()).toMatchObject({
      state: "refused",
      sources: bulk.sources,
      jobs: bulk.jobs,
      estimatedCostUsd: expect.closeTo(bulk.costUsd, 2),
      reason: `estimated $${bulk.costUsd.toFixed(2)} for ${bulk.toRun} jobs is over the budget of $${ceiling.toFixed(2)}`,
    });
    expect(await clients.queue.getJobCounts("waiting", "active", "delayed", "prioritized")).toEqual({
      waiting: 0,
      active: 0,
      delayed: 0,
      prioritized: 0,
    });

    // Within the budget the pipeline run adds what the bulk plan said it would, and skips the rest.
    await apply(bulk.costUsd * 2);
    const ran = await reframe(["pipelines", "run", "same"], stack.workerEnvironment, 120_000);
    expect(ran.code, ran.stderr).toBe(0);
    expect(await lastRun()).toMatchObject({
      state: "enqueued",
      sources: bulk.sources,
      jobs: bulk.jobs,
      added: bulk.toRun,
      skipped: bulk.done,
      estimatedCostUsd: expect.closeTo(bulk.costUsd, 2),
    });
  }, 240_000);
});
