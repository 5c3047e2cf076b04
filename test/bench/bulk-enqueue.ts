import { PROVIDER_LIMITS, planCanvas, type Target } from "@reframe/geometry";
import {
  createOutpaintQueue,
  createRedisConnection,
  enqueueMany,
  OUTPAINT_JOB_NAME,
  type OutpaintJobInput,
  outpaintJobId,
  parseOutpaintJob,
} from "@reframe/jobs";
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

/** What a bulk run does with its rows: plan each (cost, limits), then enqueue the planned jobs. */
export type PlanAndEnqueue = (
  queue: Queue,
  rows: readonly ManifestRow[],
) => Promise<{ enqueued: number; costUsd: number }>;

const LIMITS = PROVIDER_LIMITS["runware:bfl:flux@outpainting"];
const CHUNK = 500;

/** Until `reframe bulk` lands: planCanvas per row, then enqueueMany (validation, ids, existence, addBulk). */
export const planAndEnqueueRows: PlanAndEnqueue = async (queue, rows) => {
  let costUsd = 0;
  const inputs: OutpaintJobInput[] = [];
  for (const row of rows) {
    const target: Target = { kind: "ratio", ratio: row.target, anchor: "center" } as Target;
    const planned = planCanvas({ source: { width: row.width, height: row.height }, target, limits: LIMITS });
    if (!planned.ok) continue;
    costUsd += planned.plan.costUsd;
    inputs.push(rowJob(row));
  }
  const result = await enqueueMany(queue, inputs, { chunkSize: CHUNK });
  return { enqueued: result.added + result.existing, costUsd };
};

// The function measured. When `reframe bulk` lands, point this at its planning + enqueue function.
const planAndEnqueue: PlanAndEnqueue = planAndEnqueueRows;

function rowJob(row: ManifestRow): OutpaintJobInput {
  return {
    source: { kind: "s3", bucket: row.bucket, key: row.key, width: row.width, height: row.height },
    target: { kind: "ratio", ratio: row.target, anchor: "center" },
    output: { bucket: "reframe-outputs", prefix: "reformats/" },
    route: ["dam-update"],
    labels: { batchId: "bench" },
  } as OutpaintJobInput;
}

const TARGETS = ["16:9", "9:16", "4:5", "1:1", "1.91:1"];

export function manifestRows(count: number): ManifestRow[] {
  return Array.from({ length: count }, (_, i) => ({
    bucket: "reframe-sources",
    key: `library/${Math.floor(i / 1000)}/asset-${i}.jpg`,
    width: 800 + (i % 7) * 64,
    height: 600 + (i % 5) * 48,
    target: TARGETS[i % TARGETS.length]!,
  }));
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
  const redisServer = await startRedisServer();
  const redis = createRedisConnection(redisServer.url, { role: "worker" });
  const queue = createOutpaintQueue({ connection: redis, prefix: "{reframe}" });
  try {
    const rows = manifestRows(count);
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
      const result = await planAndEnqueue(queue, rows);
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
    await queue.close();
    redis.disconnect();
    await redisServer.stop();
  }
}
