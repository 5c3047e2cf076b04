import { once } from "node:events";
import { createWriteStream } from "node:fs";
import { mkdtemp, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { finished } from "node:stream/promises";
import { isCopyPlan, OUTPAINT_LIMITS, planCanvas } from "@reframe/geometry";
import {
  batchKeys,
  createAdmission,
  createBatchStore,
  createOutpaintQueue,
  DEFAULT_BULK_WINDOW,
  OUTPAINT_JOB_NAME,
  outpaintJobId,
  parseOutpaintJob,
} from "@reframe/jobs";
import { createRedisClient, DEFAULT_QUEUE_PREFIX } from "@reframe/redis";
import { startRedisServer } from "@reframe/testkit";
import type { Queue } from "bullmq";
import { planNumber, runCli, startCli } from "../bulk/bulk-fixture.ts";
import { type ManifestRow, manifestRow, rowJob } from "./bulk-enqueue.ts";
import { type BenchmarkResult, figure } from "./figures.ts";
import { cpuMs, peakRssBytes } from "./process-stats.ts";

export const BULK_MILLION_FIGURES = [
  "bulkMillion.planRowsPerSecond",
  "bulkMillion.planPeakRss",
  "bulkMillion.admitRowsPerSecond",
  "bulkMillion.redisPeakUsedMemory",
] as const;

/** The targets on this machine's two cores. */
const PLAN_ROWS_PER_SECOND = 50_000;
/** The 400 MB (decimal: 381.5 MiB), as the images benchmark reads its 320 MB. */
const PLAN_PEAK_RSS_BYTES = 400_000_000;
const ADMIT_RATIO_TO_RAW = 0.9;
const REDIS_PEAK_BYTES = 1024 * 1024 * 1024;
const CHUNK = 500;

/**
 * `reframe bulk --manifest FILE --dry-run` over N rows, the CLI as its own process as users run it
 * (the manifest written here, at bench time): its peak RSS (VmHWM, sampled while it runs; the kernel
 * keeps the peak, so the last sample before it exits is the run's) and the rows it plans a second,
 * wall clock from start to exit. Its plan must give the numbers planCanvas gives for the rows, so a
 * fast plan cannot be a wrong one. Then the same command with --detach, which registers the jobs as
 * the batch's stream, and their admission a window at a time: rows admitted a second against raw
 * addBulk of the same jobs, and Redis's peak used_memory over both.
 */
export async function runBulkMillion({ rows }: { rows: number }): Promise<BenchmarkResult> {
  const started = Date.now();
  const redisServer = await startRedisServer();
  const redis = createRedisClient(redisServer.url, { role: "producer" });
  const directory = await mkdtemp(join(tmpdir(), "reframe-bench-"));
  const closers: (() => Promise<void>)[] = [];
  try {
    const manifest = join(directory, "manifest.csv");
    const expected = await writeManifest(manifest, rows);
    const env = {
      REDIS_URL: redisServer.url,
      // Never reached: every row carries its size, so the estimate reads no header.
      S3_ENDPOINT: "http://127.0.0.1:9",
      S3_REGION: "us-east-1",
      S3_FORCE_PATH_STYLE: "true",
      S3_ACCESS_KEY_ID: "unused",
      S3_SECRET_ACCESS_KEY: "unused",
      SCRATCH_BUCKET: "reframe-scratch",
      OUTPUT_BUCKET: "reframe-outputs",
    };
    const cli = startCli(args(manifest, "--dry-run"), env);
    const t0 = performance.now();
    let peakRss = 0;
    let cpuMsUsed = 0;
    const sample = () => {
      try {
        peakRss = Math.max(peakRss, peakRssBytes(cli.child.pid!));
        cpuMsUsed = cpuMs(cli.child.pid!);
      } catch {
        // Gone between two samples: the last one stands.
      }
    };
    const sampler = setInterval(sample, 50);
    const { code } = await cli.exited;
    const seconds = (performance.now() - t0) / 1000;
    clearInterval(sampler);
    const stdout = cli.stdout();
    if (code !== 0) throw new Error(`the dry run exited ${code}:\n${stdout}\n${cli.stderr()}`);
    const planned = {
      jobs: planNumber(stdout, "jobs"),
      toRun: planNumber(stdout, "to run"),
      outpaint: planNumber(stdout, "outpaint"),
      copies: planNumber(stdout, "copies"),
      costUsd: planNumber(stdout, "estimated cost"),
    };
    if (JSON.stringify(planned) !== JSON.stringify({ jobs: rows, toRun: rows, ...expected }))
      throw new Error(`the dry run planned ${JSON.stringify(planned)}, expected ${JSON.stringify(expected)}`);
    // BullMQ's queue meta (written by opening the queue) is all a dry run may leave.
    const keys = (await redis.keys("*")).filter((key) => !key.endsWith(":meta"));
    if (keys.length > 0) throw new Error(`the dry run wrote to Redis: ${keys.join(", ")}`);
    // Registration: the same command for real, --detach (no worker runs): its jobs become the
    // batch's stream and nothing is in the queue yet.
    const registerStarted = performance.now();
    const detached = await runCli(args(manifest, "--detach"), env);
    const registerSeconds = (performance.now() - registerStarted) / 1000;
    if (detached.code !== 0)
      throw new Error(`the run exited ${detached.code}:\n${detached.stdout}\n${detached.stderr}`);
    const batchId = /batch (bulk-[0-9a-f]{12})/.exec(detached.stdout)![1]!;
    const queue = createOutpaintQueue({ connection: redis, prefix: DEFAULT_QUEUE_PREFIX });
    closers.push(() => queue.close());
    const store = createBatchStore(redis, { prefix: DEFAULT_QUEUE_PREFIX });
    const registered = await store.status(batchId);
    if (registered?.waiting !== rows || (await queue.getWaitingCount()) !== 0)
      throw new Error(`the run registered ${JSON.stringify(registered)}, expected ${rows} jobs waiting`);
    const batch = batchKeys(DEFAULT_QUEUE_PREFIX, batchId);
    const streamBytes = Number(await redis.memory("USAGE", batch.stream, "SAMPLES", "0"));
    // Admission, as a worker's admitter does it, window after window (BULK_WINDOW's default): each
    // admit() on the clock; between two, off the clock, the window is emptied as if the workers had
    // finished it (its jobs leave the queue and the batch's pending set; retention not counted).
    // After each window, raw addBulk of the same jobs, CHUNK at a time (built off the clock), then
    // emptied again: the two alternate, so a shared machine's load weighs on both alike.
    const admission = createAdmission(redis, { queue, store, chunkSize: CHUNK });
    let admitSeconds = 0;
    let rawSeconds = 0;
    let admitted = 0;
    let windows = 0;
    for (;;) {
      const t = performance.now();
      const result = await admission.admit(batchId);
      admitSeconds += (performance.now() - t) / 1000;
      if (!result) throw new Error(`batch ${batchId} has no stream`);
      const inQueue = await queue.getWaitingCount();
      if (inQueue > DEFAULT_BULK_WINDOW)
        throw new Error(`${inQueue} jobs in the queue: more than the window of ${DEFAULT_BULK_WINDOW}`);
      await queue.drain();
      await redis.del(batch.pending);
      rawSeconds += await rawAddBulk(queue, batchId, admitted, admitted + result.admitted);
      await queue.drain();
      admitted += result.admitted;
      if (result.finished) break;
      windows += 1;
    }
    if (admitted !== rows) throw new Error(`admitted ${admitted} jobs, expected ${rows}`);
    const redisPeak = Number(/^used_memory_peak:(\d+)/m.exec(await redis.info("memory"))?.[1]);
    return {
      name: "bulkMillion",
      durationMs: Date.now() - started,
      setup: {
        rows,
        seconds,
        // CPU time of the CLI (the last sample before it exited): what the rate would be on a free core.
        cliCpuSeconds: cpuMsUsed / 1000,
        rowsPerCliCpuSecond: rows / (cpuMsUsed / 1000),
        plannedCostUsd: planned.costUsd,
        command: "reframe bulk --manifest … --dry-run, then --detach",
        // The detached run's wall clock: plan again, then write the stream and register it.
        registerSeconds,
        streamBytesPerJob: streamBytes / rows,
        windows,
      },
      figures: [
        figure({
          id: BULK_MILLION_FIGURES[0],
          label: `bulk dry run, ${rows} manifest rows planned`,
          value: rows / seconds,
          unit: "rows/s",
          target: { on: "value", op: ">=", limit: PLAN_ROWS_PER_SECOND },
          note: "the CLI's wall clock, start to exit: read, expand, validate, look up and estimate",
        }),
        figure({
          id: BULK_MILLION_FIGURES[2],
          label: `admission of ${rows} rows, ${DEFAULT_BULK_WINDOW} a window`,
          value: rows / admitSeconds,
          unit: "rows/s",
          baseline: { value: rows / rawSeconds, label: "raw addBulk, same jobs" },
          target: { on: "ratio", op: ">=", limit: ADMIT_RATIO_TO_RAW },
          note: "admit() alone: read and inflate the stream, look up, join the batch, addBulk, move the position",
        }),
        figure({
          id: BULK_MILLION_FIGURES[3],
          label: `Redis peak used_memory, ${rows} rows registered and admitted`,
          value: redisPeak,
          unit: "bytes",
          target: { on: "value", op: "<=", limit: REDIS_PEAK_BYTES },
          note: "the stream of every job and one window of them in the queue",
        }),
        figure({
          id: BULK_MILLION_FIGURES[1],
          label: `the CLI's peak RSS planning ${rows} rows`,
          value: peakRss,
          unit: "bytes",
          target: { on: "value", op: "<=", limit: PLAN_PEAK_RSS_BYTES },
          note: "VmHWM of the CLI process",
        }),
      ],
    };
  } finally {
    for (const close of closers) await close();
    redis.disconnect();
    await redisServer.stop();
    await rm(directory, { recursive: true, force: true });
  }
}

/** Seconds raw addBulk takes for rows [from, to), CHUNK at a time; the jobs are built off the clock. */
async function rawAddBulk(queue: Queue, batchId: string, from: number, to: number): Promise<number> {
  let seconds = 0;
  for (let start = from; start < to; start += CHUNK) {
    const jobs = Array.from({ length: Math.min(CHUNK, to - start) }, (_, i) => {
      const job = parseOutpaintJob(rowJob(manifestRow(start + i), batchId));
      return { name: OUTPAINT_JOB_NAME, data: job, opts: { jobId: outpaintJobId(job) } };
    });
    const t = performance.now();
    await queue.addBulk(jobs);
    seconds += (performance.now() - t) / 1000;
  }
  return seconds;
}

const args = (manifest: string, ...extra: string[]) => [
  "bulk",
  "--manifest",
  manifest,
  "--bucket",
  "reframe-outputs",
  "--prefix",
  "reformats/",
  "--route",
  "dam-update",
  "--chunk-size",
  String(CHUNK),
  ...extra,
];

/**
 * N rows as a studio's CSV manifest, written as they are made (a million rows are never held), and
 * what their plan must say, from planCanvas over each distinct size and target.
 */
async function writeManifest(
  path: string,
  rows: number,
): Promise<{ outpaint: number; copies: number; costUsd: number }> {
  const out = createWriteStream(path);
  const plans = new Map<string, { copy: boolean; cents: number }>();
  let outpaint = 0;
  let copies = 0;
  let cents = 0;
  out.write("bucket,key,width,height,targets\n");
  let lines: string[] = [];
  for (let i = 0; i < rows; i += 1) {
    const row = manifestRow(i);
    lines.push(`${row.bucket},${row.key},${row.width},${row.height},${row.target}`);
    const plan = planOf(row, plans);
    if (plan.copy) copies += 1;
    else {
      outpaint += 1;
      cents += plan.cents;
    }
    if (lines.length === 10_000 || i === rows - 1) {
      if (!out.write(`${lines.join("\n")}\n`)) await once(out, "drain");
      lines = [];
    }
  }
  out.end();
  await finished(out);
  return { outpaint, copies, costUsd: cents / 100 };
}

function planOf(row: ManifestRow, plans: Map<string, { copy: boolean; cents: number }>) {
  const key = `${row.width}x${row.height}:${row.target}`;
  let plan = plans.get(key);
  if (!plan) {
    const planned = planCanvas({
      source: { width: row.width, height: row.height },
      target: { kind: "ratio", ratio: row.target },
      limits: OUTPAINT_LIMITS,
    });
    if (!planned.ok) throw new Error(`${planned.reason}: ${planned.message}`);
    plan = isCopyPlan(planned.plan)
      ? { copy: true, cents: 0 }
      : { copy: false, cents: Math.round(planned.plan.costUsd * 100) };
    plans.set(key, plan);
  }
  return plan;
}
