import { BULK_ENQUEUE_FIGURES, runBulkEnqueue } from "./bulk-enqueue.ts";
import type { BenchmarkResult } from "./figures.ts";
import { IN_FLIGHT_FIGURES, runInFlight } from "./in-flight.ts";
import { PROVIDER_CALLS_FIGURES, runProviderCalls } from "./provider-calls.ts";
import { REDIS_MEMORY_FIGURES, runRedisMemory } from "./redis-memory.ts";
import { runThroughput, THROUGHPUT_FIGURES } from "./throughput.ts";

/** The worker's default (WORKER_CONCURRENCY); the bare BullMQ baseline runs at the same. */
const WORKER_DEFAULT_CONCURRENCY = 50;

const scaled = (full: number, scale: number, min: number) => Math.max(min, Math.round(full * scale));

/** Every benchmark, its full size (scaled by --scale) and the figures it must report. */
export const BENCHMARKS = {
  throughput: {
    figures: THROUGHPUT_FIGURES,
    run: (scale: number): Promise<BenchmarkResult> =>
      runThroughput({ jobs: scaled(5000, scale, 20), concurrency: WORKER_DEFAULT_CONCURRENCY }),
  },
  providerCalls: {
    figures: PROVIDER_CALLS_FIGURES,
    run: (scale: number): Promise<BenchmarkResult> =>
      runProviderCalls({ jobs: scaled(1000, scale, 20), latencyMs: scale < 0.1 ? "300-900" : "4000-12000" }),
  },
  inFlight: {
    figures: IN_FLIGHT_FIGURES,
    run: (scale: number): Promise<BenchmarkResult> =>
      runInFlight({ jobs: scaled(10_000, scale, 20), latencyMs: scale < 0.1 ? 1000 : 30_000 }),
  },
  bulkEnqueue: {
    figures: BULK_ENQUEUE_FIGURES,
    run: (scale: number): Promise<BenchmarkResult> =>
      runBulkEnqueue({ rows: scaled(100_000, scale, 200), rounds: scale < 0.1 ? 1 : 3 }),
  },
  redisMemory: {
    figures: REDIS_MEMORY_FIGURES,
    run: (scale: number): Promise<BenchmarkResult> => runRedisMemory({ jobs: scaled(100_000, scale, 20) }),
  },
} as const;

export type BenchmarkName = keyof typeof BENCHMARKS;
