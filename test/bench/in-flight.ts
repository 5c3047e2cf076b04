import { enqueueMany } from "@reframe/jobs";
import { benchJob, startBenchStack, waitUntilDrained } from "./bench-stack.ts";
import { type BenchmarkResult, figure } from "./figures.ts";
import { peakRssBytes, redisUsedMemory, rssBytes } from "./process-stats.ts";

export const IN_FLIGHT_FIGURES = ["inFlight.workerPeakRss", "inFlight.redisUsedMemory"] as const;

export interface InFlightOptions {
  jobs: number;
  latencyMs: number;
}

/**
 * N jobs parked at once behind a slow provider (every result takes `latencyMs`), one worker process:
 * the worker's peak RSS (VmHWM) and Redis's used_memory at its highest, against the same two
 * figures before the jobs were enqueued.
 */
export async function runInFlight({ jobs, latencyMs }: InFlightOptions): Promise<BenchmarkResult> {
  const started = Date.now();
  const bench = await startBenchStack({
    workers: 1,
    webhooks: true,
    emulatorEnv: { EMULATOR_LATENCY_MS: String(latencyMs) },
  });
  try {
    const worker = bench.stack.workers[0]!;
    const idleRss = rssBytes(worker.pid);
    const idleRedis = await redisUsedMemory(bench.redis);
    let peakRedis = idleRedis;
    let peakParked = 0;
    const t0 = performance.now();
    await enqueueMany(
      bench.queue,
      Array.from({ length: jobs }, (_, i) => benchJob(i, "in-flight")),
    );
    await waitUntilDrained(bench.queue, {
      intervalMs: 500,
      alive: bench.assertRunning,
      stallMs: latencyMs + 120_000,
      onSample: async () => {
        peakRedis = Math.max(peakRedis, await redisUsedMemory(bench.redis));
        peakParked = Math.max(peakParked, await bench.queue.getDelayedCount());
      },
    });
    const seconds = (performance.now() - t0) / 1000;
    const peakRss = peakRssBytes(worker.pid);
    return {
      name: "inFlight",
      durationMs: Date.now() - started,
      setup: {
        jobs,
        emulatorLatencyMs: latencyMs,
        workers: 1,
        webhooks: true,
        peakParked,
        secondsToDrain: seconds,
        redisBytesPerParkedJob: peakParked > 0 ? (peakRedis - idleRedis) / peakParked : null,
      },
      figures: [
        figure({
          id: IN_FLIGHT_FIGURES[0],
          label: `worker peak RSS, ${jobs} in flight`,
          value: peakRss,
          unit: "bytes",
          baseline: { value: idleRss, label: "idle worker" },
          target: { on: "value", op: "<=", limit: 256 * 1024 * 1024 },
        }),
        figure({
          id: IN_FLIGHT_FIGURES[1],
          label: `Redis used_memory, ${jobs} in flight`,
          value: peakRedis,
          unit: "bytes",
          baseline: { value: idleRedis, label: "before enqueue" },
        }),
      ],
    };
  } finally {
    await bench.close();
  }
}
