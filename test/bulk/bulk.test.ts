import { existsSync } from "node:fs";
import { mkdtemp, readFile, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { PutObjectCommand } from "@aws-sdk/client-s3";
import { isCopyPlan, OUTPAINT_LIMITS, planCanvas } from "@reframe/geometry";
import { createBatchStore } from "@reframe/jobs";
import { LOCAL_BUCKETS, type LocalStack, startLocalStack } from "@reframe/local-stack";
import { DEFAULT_QUEUE_PREFIX } from "@reframe/redis";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import {
  emulatorCounters,
  type StackClients,
  stackClients,
  uploadSource,
} from "../outpaint-flow/stack-fixture.ts";
import { cliEnvironment, planNumber, runCli, startCli, startRedisGate } from "./bulk-fixture.ts";

/**
 * `reframe bulk` as users run it: the CLI as its own process against Redis, the embedded S3, the
 * emulator and a worker. 200 images under one prefix: 190 to outpaint, 2 so tall that 16:9 breaks
 * the provider's limits (pre-scaled), 6 already at 16:9 (copied), 2 that are not images.
 */

const PREFIX = "bulk-library/";
const SOURCE = `s3://${LOCAL_BUCKETS.sources}/${PREFIX}`;
const LIMITS = OUTPAINT_LIMITS;

interface Sample {
  key: string;
  size?: { width: number; height: number };
}

function library(): Sample[] {
  return Array.from({ length: 200 }, (_, i) => {
    const key = `${PREFIX}${String(i).padStart(3, "0")}.jpg`;
    if (i >= 198) return { key };
    if (i >= 196) return { key, size: { width: 1000, height: 1800 } };
    if (i >= 190) return { key, size: { width: 160, height: 90 } };
    return { key, size: { width: 96 + (i % 4) * 16, height: 64 + (i % 3) * 16 } };
  });
}

/** What the run should cost, from planCanvas over the sizes the test uploaded. */
function expectedPlan(samples: Sample[]) {
  let cents = 0;
  let outpaint = 0;
  let prescaled = 0;
  let copies = 0;
  for (const { size } of samples) {
    if (!size) continue;
    const planned = planCanvas({ source: size, target: { kind: "ratio", ratio: "16:9" }, limits: LIMITS });
    if (!planned.ok) throw new Error(`${planned.reason}: ${planned.message}`);
    if (isCopyPlan(planned.plan)) {
      copies += 1;
      continue;
    }
    outpaint += 1;
    if (planned.plan.sourceScale < 1) prescaled += 1;
    cents += Math.round(planned.plan.costUsd * 100);
  }
  return { outpaint, prescaled, copies, costUsd: cents / 100 };
}

let stack: LocalStack;
let clients: StackClients;
let env: Record<string, string>;
let reports: string;
const samples = library();
const args = (...extra: string[]) => [
  "bulk",
  "--source",
  SOURCE,
  "--target",
  "16:9",
  "--prefix",
  "bulk-out/",
  "--chunk-size",
  "25",
  ...extra,
];

async function queueTotal(): Promise<number> {
  const counts = await clients.queue.getJobCounts();
  return Object.values(counts).reduce((sum, count) => sum + count, 0);
}

async function batchKeyCount(): Promise<number> {
  const [, keys] = await clients.connection.scan("0", "MATCH", `${clients.prefix}:batch:*`, "COUNT", 10_000);
  return keys.length;
}

beforeAll(async () => {
  stack = await startLocalStack({ workers: 1, emulatorEnv: { EMULATOR_LATENCY_MS: "50-200" } });
  clients = stackClients(stack);
  env = cliEnvironment(stack);
  reports = await mkdtemp(join(tmpdir(), "reframe-bulk-"));
  await Promise.all(
    samples.map(({ key, size }) =>
      size
        ? uploadSource(clients.s3, key, size.width, size.height)
        : clients.s3.send(
            new PutObjectCommand({ Bucket: LOCAL_BUCKETS.sources, Key: key, Body: "not a JPEG" }),
          ),
    ),
  );
  // Not sources: a text file (not an image), and a folder left out with --exclude.
  await clients.s3.send(
    new PutObjectCommand({ Bucket: LOCAL_BUCKETS.sources, Key: `${PREFIX}README.txt`, Body: "notes" }),
  );
  await uploadSource(clients.s3, `${PREFIX}drafts/x.jpg`);
}, 120_000);

afterAll(async () => {
  await clients?.close();
  await stack?.stop();
  if (reports) await rm(reports, { recursive: true, force: true });
});

describe("reframe bulk over a prefix of 200 objects", () => {
  let batchId: string;

  it("a dry run prints the exact plan and cost, and writes nothing to Redis", async () => {
    const expected = expectedPlan(samples);
    expect(expected).toMatchObject({ outpaint: 192, prescaled: 2, copies: 6 });
    const { code, stdout } = await runCli(args("--exclude", "drafts/**", "--dry-run"), env);
    expect(code).toBe(0);
    batchId = /batch (bulk-[0-9a-f]{12}) \(new\)/.exec(stdout)![1]!;
    expect(planNumber(stdout, "sources")).toBe(200);
    expect(planNumber(stdout, "jobs")).toBe(200);
    expect(planNumber(stdout, "already done")).toBe(0);
    expect(planNumber(stdout, "to run")).toBe(200);
    expect(planNumber(stdout, "outpaint")).toBe(expected.outpaint);
    expect(planNumber(stdout, "pre-scaled")).toBe(expected.prescaled);
    expect(planNumber(stdout, "copies")).toBe(expected.copies);
    expect(planNumber(stdout, "unreadable")).toBe(2);
    expect(stdout).toContain("reasons: sourceUnreadable 2");
    expect(planNumber(stdout, "estimated cost")).toBe(expected.costUsd);
    expect(stdout).toContain("dry run: nothing was enqueued");
    expect(await queueTotal()).toBe(0);
    expect(await batchKeyCount()).toBe(0);
  });

  it("a budget below the estimate is refused with exit code 3, and nothing is enqueued", async () => {
    const { code, stderr } = await runCli(args("--exclude", "drafts/**", "--max-cost", "5"), env);
    expect(code).toBe(3);
    expect(stderr).toContain(`the estimated cost $${expectedPlan(samples).costUsd.toFixed(2)} of 200 jobs`);
    expect(stderr).toContain("over the budget of $5.00 (--max-cost); nothing was enqueued");
    expect(stderr).not.toMatch(/\n\s+at /);
    expect(await queueTotal()).toBe(0);
    expect(await batchKeyCount()).toBe(0);
  });

  it("a run killed inside a chunk, run again, adds only what is missing and ends with a summary and a report", async () => {
    const gate = await startRedisGate(stack.redisUrl!);
    try {
      // Each job added to the queue names the queue's marker key once. Held at the 30th: the window's
      // jobs joined the batch before any was added (addToBatch), chunk 1 (25 jobs) is in the queue,
      // chunk 2 only partly.
      const holding = gate.holdAt(`${DEFAULT_QUEUE_PREFIX}:outpaint:marker`, 30);
      const first = startCli(
        args("--exclude", "drafts/**"),
        cliEnvironment(stack, { ...stack.redisEnv, REDIS_URL: gate.url }),
      );
      await holding;
      first.child.kill("SIGKILL");
      await first.exited;
    } finally {
      await gate.close();
    }
    const store = createBatchStore(clients.connection);
    const interrupted = (await store.status(batchId))!;
    const inQueue = await queueTotal();
    expect(inQueue).toBeGreaterThan(0);
    expect(interrupted.total).toBeGreaterThan(inQueue);
    expect(inQueue).toBeLessThan(200);
    expect(interrupted.sealedAt).toBeUndefined();

    const report = join(reports, "run", "index.html");
    const second = await runCli(args("--exclude", "drafts/**", "--report", report), env);
    expect(second.stdout).toContain(`resuming batch ${batchId}: ${interrupted.total} jobs already in it`);
    expect(planNumber(second.stdout, "to run")).toBe(200 - inQueue);
    expect(second.code, second.stderr).toBe(1);
    expect(planNumber(second.stdout, "completed")).toBe(198);
    expect(second.stdout).toMatch(/^\s+failed\s+2 \(sourceUnreadable 2\)$/m);
    expect(second.stdout).toMatch(/time per job\s+p50 [\d.]+ m?s, p95 [\d.]+ m?s/);

    const final = (await store.status(batchId))!;
    expect(final).toMatchObject({ total: 200, completed: 198, failed: 2, inFlight: 0 });
    expect(final.closedAt).toBeDefined();
    expect(await queueTotal()).toBe(200);
    const counters = await emulatorCounters(stack);
    expect(Object.entries(counters.tasks).filter(([, task]) => (task.accepted ?? 0) > 1)).toEqual([]);
    expect(counters.totals.accepted).toBe(expectedPlan(samples).outpaint);

    const html = await readFile(report, "utf8");
    for (const { key } of samples) expect(html).toContain(`<h2>s3://${LOCAL_BUCKETS.sources}/${key}</h2>`);
    expect(html).toContain("Failures (2)");
    expect(html.match(/<img src="thumbs\//g)?.length).toBe(200 + 198 - 2);

    const third = await runCli(args("--exclude", "drafts/**", "--report", report), env);
    expect(planNumber(third.stdout, "to run")).toBe(0);
    expect(planNumber(third.stdout, "already done")).toBe(198);
    expect(planNumber(third.stdout, "failed before")).toBe(2);
    expect(await queueTotal()).toBe(200);
    expect((await store.status(batchId))!.total).toBe(200);
  }, 120_000);
});

describe("following a batch", () => {
  it("Ctrl-C while following leaves the batch running, and batch status --follow reattaches to its end", async () => {
    const manifest = join(reports, "rows.csv");
    const rows = Array.from({ length: 8 }, (_, i) => `${PREFIX}${String(i).padStart(3, "0")}.jpg,,`);
    rows.push(`${PREFIX}100.jpg,4:5|3:1,top`);
    await writeFile(manifest, ["key,targets,anchor", ...rows].join("\n"));
    await clients.queue.pause();
    const run = startCli(
      [
        "bulk",
        "--manifest",
        manifest,
        "--source-bucket",
        LOCAL_BUCKETS.sources,
        "--target",
        "1:1",
        "--prefix",
        "m/",
      ],
      env,
    );
    await run.waitFor(/enqueued 10 new jobs/);
    run.child.kill("SIGINT");
    const { code } = await run.exited;
    const batchId = /batch (bulk-[0-9a-f]{12}) \(new\)/.exec(run.stdout())![1]!;
    expect(code).toBe(130);
    expect(run.stderr()).toContain(
      `batch ${batchId} keeps running; reattach with: reframe batch status ${batchId} --follow`,
    );
    await clients.queue.resume();
    const report = join(reports, "reattached", "index.html");
    const status = await runCli(["batch", "status", batchId, "--follow", "--report", report], env);
    expect(status.code, status.stderr).toBe(0);
    expect(planNumber(status.stdout, "jobs")).toBe(10);
    expect(planNumber(status.stdout, "completed")).toBe(10);
    expect(existsSync(report)).toBe(true);
    expect(await readFile(report, "utf8")).toContain(`3x1 → `);
  }, 60_000);

  it("an unknown batch or a bad flag is one line naming it, exit code 2", async () => {
    const unknown = await runCli(["batch", "status", "bulk-000000000000"], env);
    expect(unknown).toMatchObject({ code: 2 });
    expect(unknown.stderr).toBe(
      "reframe: no batch bulk-000000000000 (unknown, or expired 30 days after its last change)\n",
    );
    const quality = await runCli(args("--quality", "5"), env);
    expect(quality).toMatchObject({ code: 2, stderr: "reframe: --quality: must be at least 20\n" });
  });
});
