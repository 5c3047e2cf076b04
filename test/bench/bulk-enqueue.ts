import { mkdtemp, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import {
  createAdmission,
  createBatchStore,
  createOutpaintQueue,
  MAX_BULK_WINDOW,
  OUTPAINT_JOB_NAME,
  type OutpaintJobInput,
  outpaintJobId,
  parseOutpaintJob,
} from "@reframe/jobs";
import { parseBulkRequest, runRequestOf } from "@reframe/producer";
import { createRedisClient, DEFAULT_QUEUE_PREFIX, type RedisClient } from "@reframe/redis";
import { openSources, planRun, streamPlan } from "@reframe/runs";
import { createS3Client } from "@reframe/storage";
import { startRedisServer } from "@reframe/testkit";
import type { Queue } from "bullmq";
import { type BenchmarkResult, figure } from "./figures.ts";

export const BULK_ENQUEUE_FIGURES = ["bulkEnqueue.rowsPerSecond"] as const;

/** One manifest row, as a studio's CSV would give it: a source with its known size and a target. */
export interface ManifestRow {
  bucket: string;
  key: string;
  width: number;
  height: number;
  target: string;
}

/**
 * The function measured: what `reframe bulk --manifest FILE --dry-run=false --detach` does between
 * reading the file and following the batch: parse the manifest, expand and validate every row,
 * look every job up in the queue, estimate the ones to run (sizes from the rows, no S3 read), open
 * the batch and enqueue into it in chunks.
 */
async function planAndEnqueue(
  queue: Queue,
  redis: RedisClient,
  manifestPath: string,
): Promise<{ enqueued: number; costUsd: number }> {
  const request = parseBulkRequest(
    {
      manifest: manifestPath,
      bucket: "reframe-outputs",
      prefix: "reformats/",
      route: "dam-update",
      batch: "bench",
      "chunk-size": String(CHUNK),
    },
    {},
  );
  const store = createBatchStore(redis, { prefix: DEFAULT_QUEUE_PREFIX });
  const sources = await openSources(request.sources, { s3: UNUSED_S3, neverSources: [] });
  const run = runRequestOf(request, sources.manifestSha256);
  try {
    const plan = await planRun(run, sources, {
      s3: UNUSED_S3,
      queue,
      store,
      sourceFetch: () => Promise.reject(new Error("a manifest with sizes needs no fetch")),
      sourceLimits: { maxPixels: 100_000_000, maxBytes: 200_000_000 },
    });
    await store.open(plan.batchId, { kind: "bulk", createdAt: Date.now(), route: request.template.route });
    // Registered, then admitted here in one window as large as the run.
    const admission = createAdmission(redis, { queue, store, chunkSize: CHUNK, sliceJobs: 20 * CHUNK });
    await streamPlan(run, plan, sources, { queue, store }, admission, { window: MAX_BULK_WINDOW });
    const result = await admission.admit(plan.batchId);
    return { enqueued: result?.admitted ?? 0, costUsd: plan.estimate?.costUsd ?? 0 };
  } finally {
    await sources.close();
  }
}

/** The bulk command's default chunk. */
const CHUNK = 500;

/** Never called: every manifest row carries its size, so the estimate reads no header. */
const UNUSED_S3 = createS3Client({
  endpoint: "http://127.0.0.1:9",
  region: "us-east-1",
  forcePathStyle: true,
  credentials: { accessKeyId: "unused", secretAccessKey: "unused" },
});

/** The rows as a studio's CSV manifest (bucket, key, known size, the row's target). */
async function writeManifest(
  rows: readonly ManifestRow[],
): Promise<{ path: string; remove(): Promise<void> }> {
  const directory = await mkdtemp(join(tmpdir(), "reframe-bench-"));
  const path = join(directory, "manifest.csv");
  const lines = rows.map((row) => `${row.bucket},${row.key},${row.width},${row.height},${row.target}`);
  await writeFile(path, `bucket,key,width,height,targets\n${lines.join("\n")}\n`);
  return { path, remove: () => rm(directory, { recursive: true, force: true }) };
}

/** The job `reframe bulk` makes of a row (to the run's output, prefix and route), under `batchId`. */
export function rowJob(row: ManifestRow, batchId = "bench"): OutpaintJobInput {
  return {
    source: { kind: "s3", bucket: row.bucket, key: row.key, width: row.width, height: row.height },
    target: { kind: "ratio", ratio: row.target },
    output: { bucket: "reframe-outputs", prefix: "reformats/" },
    route: ["dam-update"],
    labels: { batchId, requester: "bulk" },
  } as OutpaintJobInput;
}

const TARGETS = ["16:9", "9:16", "4:5", "1:1", "1.91:1"];

/** The i-th row of a generated manifest: sizes and targets repeat, keys do not. */
export function manifestRow(i: number): ManifestRow {
  return {
    bucket: "reframe-sources",
    key: `library/${Math.floor(i / 1000)}/asset-${i}.jpg`,
    width: 800 + (i % 7) * 64,
    height: 600 + (i % 5) * 48,
    target: TARGETS[i % TARGETS.length]!,
  };
}

function manifestRows(count: number): ManifestRow[] {
  return Array.from({ length: count }, (_, i) => manifestRow(i));
}

/**
 * N manifest rows planned and enqueued, against a raw addBulk of the same jobs (already built, ids
 * computed, same chunks) on the same Redis, flushed in between.
 */
const median = (values: readonly number[]) =>
  [...values].sort((a, b) => a - b)[Math.floor(values.length / 2)]!;

export async function runBulkEnqueue({
  rows: count,
  rounds,
}: {
  rows: number;
  rounds: number;
}): Promise<BenchmarkResult> {
  const started = Date.now();
  const closers: (() => Promise<void>)[] = [];
  const redisServer = await startRedisServer();
  const redis = createRedisClient(redisServer.url, { role: "worker" });
  const queue = createOutpaintQueue({ connection: redis, prefix: DEFAULT_QUEUE_PREFIX });
  try {
    const rows = manifestRows(count);
    const manifest = await writeManifest(rows);
    closers.push(manifest.remove);
    // The baseline's jobs are built before its clock starts: it measures Redis and BullMQ alone.
    const prepared = rows.map((row) => {
      const job = parseOutpaintJob(rowJob(row));
      return { name: OUTPAINT_JOB_NAME, data: job, opts: { jobId: outpaintJobId(job) } };
    });
    await queue.waitUntilReady();
    // Alternating rounds, the median of each: one slow moment on a shared machine moves one round.
    const rawRuns: number[] = [];
    const runs: number[] = [];
    let costUsd = 0;
    for (let round = 0; round < rounds; round += 1) {
      await redis.flushall();
      const t0 = performance.now();
      for (let start = 0; start < prepared.length; start += CHUNK) {
        await queue.addBulk(prepared.slice(start, start + CHUNK));
      }
      rawRuns.push((performance.now() - t0) / 1000);
      await redis.flushall();
      const t1 = performance.now();
      const result = await planAndEnqueue(queue, redis, manifest.path);
      runs.push((performance.now() - t1) / 1000);
      costUsd = result.costUsd;
      const waiting = await queue.getWaitingCount();
      if (result.enqueued !== count || waiting !== count) {
        throw new Error(`expected ${count} jobs enqueued, got ${result.enqueued} (${waiting} waiting)`);
      }
    }
    const seconds = median(runs);
    const rawSeconds = median(rawRuns);
    return {
      name: "bulkEnqueue",
      durationMs: Date.now() - started,
      setup: {
        rows: count,
        chunk: CHUNK,
        rounds,
        seconds: runs,
        rawSeconds: rawRuns,
        plannedCostUsd: Math.round(costUsd * 100) / 100,
      },
      figures: [
        figure({
          id: BULK_ENQUEUE_FIGURES[0],
          label: `bulk enqueue, ${count} rows planned`,
          value: count / seconds,
          unit: "rows/s",
          baseline: { value: count / rawSeconds, label: "raw addBulk" },
          target: { on: "ratio", op: ">=", limit: 0.7 },
        }),
      ],
    };
  } finally {
    for (const close of closers) await close();
    await queue.close();
    redis.disconnect();
    await redisServer.stop();
  }
}
