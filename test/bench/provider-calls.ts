import { enqueueMany, readOutpaintResult } from "@reframe/jobs";
import { type BenchStack, benchJob, startBenchStack, waitUntilDrained } from "./bench-stack.ts";
import { type BenchmarkResult, figure } from "./figures.ts";
import { percentile } from "./process-stats.ts";
import { pollEachTask } from "./sdk-poller.ts";

export const PROVIDER_CALLS_FIGURES = [
  "providerCalls.withWebhooks",
  "providerCalls.withoutWebhooks",
  "providerCalls.p50WithWebhooks",
  "providerCalls.p50WithoutWebhooks",
  "providerCalls.p90WithoutWebhooks",
] as const;

export interface ProviderCallsOptions {
  jobs: number;
  /** The emulator's latency, the same for reframe and the per-task baseline. */
  latencyMs: string;
}

/**
 * HTTP requests to the provider (every POST /v1 the emulator receives) per completed job, with
 * webhooks and without (the reconciler's batched polling), against the official SDK's way: each task
 * submitted and polled on its own. The same emulator latency for all three; the p50 of "submit to
 * result known" is reported for each, so the request counts are compared at the latency they bought.
 */
export async function runProviderCalls({ jobs, latencyMs }: ProviderCallsOptions): Promise<BenchmarkResult> {
  const started = Date.now();
  const emulatorEnv = { EMULATOR_LATENCY_MS: latencyMs };
  const withWebhooks = await measureReframe({ jobs, webhooks: true, emulatorEnv });
  const withoutWebhooks = await measureReframe({ jobs, webhooks: false, emulatorEnv });
  const bench = await startBenchStack({ workers: 0, webhooks: false, emulatorEnv });
  let perTask: Awaited<ReturnType<typeof pollEachTask>>;
  let perTaskEmulatorRequests: number;
  try {
    const before = await emulatorRequests(bench);
    perTask = await pollEachTask(bench, jobs);
    perTaskEmulatorRequests = (await emulatorRequests(bench)) - before;
  } finally {
    await bench.close();
  }
  const baselinePerJob = perTaskEmulatorRequests / perTask.completed;
  const baselineP50 = percentile(perTask.latenciesMs, 50) / 1000;
  const baseline = (value: number) => ({ value, label: "per-task polling, SDK cadence" });
  return {
    name: "providerCalls",
    durationMs: Date.now() - started,
    setup: {
      jobs,
      emulatorLatencyMs: latencyMs,
      sdkCadence: "first poll 1 s after submit, then 1.5 s, then ×1.5 up to 10 s; one request per task",
      withWebhooks,
      withoutWebhooks,
      perTask: {
        requests: perTaskEmulatorRequests,
        countedByClient: perTask.requests,
        completed: perTask.completed,
        p50Ms: baselineP50 * 1000,
        p90Ms: percentile(perTask.latenciesMs, 90),
      },
    },
    figures: [
      figure({
        id: PROVIDER_CALLS_FIGURES[0],
        label: "provider requests per job, webhooks",
        value: withWebhooks.requests / withWebhooks.completed,
        unit: "req/job",
        baseline: baseline(baselinePerJob),
        ratioInverted: true,
        target: { on: "value", op: "<=", limit: 0.1 },
      }),
      figure({
        id: PROVIDER_CALLS_FIGURES[1],
        label: "provider requests per job, polling",
        value: withoutWebhooks.requests / withoutWebhooks.completed,
        unit: "req/job",
        baseline: baseline(baselinePerJob),
        ratioInverted: true,
        target: { on: "value", op: "<=", limit: 0.5 },
        note: "ratio = how many times fewer than per-task polling (target ≥ 10×)",
      }),
      figure({
        id: PROVIDER_CALLS_FIGURES[2],
        label: "p50 submit → result, webhooks",
        value: withWebhooks.p50Ms / 1000,
        unit: "s",
        baseline: baseline(baselineP50),
      }),
      figure({
        id: PROVIDER_CALLS_FIGURES[3],
        label: "p50 submit → result, polling",
        value: withoutWebhooks.p50Ms / 1000,
        unit: "s",
        baseline: baseline(baselineP50),
      }),
      figure({
        id: PROVIDER_CALLS_FIGURES[4],
        label: "p90 submit → result, polling",
        value: withoutWebhooks.p90Ms / 1000,
        unit: "s",
        baseline: baseline(percentile(perTask.latenciesMs, 90) / 1000),
      }),
    ],
  };
}

async function emulatorRequests(bench: BenchStack): Promise<number> {
  const response = await fetch(`${bench.stack.emulatorUrl}/admin/counters`);
  const counters = (await response.json()) as { totals: { requests: number } };
  return counters.totals.requests;
}

async function measureReframe(options: {
  jobs: number;
  webhooks: boolean;
  emulatorEnv: Record<string, string>;
}) {
  const bench = await startBenchStack({
    workers: 1,
    webhooks: options.webhooks,
    emulatorEnv: options.emulatorEnv,
  });
  try {
    const before = await emulatorRequests(bench);
    const run = options.webhooks ? "hooks" : "polling";
    await enqueueMany(
      bench.queue,
      Array.from({ length: options.jobs }, (_, i) => benchJob(i, run)),
    );
    await waitUntilDrained(bench.queue, { intervalMs: 250, alive: bench.assertRunning });
    const requests = (await emulatorRequests(bench)) - before;
    const completed = await bench.queue.getJobs(["completed"], 0, -1);
    const providerMs = completed.flatMap(
      (job) => readOutpaintResult(job.returnvalue)?.timings.providerMs ?? [],
    );
    return {
      requests,
      completed: completed.length,
      p50Ms: percentile(providerMs, 50),
      p90Ms: percentile(providerMs, 90),
    };
  } finally {
    await bench.close();
  }
}
