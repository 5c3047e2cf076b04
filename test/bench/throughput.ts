import { enqueueMany } from "@reframe/jobs";
import { createRedisClient } from "@reframe/redis";
import { Queue } from "bullmq";
import { benchJob, startBareWorker, startBenchStack, waitUntilDrained } from "./bench-stack.ts";
import { type BenchmarkResult, figure } from "./figures.ts";
import { cpuMeter, processPid, profilerEnv, redisPid } from "./process-stats.ts";

export const THROUGHPUT_FIGURES = [
  "throughput.jobsPerSecond",
  "throughput.cpuMsPerJob",
  "throughput.emulatorCpuMsPerJob",
  "throughput.redisCpuMsPerJob",
  "throughput.s3CpuMsPerJob",
] as const;

export interface ThroughputOptions {
  jobs: number;
  /** Worker concurrency, the same for reframe's worker and the bare BullMQ worker. */
  concurrency: number;
}

/**
 * N jobs end to end (enqueue → plan → submit → webhook → finalize → completion event) with the
 * emulator at zero latency and no image work, against a bare BullMQ loop on the same Redis: addBulk
 * of N jobs and a no-op processor in its own process, at the same concurrency.
 */
export async function runThroughput({ jobs, concurrency }: ThroughputOptions): Promise<BenchmarkResult> {
  const started = Date.now();
  const bench = await startBenchStack({
    workers: 1,
    webhooks: true,
    emulatorEnv: { EMULATOR_LATENCY_MS: "0" },
    workerEnv: { WORKER_CONCURRENCY: String(concurrency), ...profilerEnv() },
  });
  try {
    const bare = await bareBullmqRate(bench.stack.redisUrl!, jobs, concurrency);
    const [worker] = bench.stack.workers;
    const pids = {
      worker: worker!.pid,
      webhooks: bench.stack.webhookReceivers[0]!.pid,
      emulator: processPid(bench.stack, "emulator"),
      s3: processPid(bench.stack, "s3"),
      redis: await redisPid(bench.redis),
    };
    const inputs = Array.from({ length: jobs }, (_, i) => benchJob(i));
    const meter = cpuMeter(pids);
    const harnessBefore = process.cpuUsage();
    const t0 = performance.now();
    await enqueueMany(bench.queue, inputs);
    await waitUntilDrained(bench.queue, { intervalMs: 50, alive: bench.assertRunning });
    const seconds = (performance.now() - t0) / 1000;
    const cpu = meter.read();
    const harness = process.cpuUsage(harnessBefore);
    cpu.harness = (harness.user + harness.system) / 1000;
    const ours = (cpu.worker! + cpu.webhooks!) / jobs;
    return {
      name: "throughput",
      durationMs: Date.now() - started,
      setup: {
        jobs,
        concurrency,
        workers: 1,
        webhooks: true,
        emulator: "EMULATOR_MODE=throughput, EMULATOR_LATENCY_MS=0",
        seconds,
        bareSeconds: bare.seconds,
        cpuMs: cpu,
      },
      figures: [
        figure({
          id: THROUGHPUT_FIGURES[0],
          label: `end to end, ${jobs} jobs`,
          value: jobs / seconds,
          unit: "jobs/s",
          baseline: { value: bare.rate, label: "bare BullMQ" },
          target: { on: "ratio", op: ">=", limit: 0.2 },
        }),
        figure({
          id: THROUGHPUT_FIGURES[1],
          label: "CPU per job, worker + webhooks",
          value: ours,
          unit: "ms",
          baseline: { value: bare.cpuMs / jobs, label: "bare BullMQ worker" },
          target: { on: "value", op: "<=", limit: 1.5 },
        }),
        figure({
          id: THROUGHPUT_FIGURES[2],
          label: "CPU per job, emulator (not ours)",
          value: cpu.emulator! / jobs,
          unit: "ms",
        }),
        figure({
          id: THROUGHPUT_FIGURES[4],
          label: "CPU per job, embedded S3 (not ours)",
          value: cpu.s3! / jobs,
          unit: "ms",
        }),
        figure({
          id: THROUGHPUT_FIGURES[3],
          label: "CPU per job, redis-server",
          value: cpu.redis! / jobs,
          unit: "ms",
          baseline: { value: bare.redisCpuMs / jobs, label: "bare BullMQ" },
        }),
      ],
    };
  } finally {
    await bench.close();
  }
}

async function bareBullmqRate(redisUrl: string, jobs: number, concurrency: number) {
  const queueName = "bare-bench";
  const worker = await startBareWorker({ redisUrl, queue: queueName, concurrency });
  const connection = createRedisClient(redisUrl, { role: "worker" });
  const queue = new Queue(queueName, {
    connection,
    prefix: "{bare}",
    defaultJobOptions: { removeOnComplete: { count: 10_000 } },
  });
  try {
    const pid = await redisPid(connection);
    const meter = cpuMeter({ worker: worker.pid, redis: pid });
    const t0 = performance.now();
    for (let start = 0; start < jobs; start += 500) {
      const count = Math.min(500, jobs - start);
      await queue.addBulk(
        Array.from({ length: count }, (_, i) => ({
          name: "noop",
          data: { i: start + i },
          opts: { jobId: `bare-${start + i}` },
        })),
      );
    }
    await waitUntilDrained(queue, { intervalMs: 50 });
    const seconds = (performance.now() - t0) / 1000;
    const cpu = meter.read();
    return { rate: jobs / seconds, seconds, cpuMs: cpu.worker!, redisCpuMs: cpu.redis! };
  } finally {
    await queue.close();
    connection.disconnect();
    await worker.stop();
  }
}
