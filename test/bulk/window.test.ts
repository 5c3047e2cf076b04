import { mkdtemp, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { BATCH_COMPLETED_EVENT_TYPE, type BatchStatus, createBatchStore } from "@reframe/jobs";
import { LOCAL_BUCKETS, type LocalStack, startLocalStack } from "@reframe/local-stack";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import {
  emulatorCounters,
  type StackClients,
  stackClients,
  uploadSource,
} from "../outpaint-flow/stack-fixture.ts";
import { cliEnvironment, planNumber, runCli, startCli } from "./bulk-fixture.ts";

/**
 * Windowed admission as users meet it: `reframe bulk` of 60 sources with BULK_WINDOW=10 against
 * Redis, the embedded S3, the emulator and a worker. The batch never has more than 10 jobs in the
 * queue unfinished, drains through the window, and closes once; an admitter that dies (a followed
 * run killed) is replaced, and the same command again adds nothing twice.
 */

const WINDOW = 10;
const SOURCES = 60;

let stack: LocalStack;
let clients: StackClients;
let env: Record<string, string>;
let directory: string;

beforeAll(async () => {
  stack = await startLocalStack({ workers: 1, emulatorEnv: { EMULATOR_LATENCY_MS: "20-80" } });
  clients = stackClients(stack);
  env = { ...cliEnvironment(stack), BULK_WINDOW: String(WINDOW) };
  directory = await mkdtemp(join(tmpdir(), "reframe-window-"));
  await Promise.all(
    Array.from({ length: SOURCES }, (_, i) =>
      uploadSource(clients.s3, `window/${String(i).padStart(2, "0")}.jpg`),
    ),
  );
}, 120_000);

afterAll(async () => {
  await clients?.close();
  await stack?.stop();
  if (directory) await rm(directory, { recursive: true, force: true });
});

/** A manifest of the 60 sources, one target each. */
async function manifest(name: string, target: string): Promise<string> {
  const path = join(directory, name);
  const rows = Array.from(
    { length: SOURCES },
    (_, i) => `window/${String(i).padStart(2, "0")}.jpg,${target}`,
  );
  await writeFile(path, ["key,targets", ...rows].join("\n"));
  return path;
}

const bulkArgs = (path: string, route: string, ...extra: string[]) => [
  "bulk",
  "--manifest",
  path,
  "--source-bucket",
  LOCAL_BUCKETS.sources,
  "--prefix",
  "window-out/",
  "--route",
  route,
  "--chunk-size",
  "4",
  ...extra,
];

/**
 * Samples the batch until it closes: the most of its jobs pending at once (awaited, not ended: in
 * the queue or about to be) and the most waiting in its stream.
 */
async function watch(batchId: string, timeoutMs: number) {
  const store = createBatchStore(clients.connection, { prefix: clients.prefix });
  const seen = { maxInFlight: 0, maxWaiting: 0, maxUnfinishedInQueue: 0 };
  const deadline = Date.now() + timeoutMs;
  let status: BatchStatus | undefined;
  for (;;) {
    status = await store.status(batchId);
    const counts = await clients.queue.getJobCounts("waiting", "active", "delayed", "prioritized");
    seen.maxUnfinishedInQueue = Math.max(
      seen.maxUnfinishedInQueue,
      Object.values(counts).reduce((sum, count) => sum + count, 0),
    );
    if (status) {
      seen.maxInFlight = Math.max(seen.maxInFlight, status.inFlight);
      seen.maxWaiting = Math.max(seen.maxWaiting, status.waiting);
      if (status.closedAt !== undefined && status.waiting === 0) return { status, ...seen };
    }
    if (Date.now() > deadline) throw new Error(`batch ${batchId} did not close: ${JSON.stringify(status)}`);
    await new Promise((resolve) => setTimeout(resolve, 25));
  }
}

async function completionEvents(route: string, batchId: string): Promise<number> {
  const jobs = await clients.routeQueue(route).getJobs();
  return jobs.filter((job) => job.name === BATCH_COMPLETED_EVENT_TYPE && job.data.data.batchId === batchId)
    .length;
}

describe(`reframe bulk of ${SOURCES} jobs with BULK_WINDOW=${WINDOW}`, () => {
  it("--detach returns once registered; the workers drain the batch through the window and it closes once", async () => {
    const path = await manifest("detach.csv", "1:1");
    const run = await runCli(bulkArgs(path, "window-detach", "--detach"), env);
    expect(run.code, run.stderr).toBe(0);
    const batchId = /batch (bulk-[0-9a-f]{12}) runs on/.exec(run.stdout)![1]!;
    expect(run.stderr).toContain(`registered ${SOURCES} jobs; the queue holds at most ${WINDOW} of them`);

    const seen = await watch(batchId, 90_000);
    expect(seen.maxInFlight).toBeLessThanOrEqual(WINDOW);
    expect(seen.maxUnfinishedInQueue).toBeLessThanOrEqual(WINDOW);
    expect(seen.maxWaiting).toBeGreaterThanOrEqual(SOURCES - WINDOW);
    expect(seen.status).toMatchObject({ total: SOURCES, completed: SOURCES, failed: 0, waiting: 0 });
    await expect.poll(() => completionEvents("window-detach", batchId), { timeout: 5000 }).toBe(1);
    const counters = await emulatorCounters(stack);
    expect(Object.values(counters.tasks).filter((task) => (task.accepted ?? 0) > 1)).toEqual([]);

    const status = await runCli(["batch", "status", batchId], env);
    expect(status.code, status.stderr).toBe(0);
    expect(planNumber(status.stdout, "jobs")).toBe(SOURCES);
    expect(planNumber(status.stdout, "completed")).toBe(SOURCES);
  }, 120_000);

  it("a followed run killed after its first window: the workers' admitter takes over, and the same command again adds nothing twice", async () => {
    const path = await manifest("killed.csv", "4:5");
    const first = startCli(bulkArgs(path, "window-killed"), env);
    await first.waitFor(/enqueued \d+ new jobs of the first \d+; \d+ wait for room in the window/);
    const batchId = /batch (bulk-[0-9a-f]{12}) \(new\)/.exec(first.stdout())![1]!;
    first.child.kill("SIGKILL");
    await first.exited;
    const store = createBatchStore(clients.connection, { prefix: clients.prefix });
    const killed = (await store.status(batchId))!;
    expect(killed.total).toBeGreaterThanOrEqual(WINDOW);
    expect(killed.waiting).toBeGreaterThan(0);
    expect(killed.total + killed.waiting).toBe(SOURCES);

    const watching = watch(batchId, 100_000);
    // The same command again while the dead run's lease has not expired: it registers what may be
    // missing and follows; whichever admitter holds the lease next drains the batch.
    const again = await runCli(bulkArgs(path, "window-killed"), env);
    expect(again.stdout).toContain(`resuming batch ${batchId}: ${killed.total} jobs already in it`);
    expect(again.code, again.stderr).toBe(0);
    expect(planNumber(again.stdout, "completed")).toBe(SOURCES);
    const seen = await watching;
    expect(seen.maxInFlight).toBeLessThanOrEqual(WINDOW);
    expect(seen.status).toMatchObject({ total: SOURCES, completed: SOURCES, waiting: 0 });
    await expect.poll(() => completionEvents("window-killed", batchId), { timeout: 5000 }).toBe(1);
    // Both runs' jobs: each in the queue once, each accepted by the provider once.
    const counts = await clients.queue.getJobCounts();
    expect(Object.values(counts).reduce((sum, count) => sum + count, 0)).toBe(2 * SOURCES);
    const counters = await emulatorCounters(stack);
    expect(Object.values(counters.tasks).filter((task) => (task.accepted ?? 0) > 1)).toEqual([]);

    const third = await runCli(bulkArgs(path, "window-killed"), env);
    expect(third.code, third.stderr).toBe(0);
    expect(planNumber(third.stdout, "to run")).toBe(0);
    expect((await store.status(batchId))!.total).toBe(SOURCES);
    expect(await completionEvents("window-killed", batchId)).toBe(1);
  }, 150_000);
});
