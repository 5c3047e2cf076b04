import { enqueueMany, OUTPAINT_JOB_OPTIONS, ROUTE_JOB_OPTIONS } from "@reframe/jobs";
import { createRedisClient, DEFAULT_QUEUE_PREFIX } from "@reframe/redis";
import { Worker } from "bullmq";
import { benchJob, ROUTE, startBenchStack, waitUntilDrained } from "./bench-stack.ts";
import { type BenchmarkResult, figure } from "./figures.ts";
import { redisUsedMemory } from "./process-stats.ts";

export const REDIS_MEMORY_FIGURES = ["redisMemory.usedMemory", "redisMemory.bytesPerJob"] as const;

/**
 * N jobs completed through the whole pipeline (webhooks, emulator at zero latency, no image work),
 * their completion events consumed by a downstream worker, under the default retention
 * (OUTPAINT_JOB_OPTIONS, ROUTE_JOB_OPTIONS): Redis's used_memory afterwards, against an empty queue.
 */
export async function runRedisMemory({ jobs }: { jobs: number }): Promise<BenchmarkResult> {
  const started = Date.now();
  const bench = await startBenchStack({
    workers: 1,
    webhooks: true,
    emulatorEnv: { EMULATOR_LATENCY_MS: "0" },
  });
  // The downstream: route events are consumed, so their own retention applies as in production.
  const downstreamConnection = createRedisClient(bench.stack.redisSettings, { role: "worker" });
  const downstream = new Worker(ROUTE, async () => undefined, {
    connection: downstreamConnection,
    prefix: DEFAULT_QUEUE_PREFIX,
    concurrency: 50,
  });
  try {
    await downstream.waitUntilReady();
    const before = await redisUsedMemory(bench.redis);
    const t0 = performance.now();
    for (let start = 0; start < jobs; start += 10_000) {
      const count = Math.min(10_000, jobs - start);
      await enqueueMany(
        bench.queue,
        Array.from({ length: count }, (_, i) => benchJob(start + i, "memory")),
      );
    }
    await waitUntilDrained(bench.queue, { intervalMs: 1000, alive: bench.assertRunning });
    const seconds = (performance.now() - t0) / 1000;
    const after = await redisUsedMemory(bench.redis);
    const counts = await bench.queue.getJobCounts("completed", "failed");
    const keys = await bench.redis.dbsize();
    return {
      name: "redisMemory",
      durationMs: Date.now() - started,
      setup: {
        jobs,
        seconds,
        retention: {
          outpaint: OUTPAINT_JOB_OPTIONS.removeOnComplete,
          route: ROUTE_JOB_OPTIONS.removeOnComplete,
        },
        completedKept: counts.completed,
        keys,
        bytesPerJobRun: (after - before) / jobs,
      },
      figures: [
        figure({
          id: REDIS_MEMORY_FIGURES[0],
          label: `Redis used_memory after ${jobs} completed`,
          value: after,
          unit: "bytes",
          baseline: { value: before, label: "empty queue" },
        }),
        figure({
          id: REDIS_MEMORY_FIGURES[1],
          label: `Redis bytes per retained job (${counts.completed} kept)`,
          value: counts.completed ? (after - before) / counts.completed : Number.NaN,
          unit: "bytes",
          note: "the growth divided by the completed jobs retention keeps, each with its completion event",
        }),
      ],
    };
  } finally {
    await downstream.close();
    downstreamConnection.disconnect();
    await bench.close();
  }
}
