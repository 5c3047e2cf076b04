import { loadavg } from "node:os";
import {
  type BatchStore,
  batchKeys,
  createBatchStore,
  enqueueMany,
  OUTPAINT_JOB_OPTIONS,
  ROUTE_JOB_OPTIONS,
} from "@reframe/jobs";
import { createRedisClient, DEFAULT_QUEUE_PREFIX, type RedisClient, waitForRedisReady } from "@reframe/redis";
import { Queue } from "bullmq";
import type { Redis } from "ioredis";
import {
  type BenchStack,
  benchJob,
  ROUTE,
  startBareWorker,
  startBenchStack,
  waitUntilDrained,
} from "./bench-stack.ts";
import { type BenchmarkResult, figure } from "./figures.ts";
import { cpuMeter, processPid, redisPid } from "./process-stats.ts";
import {
  countersBetween,
  type RedisCounters,
  type RedisDelta,
  readRedisCounters,
  scriptNames,
  startCommandTrace,
  type TracedCommand,
  tcpPortsOf,
} from "./redis-stats.ts";

export const REDIS_CEILING_FIGURES = [
  "redisCeiling.jobsPerSecond",
  "redisCeiling.redisCpuMsPerJob",
  "redisCeiling.otherCpuMsPerJob",
  "redisCeiling.commandsPerJob",
  "redisCeiling.bytesPerRetainedJob",
  "redisCeiling.bytesPerWaitingJob",
  "redisCeiling.batchBytesPerJob",
  "redisCeiling.enqueue",
  "redisCeiling.workerSteps",
  "redisCeiling.webhookReceipt",
  "redisCeiling.completionEvents",
  "redisCeiling.retentionCleanup",
] as const;
type FigureId = (typeof REDIS_CEILING_FIGURES)[number];

/** A large nightly run: 10 million jobs finished in 8 hours. */
const NIGHTLY_JOBS_PER_SECOND = 10_000_000 / (8 * 3600);
/** The downstream consumer's concurrency, the worker's default. */
const CONSUMER_CONCURRENCY = 50;
/** Jobs whose every command is traced: enough for an average, small enough for the slow log. */
const TRACED_JOBS = 500;
/** Slow-log entries a traced job may leave (about 150 today), with room for the background. */
const TRACE_ENTRIES_PER_JOB = 400;
const IDLE_SECONDS = 3;

/**
 * Who asked Redis for a command: the harness's producer connection (enqueue), the worker (its steps,
 * and adding completion events to the route queue), the webhook receiver, the downstream consumer
 * of completion events, and the harness's own waiting (left out of every figure).
 */
const PHASES = [
  "enqueue",
  "workerSteps",
  "webhookReceipt",
  "eventAdd",
  "eventConsume",
  "other",
  "harness",
] as const;
type Phase = (typeof PHASES)[number];

export interface RedisCeilingOptions {
  /** Jobs of the measured run, after the fill. */
  jobs: number;
  /** Jobs run first to fill retention (its count at full scale), so the measured run trims as production does. */
  fill: number;
}

/**
 * What one Redis primary carries per job, at steady state: N jobs through the whole pipeline
 * (enqueue, worker, webhooks, the emulator at zero latency with no image work, a downstream consumer
 * of completion events in its own process), after a first run that fills retention so that every
 * finished job trims one, as in production. Each run has three windows: the jobs added to the paused
 * queue (enqueue, and the memory of waiting jobs), the queue resumed until every job finished
 * (worker and webhooks; the route queue paused), then the route queue resumed until every event
 * was consumed. Redis's main-thread CPU per job (INFO cpu) gives the jobs a second one Redis core
 * carries; INFO commandstats the commands per job; the fill (no trimming) against the measured run
 * the cost of retention cleanup; a last traced run (every command through the slow log, with the
 * client that sent it) the breakdown of the processing window by phase and command.
 */
export async function runRedisCeiling({ jobs, fill }: RedisCeilingOptions): Promise<BenchmarkResult> {
  const started = Date.now();
  const loadAtStart = loadavg();
  const bench = await startBenchStack({
    workers: 1,
    webhooks: true,
    emulatorEnv: { EMULATOR_LATENCY_MS: "0" },
  });
  const consumer = await startBareWorker({
    redisUrl: bench.stack.redisUrl!,
    queue: ROUTE,
    concurrency: CONSUMER_CONCURRENCY,
    prefix: DEFAULT_QUEUE_PREFIX,
  });
  // The harness's own commands (pause, resume, counts while it waits) go through a connection of
  // their own: the producer's carries the enqueue alone, and the trace can leave them out.
  const control = createRedisClient(bench.stack.redisSettings, { role: "producer" });
  const queues = {
    control,
    producer: bench.queue,
    batches: createBatchStore(bench.redis, { prefix: DEFAULT_QUEUE_PREFIX }),
    outpaint: new Queue(bench.queue.name, { connection: control, prefix: DEFAULT_QUEUE_PREFIX }),
    route: new Queue(ROUTE, { connection: control, prefix: DEFAULT_QUEUE_PREFIX }),
    alive: bench.assertRunning,
  };
  try {
    await waitForRedisReady(control);
    const empty = await readRedisCounters(control);
    const fillRun = await runWindows(queues, fill, "fill", bench);
    const filled = await readRedisCounters(control);
    await new Promise((resolve) => setTimeout(resolve, IDLE_SECONDS * 1000));
    const idle = countersBetween(filled, await readRedisCounters(control));
    const pids = {
      worker: bench.stack.workers[0]!.pid,
      webhooks: bench.stack.webhookReceivers[0]!.pid,
      consumer: consumer.pid,
      emulator: processPid(bench.stack, "emulator"),
      s3: processPid(bench.stack, "s3"),
    };
    const meter = cpuMeter({ ...pids, redis: await redisPid(bench.redis) });
    const harnessBefore = process.cpuUsage();
    const steady = await runWindows(queues, jobs, "steady", bench);
    const harnessCpu = process.cpuUsage(harnessBefore);
    const cpuMsPerJob = Object.fromEntries(
      Object.entries({ ...meter.read(), harness: (harnessCpu.user + harnessCpu.system) / 1000 }).map(
        ([name, ms]) => [name, ms / jobs],
      ),
    );
    const finished = await readRedisCounters(control);
    const completedKept = await queues.outpaint.getCompletedCount();
    const traced = Math.min(jobs, TRACED_JOBS);
    const trace = await traceRun(queues, traced, bench, {
      worker: pids.worker,
      webhooks: pids.webhooks,
      consumer: pids.consumer,
      harness: process.pid,
      producerPort: (bench.redis as Redis).stream.localPort!,
    });

    // Redis's main-thread CPU per job, net of what it spends idle (its timers, the workers' blocking
    // reads), which a busy Redis spreads over many more jobs.
    const idleMsPerSecond = idle.mainThreadCpuMs / IDLE_SECONDS;
    const perJob = (delta: RedisDelta, seconds: number, count = jobs) =>
      (delta.mainThreadCpuMs - idleMsPerSecond * seconds) / count;
    const windows = (run: typeof steady, count = jobs) => ({
      enqueue: perJob(run.enqueue, run.seconds.enqueue, count),
      process: perJob(run.process, run.seconds.process, count),
      consume: perJob(run.consume, run.seconds.consume, count),
    });
    const total = (byWindow: ReturnType<typeof windows>) =>
      byWindow.enqueue + byWindow.process + byWindow.consume;
    const cpuByWindow = windows(steady);
    const redisMs = total(cpuByWindow);
    const phaseFigure = (id: FigureId, tally: Tally, what: string) =>
      figure({
        id,
        label: `${what}: Redis commands per job (${tally.calls.toFixed(2)} sent)`,
        value: tally.commands,
        unit: "",
        note: "from the traced run: commands executed (a script's inner ones included), and those sent",
      });
    const cleanupCommands = steady.all.calls / jobs - fillRun.all.calls / fill;
    const cleanupMs = redisMs - total(windows(fillRun, fill));
    const others = ["worker", "webhooks", "consumer", "emulator", "s3"] as const;
    const otherMs = others.reduce((sum, name) => sum + cpuMsPerJob[name]!, 0);
    return {
      name: "redisCeiling",
      durationMs: Date.now() - started,
      setup: {
        jobs,
        fill,
        traced,
        retention: {
          outpaint: OUTPAINT_JOB_OPTIONS.removeOnComplete,
          route: ROUTE_JOB_OPTIONS.removeOnComplete,
        },
        seconds: steady.seconds,
        loadAverage: { start: loadAtStart, end: loadavg() },
        redis: {
          mainThreadCpuMsPerJob: redisMs,
          wholeProcessCpuMsPerJob: steady.all.cpuMs / jobs,
          mainThreadCpuMsPerJobWithIdle: steady.all.mainThreadCpuMs / jobs,
          mainThreadCpuMsPerJobByWindow: cpuByWindow,
          fillMainThreadCpuMsPerJob: total(windows(fillRun, fill)),
          commandsPerJob: steady.all.calls / jobs,
          fillCommandsPerJob: fillRun.all.calls / fill,
          commandsPerJobByName: byName(steady.all, jobs),
          idlePerSecond: {
            commands: idle.calls / IDLE_SECONDS,
            mainThreadCpuMs: idle.mainThreadCpuMs / IDLE_SECONDS,
          },
          // The commands the slow log saw and those commandstats counted over the traced run (within 5%).
          tracedCommandsPerJob: trace.tracedPerJob,
          countedCommandsPerJobDuringTrace: trace.counted.calls / traced,
        },
        cpuMsPerJobByProcess: cpuMsPerJob,
        completedKept,
        // Besides its batch, near 0 when retention bounds what a job leaves in Redis (a job's size below retention's count).
        bytesGrownPerJobAfterFill: (finished.usedMemory - filled.usedMemory - steady.batchBytes) / jobs,
        // Per job; µs are the slow log's wall clock (preemption on a loaded machine included).
        byPhase: trace.phases,
        byCommand: trace.byCommand,
      },
      figures: [
        figure({
          id: REDIS_CEILING_FIGURES[0],
          label: "jobs/s one Redis core carries (its main thread at 100%)",
          value: 1000 / redisMs,
          unit: "jobs/s",
          baseline: { value: NIGHTLY_JOBS_PER_SECOND, label: "10 M jobs in 8 h" },
          target: { on: "value", op: ">=", limit: NIGHTLY_JOBS_PER_SECOND },
          note: "one second over Redis's main-thread CPU per job, from enqueue to the consumed completion event",
        }),
        figure({
          id: REDIS_CEILING_FIGURES[1],
          label: `Redis main-thread CPU per job (enqueue ${formatMs(cpuByWindow.enqueue)}, worker and webhooks ${formatMs(cpuByWindow.process)}, consuming events ${formatMs(cpuByWindow.consume)})`,
          value: redisMs,
          unit: "ms",
          note: "INFO cpu used_cpu_user_main_thread + used_cpu_sys_main_thread over each window of the measured run, net of Redis's idle rate",
        }),
        figure({
          id: REDIS_CEILING_FIGURES[2],
          label: `CPU per job besides Redis (${others.map((name) => `${name} ${formatMs(cpuMsPerJob[name]!)}`).join(", ")})`,
          value: otherMs,
          unit: "ms",
          baseline: { value: redisMs, label: "Redis" },
          note: "/proc/<pid>/stat of each process over the measured run",
        }),
        figure({
          id: REDIS_CEILING_FIGURES[3],
          label: "Redis commands per job, scripts' inner ones included",
          value: steady.all.calls / jobs,
          unit: "",
          note: "INFO commandstats over the measured run, Redis's background included",
        }),
        figure({
          id: REDIS_CEILING_FIGURES[4],
          label: `Redis bytes per retained finished job (${completedKept} kept, with its event)`,
          value: completedKept
            ? (finished.usedMemory - empty.usedMemory - fillRun.batchBytes - steady.batchBytes) /
              completedKept
            : Number.NaN,
          unit: "bytes",
          note: "used_memory's growth since the empty queue, less the batches' keys, over the completed jobs kept",
        }),
        figure({
          id: REDIS_CEILING_FIGURES[5],
          label: `Redis bytes per waiting job (${jobs} added to the paused queue, batch membership included)`,
          value: steady.enqueue.usedMemory / jobs,
          unit: "bytes",
        }),
        figure({
          id: REDIS_CEILING_FIGURES[6],
          label: "Redis bytes a bulk batch keeps per finished job (for its report, 30 days)",
          value: steady.batchBytes / jobs,
          unit: "bytes",
          note: "MEMORY USAGE of the batch's keys (members, results) after every job ended",
        }),
        phaseFigure(REDIS_CEILING_FIGURES[7], trace.phases.enqueue, "enqueue"),
        phaseFigure(REDIS_CEILING_FIGURES[8], trace.phases.workerSteps, "worker steps"),
        phaseFigure(REDIS_CEILING_FIGURES[9], trace.phases.webhookReceipt, "webhook receipt"),
        phaseFigure(
          REDIS_CEILING_FIGURES[10],
          addTallies(trace.phases.eventAdd, trace.phases.eventConsume),
          "completion events (added by the worker, consumed)",
        ),
        figure({
          id: REDIS_CEILING_FIGURES[11],
          label: `retention cleanup: Redis commands per job (${formatMs(cleanupMs)} of Redis CPU), measured run minus fill`,
          value: cleanupCommands,
          unit: "",
          note: "inside the finishing scripts counted above; none while fewer jobs than retention's count finished",
        }),
      ],
    };
  } finally {
    await queues.outpaint.close();
    await queues.route.close();
    control.disconnect();
    await consumer.stop();
    await bench.close();
  }
}

interface Queues {
  /** The harness's own connection: readings, pause and resume, counts while it waits. */
  control: RedisClient;
  /** The producer's queue and batch store: the enqueue, and nothing else on their connection. */
  producer: Queue;
  batches: BatchStore;
  /** The same queue and the route queue on the harness's control connection. */
  outpaint: Queue;
  route: Queue;
  alive: () => void;
}

/**
 * `count` jobs added to the paused queue, then the queue resumed until every job finished (their
 * completion events wait in the paused route queue), then the route queue resumed until every event
 * was consumed: what Redis did in each window.
 */
async function runWindows(queues: Queues, count: number, run: string, bench: BenchStack) {
  const drain = (queue: Queue) =>
    waitUntilDrained(queue, { intervalMs: 250, alive: queues.alive }).catch((error: unknown) => {
      // A stalled run says why: each process's last log lines.
      const tails = bench.stack
        .outputs()
        .split(/^(?=--- )/m)
        .map((section) =>
          section
            .trimEnd()
            .split("\n")
            .slice(0, 1)
            .concat(section.trimEnd().split("\n").slice(1).slice(-8))
            .join("\n"),
        )
        .join("\n");
      throw new Error(`${error instanceof Error ? error.message : String(error)}\n${tails}`);
    });
  await queues.outpaint.pause();
  await queues.route.pause();
  const readings = [await readRedisCounters(queues.control)];
  const seconds = [0, 0, 0];
  const step = async (window: number, work: () => Promise<unknown>) => {
    const t0 = performance.now();
    await work();
    seconds[window] = (performance.now() - t0) / 1000;
    readings.push(await readRedisCounters(queues.control));
  };
  let batchId = "";
  await step(0, async () => {
    batchId = await addJobs(queues, count, run);
  });
  await step(1, async () => {
    await queues.outpaint.resume();
    await drain(queues.outpaint);
  });
  await step(2, async () => {
    await queues.route.resume();
    await drain(queues.route);
  });
  const [start, added, processed, consumed] = readings as [
    RedisCounters,
    RedisCounters,
    RedisCounters,
    RedisCounters,
  ];
  return {
    all: countersBetween(start, consumed),
    enqueue: countersBetween(start, added),
    process: countersBetween(added, processed),
    consume: countersBetween(processed, consumed),
    seconds: { enqueue: seconds[0]!, process: seconds[1]!, consume: seconds[2]! },
    batchBytes: await batchBytes(queues.control, batchId),
  };
}

/**
 * `count` jobs as a bulk run adds them: members of a batch of their own (opened, then sealed), whose
 * end the worker records for each job. Returns the batch's id.
 */
async function addJobs(queues: Queues, count: number, run: string): Promise<string> {
  const batchId = `bench-${run}`;
  await queues.batches.open(batchId, {
    kind: "bulk",
    createdAt: Date.now(),
    description: "pnpm bench redisCeiling",
  });
  for (let start = 0; start < count; start += 10_000) {
    const chunk = Math.min(10_000, count - start);
    await enqueueMany(
      queues.producer,
      Array.from({ length: chunk }, (_, i) => ({ ...benchJob(start + i, run), labels: { batchId } })),
      { batch: { store: queues.batches, batchId } },
    );
  }
  await queues.batches.seal(batchId);
  return batchId;
}

/** What a batch's keys hold in Redis (MEMORY USAGE, every element counted). */
async function batchBytes(control: RedisClient, batchId: string): Promise<number> {
  let bytes = 0;
  for (const key of Object.values(batchKeys(DEFAULT_QUEUE_PREFIX, batchId)))
    bytes += Number(await control.memory("USAGE", key, "SAMPLES", "0")) || 0;
  return bytes;
}

interface Tally {
  /** Commands sent to Redis. */
  calls: number;
  /** Commands executed: those sent and those their scripts called. */
  commands: number;
  /** Execution time in the slow log. */
  usec: number;
}

const addTallies = (a: Tally, b: Tally): Tally => ({
  calls: a.calls + b.calls,
  commands: a.commands + b.commands,
  usec: a.usec + b.usec,
});

/**
 * `count` more jobs through the same windows with every command logged, each attributed to a phase
 * by the process whose connection sent it (ports from /proc/<pid>/fd and /proc/net/tcp).
 */
async function traceRun(
  queues: Queues,
  count: number,
  bench: BenchStack,
  who: { worker: number; webhooks: number; consumer: number; harness: number; producerPort: number },
) {
  const names = await scriptNames();
  const trace = await startCommandTrace(queues.control, count * TRACE_ENTRIES_PER_JOB);
  const before = await readRedisCounters(queues.control);
  const owner = new Map<number, "worker" | "webhooks" | "consumer" | "harness">();
  let commands: TracedCommand[];
  try {
    await runWindows(queues, count, "traced", bench);
  } finally {
    // The ports while every connection is open; the slow log's settings restored even after a failure.
    for (const process of ["worker", "webhooks", "consumer", "harness"] as const)
      for (const port of tcpPortsOf(who[process])) owner.set(port, process);
    commands = await trace.stop();
  }
  const counted = countersBetween(before, await readRedisCounters(queues.control));
  const tracedCommands = commands.reduce((sum, command) => sum + 1 + command.inner.length, 0);
  // The attribution holds only if the log saw what Redis counted (the readings themselves aside).
  if (Math.abs(tracedCommands - counted.calls) > 0.05 * counted.calls)
    throw new Error(`the trace saw ${tracedCommands} commands where commandstats counted ${counted.calls}`);
  const routeKey = `${DEFAULT_QUEUE_PREFIX}:${ROUTE}:`;
  const phaseOf = (command: TracedCommand): Phase => {
    const port = Number(command.client.split(":").pop());
    if (port === who.producerPort) return "enqueue";
    switch (owner.get(port)) {
      case "webhooks":
        return "webhookReceipt";
      case "consumer":
        return "eventConsume";
      case "harness":
        return "harness";
      case "worker":
        return command.args.some((arg) => arg.startsWith(routeKey)) ? "eventAdd" : "workerSteps";
      default:
        return "other";
    }
  };
  const nameOf = (command: TracedCommand) =>
    command.name === "evalsha"
      ? (names.get(command.args[0]!) ?? `evalsha ${command.args[0]!.slice(0, 8)}`)
      : command.name;
  const empty = (): Tally => ({ calls: 0, commands: 0, usec: 0 });
  const phases = Object.fromEntries(PHASES.map((phase) => [phase, empty()])) as Record<Phase, Tally>;
  const byCommand: Partial<Record<Phase, Record<string, Tally>>> = {};
  for (const command of commands) {
    const phase = phaseOf(command);
    const byName = byCommand[phase] ?? {};
    byCommand[phase] = byName;
    const name = nameOf(command);
    const named = byName[name] ?? empty();
    byName[name] = named;
    for (const tally of [phases[phase], named]) {
      tally.calls += 1 / count;
      tally.commands += (1 + command.inner.length) / count;
      tally.usec += command.usec / count;
    }
  }
  const sorted = (tallies: Record<string, Tally>) =>
    Object.fromEntries(Object.entries(tallies).sort(([, a], [, b]) => b.commands - a.commands));
  return {
    phases,
    byCommand: Object.fromEntries(
      Object.entries(byCommand).map(([phase, tallies]) => [phase, sorted(tallies)]),
    ),
    tracedPerJob: tracedCommands / count,
    counted,
  };
}

const byName = (delta: RedisDelta, jobs: number) =>
  Object.fromEntries(
    [...delta.commands]
      .sort(([, a], [, b]) => b.calls - a.calls)
      .map(([name, { calls, usec }]) => [name, { calls: calls / jobs, usec: usec / jobs }]),
  );

const formatMs = (ms: number) => (Math.abs(ms) < 1 ? `${(ms * 1000).toFixed(0)} µs` : `${ms.toFixed(2)} ms`);
