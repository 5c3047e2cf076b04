import { OUTPAINT_JOB_OPTIONS } from "@reframe/jobs";
import { BULK_ENQUEUE_FIGURES, runBulkEnqueue } from "./bulk-enqueue.ts";
import { BULK_MILLION_FIGURES, runBulkMillion } from "./bulk-million.ts";
import type { BenchmarkResult } from "./figures.ts";
import { IMAGES_FIGURES, runImages } from "./images.ts";
import { IN_FLIGHT_FIGURES, runInFlight } from "./in-flight.ts";
import { PROVIDER_CALLS_FIGURES, runProviderCalls } from "./provider-calls.ts";
import { REDIS_CEILING_FIGURES, runRedisCeiling } from "./redis-ceiling.ts";
import { runThroughput, THROUGHPUT_FIGURES } from "./throughput.ts";

/** The worker's default (WORKER_CONCURRENCY); the bare BullMQ baseline runs at the same. */
const WORKER_DEFAULT_CONCURRENCY = 50;

/** Flags of `pnpm bench` a benchmark may read. */
export interface BenchOptions {
  /** bulkMillion's manifest rows, whatever the scale. */
  rows?: number;
  /** redisCeiling's measured jobs, whatever the scale. */
  jobs?: number;
}

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
  bulkMillion: {
    figures: BULK_MILLION_FIGURES,
    // --rows sets the manifest's length outright (10000000: the memory must stay the same).
    run: (scale: number, { rows }: BenchOptions = {}): Promise<BenchmarkResult> =>
      runBulkMillion({ rows: rows ?? scaled(1_000_000, scale, 500) }),
  },
  images: {
    figures: IMAGES_FIGURES,
    // The smoke scale keeps every step (pre-scaling, PNG, bulk) with small images.
    run: (scale: number): Promise<BenchmarkResult> =>
      runImages({
        sources: scaled(200, scale, 10),
        photo: scale < 0.1 ? { width: 2400, height: 1600 } : { width: 6000, height: 4000 },
        png: scale < 0.1 ? { width: 2600, height: 1950 } : { width: 8000, height: 6000 },
        bulkPhotos: scaled(60, scale, 2),
      }),
  },
  redisCeiling: {
    figures: REDIS_CEILING_FIGURES,
    // The fill is retention's count at full scale: the measured jobs then trim as in production.
    run: (scale: number, { jobs }: BenchOptions = {}): Promise<BenchmarkResult> =>
      runRedisCeiling({
        jobs: jobs ?? scaled(20_000, scale, 20),
        fill: scaled(OUTPAINT_JOB_OPTIONS.removeOnComplete.count, scale, 10),
      }),
  },
} as const;

export type BenchmarkName = keyof typeof BENCHMARKS;
