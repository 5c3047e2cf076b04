import { mkdir, writeFile } from "node:fs/promises";
import { dirname } from "node:path";
import { HeadObjectCommand, PutObjectCommand, type S3Client } from "@aws-sdk/client-s3";
import { PROVIDER_LIMITS, planCanvas, type Target } from "@reframe/geometry";
import {
  BATCH_COMPLETED_EVENT_TYPE,
  type BatchStore,
  batchCompletedEventSchema,
  COMPLETION_EVENT_TYPE,
  createBatchStore,
  DEFAULT_BREAKER_SETTINGS,
  enqueueMany,
  FAILURE_EVENT_TYPE,
  type OutpaintJobInput,
  outpaintEventSchema,
  parseOutpaintJobData,
  probesWithin,
  readOutpaintResult,
} from "@reframe/jobs";
import { LOCAL_BUCKETS, type LocalStack, startLocalStack } from "@reframe/local-stack";
import { readImageDimensions } from "@reframe/storage";
import { type RedisTopologyKind, type RunningProcess, seededRandom } from "@reframe/testkit";
import { taskUUIDFor } from "@reframe/worker";
import type { Job, Queue } from "bullmq";
import sharp from "sharp";
import { providerSubmits, type StackClients, stackClients } from "../outpaint-flow/stack-fixture.ts";
import {
  type BatchObservation,
  type ChaosReport,
  computeReport,
  type JobObservation,
  type RedisOutage,
} from "./chaos-report.ts";
import { trackExit, watchRedisOutage } from "./redis-outage.ts";

/**
 * One fault-injection run over real processes: the local stack with 2 workers, 2 webhook receivers
 * behind one URL, the emulator with fault rates, Redis with AOF and the embedded S3. While the jobs
 * drain, a worker is SIGKILLed every few seconds and started again, and Redis fails once: a single
 * node is restarted; a Sentinel group's master is SIGKILLed, its replica promoted and the old master
 * brought back as a replica; a Cluster's master holding reframe's slot is SIGKILLed and its replica
 * promoted, then it comes back as a replica. Then every job, event, provider task and output is
 * checked (chaos-report.ts).
 */

export interface ChaosOptions {
  jobs: number;
  /** How reframe reaches Redis: one node (restarted), a Sentinel group or a Cluster (failed over). */
  redisTopology?: RedisTopologyKind;
  workers?: number;
  webhookReceivers?: number;
  /** Milliseconds between SIGKILLs, drawn uniformly from this range. */
  killEveryMs?: { min: number; max: number };
  /** Share of the jobs finished when Redis fails (once). */
  redisFailAt?: number;
  /** Seeds the emulator's faults and the harness's choices. */
  seed?: number;
  /**
   * Every job's `deadlineSeconds`. By default the shortest (60) for the fault-injection run; for an
   * outage run 15 minutes (the default), or the outage and 10 minutes more when that is longer: a job
   * that should wait out an outage is given a deadline past it (README: Provider outages).
   */
  deadlineSeconds?: number;
  /** Give up waiting for the drain after this long. */
  drainTimeoutMs?: number;
  /** Where every process's output goes (written after the run), for a post-mortem. */
  logFile?: string;
  onProgress?: (line: string) => void;
  /**
   * Instead of SIGKILLs and a Redis fault: the provider answers every request 503 for this long,
   * starting when `atShare` of the jobs have finished (the emulator's POST /admin/outage).
   */
  providerOutage?: {
    durationMs: number;
    atShare?: number;
    /** Called 2 s into the outage (a test looks at the CLI then). */
    whileDown?: (stack: LocalStack) => Promise<void>;
  };
  /**
   * Instead of SIGKILLs and a Redis fault: S3 is out for this long, starting when `atShare` of the
   * jobs have finished (the workers' and the provider's way to S3 is a TCP proxy; a counting cut
   * resets every connection and records what it asked).
   */
  s3Outage?: { durationMs: number; atShare?: number };
}

/** The issue's fault mix: per request (HTTP), per generation (terminal, upload), per webhook. */
const CHAOS_FAULTS = {
  EMULATOR_RATE_429: "0.10",
  EMULATOR_RATE_503: "0.05",
  EMULATOR_RATE_TIMEOUT: "0.02",
  EMULATOR_RATE_UPLOAD_FAILURE: "0.02",
  EMULATOR_RATE_TERMINAL: "0.01",
  EMULATOR_RATE_WEBHOOK_DROP: "0.30",
  EMULATOR_RATE_WEBHOOK_DUPLICATE: "0.20",
  EMULATOR_RATE_WEBHOOK_DELAY: "0.20",
  EMULATOR_RATE_WEBHOOK_REORDER: "0.20",
} as const;

/**
 * Time is compressed so that 2,000 jobs drain in minutes: a timed-out request is given up after 10 s
 * (the emulator holds those answers 15 s), a dropped webhook is polled for after 5 s (30 s by
 * default), and a SIGKILLed worker's active jobs come back after a 5 s lock.
 */
const WORKER_ENV = {
  RUNWARE_TIMEOUT_MS: "10000",
  POLL_FIRST_MS: "5000",
  WORKER_LOCK_DURATION_MS: "5000",
  WORKER_STALLED_INTERVAL_MS: "2500",
};
const EMULATOR_ENV = { EMULATOR_TIMEOUT_DELAY_MS: "15000" };
const MAX_GENERATIONS = 3;
/** Generations given back for an S3 outage at most, besides MAX_GENERATIONS (the worker's default). */
const MAX_OUTAGE_GENERATIONS = 2;
/** Slots per worker, written out: the outage's request bound counts them. */
const WORKER_CONCURRENCY = 50;
/** The shortest deadline a job may ask for: a task with no result after it is redone. */
const DEADLINE_SECONDS = 60;
const STUCK_GRACE_MS = 30_000;
const ROUTE = "chaos-done";
/** Where the batch announces that it closed (once). */
const BATCH_ROUTE = "chaos-batches";
const SOURCES = [
  { width: 96, height: 64 },
  { width: 72, height: 88 },
  { width: 100, height: 70 },
] as const;
const RATIOS = ["16:9", "1:1", "9:16", "3:1", "4:5", "1.91:1", "21:9", "4:1"] as const;

interface PlannedJob {
  input: OutpaintJobInput;
  expected: { width: number; height: number };
}

export async function runChaos(options: ChaosOptions): Promise<ChaosReport> {
  const seed = options.seed ?? Math.floor(Math.random() * 2 ** 31);
  const random = seededRandom(seed);
  const progress = options.onProgress ?? (() => undefined);
  const topology = options.redisTopology ?? "single";
  const stack = await startLocalStack({
    redisTopology: topology,
    // Failover needs a replica: one per Cluster master (a Sentinel group has one by default).
    ...(topology === "cluster" ? { redisReplicas: 1 } : {}),
    workers: options.workers ?? 2,
    webhookReceivers: options.webhookReceivers ?? 2,
    s3Proxy: options.s3Outage !== undefined,
    appendOnly: true,
    emulatorEnv: { ...CHAOS_FAULTS, ...EMULATOR_ENV, EMULATOR_SEED: String(seed) },
    workerEnv: {
      ...WORKER_ENV,
      TASK_MAX_GENERATIONS: String(MAX_GENERATIONS),
      TASK_MAX_OUTAGE_GENERATIONS: String(MAX_OUTAGE_GENERATIONS),
      WORKER_CONCURRENCY: String(WORKER_CONCURRENCY),
    },
  });
  const clients = stackClients(stack);
  // The harness's own clients see Redis go away during the fault; they retry, nothing more.
  clients.connection.on("error", () => undefined);
  clients.queue.on("error", () => undefined);
  try {
    // One batch, as `reframe bulk` makes: it must count every end once and close exactly once.
    const batchId = `chaos-${seed}`;
    const batches = createBatchStore(clients.connection, { prefix: clients.prefix });
    const outage = options.providerOutage;
    const s3Outage = options.s3Outage;
    const deadlineSeconds =
      options.deadlineSeconds ?? defaultDeadlineSeconds(outage?.durationMs ?? s3Outage?.durationMs);
    const planned = await prepareJobs(clients.s3, options.jobs, batchId, deadlineSeconds);
    progress(
      `seed ${seed}: ${planned.length} jobs (deadlineSeconds ${deadlineSeconds}), sources uploaded; enqueueing`,
    );
    const startedAt = Date.now();
    await batches.open(batchId, { kind: "bulk", createdAt: startedAt, route: [BATCH_ROUTE] });
    const { jobIds } = await enqueueMany(
      clients.queue,
      planned.map((job) => job.input),
      { batch: { store: batches, batchId } },
    );
    await batches.seal(batchId);
    const chaos = new ChaosActions(stack, random, options.killEveryMs ?? { min: 3000, max: 6000 });
    let outageStartedAt: number | undefined;
    const startOutage = async () => {
      const response = await fetch(`${stack.emulatorUrl}/admin/outage`, {
        method: "POST",
        body: JSON.stringify({ seconds: outage!.durationMs / 1000 }),
      });
      if (!response.ok) throw new Error(`POST /admin/outage: ${response.status} ${await response.text()}`);
      outageStartedAt = Date.now();
      progress(`provider outage: every request answered 503 for ${outage!.durationMs / 1000} s`);
      if (outage!.whileDown) looked = delay(2000).then(() => outage!.whileDown!(stack));
    };
    let looked: Promise<void> | undefined;
    let s3Down:
      | { from: number; until?: number; over: Promise<void>; submits: { from: number; until?: number } }
      | undefined;
    const startS3Outage = async () => {
      await stack.s3Proxy!.cut({ counting: true });
      const from = Date.now();
      const submits: { from: number; until?: number } = { from: await providerSubmits(stack.emulatorUrl) };
      progress(`S3 outage: every connection to S3 reset for ${s3Outage!.durationMs / 1000} s`);
      s3Down = {
        from,
        submits,
        over: delay(s3Outage!.durationMs).then(async () => {
          submits.until = await providerSubmits(stack.emulatorUrl);
          await stack.s3Proxy!.restore();
          s3Down!.until = Date.now();
          progress("S3 is back");
        }),
      };
    };
    if (!outage && !s3Outage) chaos.startKilling();
    const drainedAt = await waitForDrain(clients, jobIds.length, {
      timeoutMs: options.drainTimeoutMs ?? 15 * 60_000,
      fault: outage
        ? { at: Math.ceil(jobIds.length * (outage.atShare ?? 0.3)), run: startOutage }
        : s3Outage
          ? { at: Math.ceil(jobIds.length * (s3Outage.atShare ?? 0.3)), run: startS3Outage }
          : { at: Math.ceil(jobIds.length * (options.redisFailAt ?? 0.4)), run: () => chaos.failRedis() },
      progress: (finished) =>
        progress(
          `${Math.round((Date.now() - startedAt) / 1000)} s: ${finished}/${jobIds.length} finished · ${
            outage
              ? `provider outage ${outageStartedAt === undefined ? "not yet" : Date.now() < outageStartedAt + outage.durationMs ? "on" : "over"}`
              : s3Outage
                ? `S3 outage ${s3Down === undefined ? "not yet" : s3Down.until === undefined ? "on" : "over"}`
                : `workers SIGKILLed ${chaos.kills} · ${REDIS_FAULTS[topology]} ${chaos.redisFaults}`
          }${chaos.startFailures.length > 0 ? ` · worker starts that timed out ${chaos.startFailures.length}` : ""}`,
        ),
    });
    await chaos.stop();
    await looked;
    await s3Down?.over;
    progress(drainedAt ? "drained; checking every job, event, task and output" : "did not drain; checking");
    const observedAt = Date.now();
    const jobs = await observeJobs(clients, jobIds, planned);
    const batch = await observeBatch(clients, batches, batchId);
    const counters = (await (await fetch(`${stack.emulatorUrl}/admin/counters`)).json()) as {
      tasks: Record<string, Record<string, number>>;
      injected: Record<string, number>;
      outage: { requests: number; submits: number; polls: number };
    };
    return computeReport({
      ...(outage
        ? {
            providerOutage: {
              durationMs: outage.durationMs,
              started: outageStartedAt !== undefined,
              requests: counters.outage.requests,
              submits: counters.outage.submits,
              polls: counters.outage.polls,
              bound: outageRequestBound(stack.workers.length, outage.durationMs),
            },
          }
        : {}),
      ...(s3Outage
        ? {
            s3Outage: {
              durationMs: s3Outage.durationMs,
              started: s3Down !== undefined,
              ...s3RequestsOf(stack.s3Proxy!.cutRequests()),
              bound: s3OutageRequestBound(stack.workers.length, s3Outage.durationMs),
              submits: (s3Down?.submits.until ?? 0) - (s3Down?.submits.from ?? 0),
              submitBound: stack.workers.length * WORKER_CONCURRENCY,
            },
          }
        : {}),
      jobs,
      batch,
      tasks: counters.tasks,
      injected: counters.injected,
      maxGenerations: MAX_GENERATIONS,
      workerKills: chaos.kills,
      redisFault: outage
        ? "none (provider outage run)"
        : s3Outage
          ? "none (S3 outage run)"
          : REDIS_FAULTS[topology],
      redisFaults: chaos.redisFaults,
      drainMs: drainedAt === undefined ? undefined : drainedAt - startedAt,
      observedAt,
      stuckGraceMs: STUCK_GRACE_MS,
      taskDeadlineMs: deadlineSeconds * 1000,
      ...(chaos.redisFaults > 0 ? { redisOutage: chaos.outages[0] ?? null } : {}),
    });
  } finally {
    await clients.close().catch(() => undefined);
    if (options.logFile) {
      await mkdir(dirname(options.logFile), { recursive: true });
      await writeFile(options.logFile, stack.outputs());
    }
    await stack.stop();
  }
}

/**
 * An outage run waits out the outage: the jobs' deadline is the default (15 min), or the outage and
 * 10 minutes more when it is longer, never the shortest. The fault-injection run's is the shortest.
 */
function defaultDeadlineSeconds(outageMs: number | undefined): number {
  if (outageMs === undefined) return DEADLINE_SECONDS;
  return Math.min(86_400, Math.max(900, Math.ceil(outageMs / 1000) + 600));
}

/**
 * The provider requests an outage may see from reframe: before the breaker opens (and before each
 * worker learns it is open, at its next failure) at most one request per job slot and the
 * reconciler's, plus the failures that open it; then only the probes of the schedule.
 */
function outageRequestBound(workers: number, durationMs: number): number {
  const { threshold } = DEFAULT_BREAKER_SETTINGS;
  return workers * (WORKER_CONCURRENCY + 1 + threshold) + probesWithin(durationMs, DEFAULT_BREAKER_SETTINGS);
}

/**
 * The S3 requests made during an outage, as the proxy saw them: the workers' own (signed in a
 * header), and the provider's through presigned URLs (signed in the query), told apart.
 */
function s3RequestsOf(requestLines: string[]): { requests: number; providerRequests: number } {
  const provider = requestLines.filter((line) => line.includes("X-Amz-Signature=")).length;
  return { requests: requestLines.length - provider, providerRequests: provider };
}

/**
 * The workers' S3 requests an outage may see: before S3's breaker opens (and before each worker
 * reads that it is open, within its tick) at most one request per job slot plus the failures that
 * open it; then only the probes of the schedule. Each is up to the SDK's three tries.
 */
function s3OutageRequestBound(workers: number, durationMs: number): number {
  const { threshold } = DEFAULT_BREAKER_SETTINGS;
  return (
    3 * (workers * (WORKER_CONCURRENCY + threshold) + probesWithin(durationMs, DEFAULT_BREAKER_SETTINGS))
  );
}

/** Sources of a few odd sizes (no target ratio matches one, so every job goes to the provider). */
async function prepareJobs(
  s3: S3Client,
  count: number,
  batchId: string,
  deadlineSeconds: number,
): Promise<PlannedJob[]> {
  const sourceCount = Math.ceil(count / RATIOS.length);
  const keys = Array.from({ length: sourceCount }, (_, i) => `chaos/${i}.jpg`);
  const sizeOf = (i: number) => SOURCES[i % SOURCES.length]!;
  const bytes = await Promise.all(SOURCES.map((size) => sourceImage(size.width, size.height)));
  await inBatches(keys, 16, async (key, i) => {
    await s3.send(
      new PutObjectCommand({
        Bucket: LOCAL_BUCKETS.sources,
        Key: key,
        Body: bytes[i % SOURCES.length],
        ContentType: "image/jpeg",
      }),
    );
  });
  const jobs: PlannedJob[] = [];
  for (const [i, key] of keys.entries()) {
    for (const ratio of RATIOS) {
      if (jobs.length === count) break;
      const target: Target = { kind: "ratio", ratio, anchor: "center" };
      const plan = planCanvas({
        source: sizeOf(i),
        target,
        limits: PROVIDER_LIMITS["runware:bfl:flux@outpainting"],
      });
      if (!plan.ok) throw new Error(`chaos job ${key} → ${ratio}: ${plan.message}`);
      jobs.push({
        input: {
          source: { kind: "s3", bucket: LOCAL_BUCKETS.sources, key },
          target,
          output: { bucket: LOCAL_BUCKETS.outputs, prefix: "chaos/", format: "PNG" },
          options: { deadlineSeconds },
          route: [ROUTE],
          labels: { batchId },
        } as OutpaintJobInput,
        expected: plan.plan.output,
      });
    }
  }
  return jobs;
}

async function sourceImage(width: number, height: number): Promise<Buffer> {
  const svg = `<svg xmlns="http://www.w3.org/2000/svg" width="${width}" height="${height}"><defs><linearGradient id="g"><stop offset="0" stop-color="#3a7"/><stop offset="1" stop-color="#fc4"/></linearGradient></defs><rect width="100%" height="100%" fill="url(#g)"/></svg>`;
  return sharp(Buffer.from(svg)).jpeg().toBuffer();
}

/** What fails in Redis once, per topology. */
export const REDIS_FAULTS: Record<RedisTopologyKind, string> = {
  single: "Redis restarted",
  sentinel: "Sentinel master SIGKILLed (replica promoted, old master back as a replica)",
  cluster: "Cluster master of reframe's slot SIGKILLed (replica promoted, old master back as a replica)",
};

/** SIGKILLs a random worker every few seconds and starts a new one; fails Redis on request. */
export class ChaosActions {
  kills = 0;
  redisFaults = 0;
  /** The outage each Redis fault caused, as measured (undefined: not over within the limit). */
  readonly outages: (RedisOutage | undefined)[] = [];
  readonly startFailures: unknown[] = [];
  private readonly stack: LocalStack;
  private readonly random: () => number;
  private readonly range: { min: number; max: number };
  private readonly current: RunningProcess[];
  private stopped = false;
  private killing: Promise<void> | undefined;
  private wake: (() => void) | undefined;

  constructor(stack: LocalStack, random: () => number, range: { min: number; max: number }) {
    this.stack = stack;
    this.random = random;
    this.range = range;
    this.current = stack.workers.map(trackExit);
  }

  startKilling(): void {
    this.killing = this.killLoop();
  }

  private async killLoop(): Promise<void> {
    while (!this.stopped) {
      const pause = this.range.min + this.random() * (this.range.max - this.range.min);
      await new Promise<void>((resolve) => {
        this.wake = resolve;
        setTimeout(resolve, pause);
      });
      if (this.stopped) return;
      const index = Math.floor(this.random() * this.current.length);
      await this.current[index]!.kill();
      this.kills += 1;
      try {
        this.current[index] = trackExit(await this.stack.startWorker());
      } catch (error) {
        // A replacement that did not start in time: the run goes on with one worker fewer until
        // the next round starts one again (killing the dead one is a no-op).
        this.startFailures.push(error);
      }
    }
  }

  /**
   * Fails Redis once and measures the outage the workers saw (redis-outage.ts), while the old
   * master is brought back as a replica.
   */
  async failRedis(): Promise<void> {
    const redis = this.stack.redisTopology;
    const watch = watchRedisOutage(this.stack.redisSettings, () =>
      this.current.map((process) => ({
        process,
        healthUrl: this.stack.metricsUrls.get(process.name)!.replace(/\/metrics$/, "/healthz"),
      })),
    );
    const onKilled = () => watch.killed();
    const fault = async () => {
      switch (redis?.kind) {
        case "sentinel":
          await redis.failOver({ onKilled });
          break;
        case "cluster": {
          const killed = await redis.failOver(this.stack.redisSettings.prefix, { onKilled });
          await killed.server.start();
          await redis.waitHealthy();
          break;
        }
        default:
          onKilled();
          await this.stack.restartRedis();
      }
    };
    const [outage] = await Promise.all([watch.result, fault()]);
    this.redisFaults += 1;
    this.outages.push(outage);
  }

  async stop(): Promise<void> {
    this.stopped = true;
    this.wake?.();
    await this.killing;
  }
}

/**
 * Waits until every job has finished, or nothing is left to run (no job waiting, active or parked
 * for 10 s: the rest are lost), or the timeout. Returns when the last job finished, if they all did.
 */
async function waitForDrain(
  clients: StackClients,
  total: number,
  settings: {
    timeoutMs: number;
    /** Done once, when this many jobs have finished. */
    fault: { at: number; run: () => Promise<void> };
    progress: (finished: number) => void;
  },
): Promise<number | undefined> {
  const deadline = Date.now() + settings.timeoutMs;
  let faulted = false;
  let idleSince: number | undefined;
  let lastReport = 0;
  while (Date.now() < deadline) {
    const counts = await clients.queue
      .getJobCounts("completed", "failed", "waiting", "active", "delayed", "prioritized")
      .catch(() => undefined);
    if (counts) {
      const finished = (counts.completed ?? 0) + (counts.failed ?? 0);
      if (finished >= total) return Date.now();
      if (!faulted && finished >= settings.fault.at) {
        faulted = true;
        await settings.fault.run();
      }
      const pending =
        (counts.waiting ?? 0) + (counts.active ?? 0) + (counts.delayed ?? 0) + (counts.prioritized ?? 0);
      idleSince = pending > 0 ? undefined : (idleSince ?? Date.now());
      if (idleSince !== undefined && Date.now() - idleSince > 10_000) return undefined;
      if (Date.now() - lastReport >= 5000) {
        settings.progress(finished);
        lastReport = Date.now();
      }
    }
    await new Promise((resolve) => setTimeout(resolve, 250));
  }
  return undefined;
}

async function observeJobs(
  clients: StackClients,
  jobIds: string[],
  planned: PlannedJob[],
): Promise<JobObservation[]> {
  const events = await eventsByJob(clients.routeQueue(ROUTE));
  const observations: JobObservation[] = [];
  await inBatches(jobIds, 16, async (jobId, index) => {
    const job = (await clients.queue.getJob(jobId)) as Job | undefined;
    observations[index] = await observeJob(clients.s3, jobId, job, planned[index]!, events.get(jobId));
  });
  return observations;
}

interface EventsOfJob {
  completed: number;
  failed: number;
  /** What the completion events announced, per output key. */
  announced: Map<string, { width: number; height: number; etag?: string }>;
}

async function observeJob(
  s3: S3Client,
  jobId: string,
  job: Job | undefined,
  planned: PlannedJob,
  events: EventsOfJob = { completed: 0, failed: 0, announced: new Map() },
): Promise<JobObservation> {
  const taskUUIDs = Array.from({ length: MAX_GENERATIONS + MAX_OUTAGE_GENERATIONS }, (_, generation) =>
    taskUUIDFor(jobId, 0, generation),
  );
  const counted = { completed: events.completed, failed: events.failed };
  if (!job) return { jobId, state: "missing", taskUUIDs, events: counted, stalls: 0, outputs: [] };
  const state = await job.getState();
  const saved = parseOutpaintJobData(job.data).state;
  const tasks = saved?.tasks ?? [];
  const observation: JobObservation = {
    jobId,
    state: state === "completed" || state === "failed" ? state : "unfinished",
    taskUUIDs,
    events: counted,
    stalls: job.stalledCounter,
    outputs: [],
  };
  const givenBack = saved?.outageGenerations ?? [];
  if (givenBack.length > 0) observation.outageGenerations = givenBack.map((given) => given.generation);
  if (tasks.length > 0) observation.deadline = Math.max(...tasks.map((task) => task.deadline));
  if (job.finishedOn) observation.finishedAt = job.finishedOn;
  if (state === "failed") observation.failureCode = job.failedReason?.split(":")[0]?.trim();
  if (state === "completed") {
    const variants = readOutpaintResult(job.returnvalue)?.variants ?? [];
    if (variants.length === 0)
      observation.outputs.push({ key: "(none)", problem: "no variant in the result" });
    for (const variant of variants) {
      const problem = await checkOutput(s3, variant, planned.expected, events.announced.get(variant.key));
      observation.outputs.push(problem ? { key: variant.key, problem } : { key: variant.key });
    }
  }
  return observation;
}

/**
 * The object in S3 has the independently planned size, is the one the job recorded (same ETag: no
 * older generation overwrote it afterwards), and the completion event announced that size.
 */
async function checkOutput(
  s3: S3Client,
  variant: { key: string; etag?: string },
  expected: { width: number; height: number },
  announced: { width: number; height: number } | undefined,
): Promise<string | undefined> {
  const planned = `${expected.width}×${expected.height}`;
  try {
    const head = await s3.send(new HeadObjectCommand({ Bucket: LOCAL_BUCKETS.outputs, Key: variant.key }));
    const header = await readImageDimensions({ client: s3, bucket: LOCAL_BUCKETS.outputs, key: variant.key });
    if (header.width !== expected.width || header.height !== expected.height) {
      return `${header.width}×${header.height}, planned ${planned}`;
    }
    if (variant.etag && head.ETag !== variant.etag) {
      return `replaced after it was verified (ETag ${head.ETag}, recorded ${variant.etag})`;
    }
    if (announced && (announced.width !== expected.width || announced.height !== expected.height)) {
      return `the completion event announced ${announced.width}×${announced.height}, planned ${planned}`;
    }
    return undefined;
  } catch (error) {
    return `unreadable: ${(error as Error).name} ${(error as Error).message}`;
  }
}

async function observeBatch(
  clients: StackClients,
  batches: BatchStore,
  batchId: string,
): Promise<BatchObservation> {
  const status = await batches.status(batchId);
  const events = await clients
    .routeQueue(BATCH_ROUTE)
    .getJobs(["waiting", "active", "completed", "failed", "delayed", "prioritized"]);
  const announcements = events.filter((event) => {
    const data = batchCompletedEventSchema.parse(event.data);
    return data.type === BATCH_COMPLETED_EVENT_TYPE && data.data.batchId === batchId;
  }).length;
  return { status, announcements };
}

async function eventsByJob(route: Queue): Promise<Map<string, EventsOfJob>> {
  const all = await route.getJobs(["waiting", "active", "completed", "failed", "delayed", "prioritized"]);
  const perJob = new Map<string, EventsOfJob>();
  for (const event of all) {
    const data = outpaintEventSchema.parse(event.data);
    const entry = perJob.get(data.data.jobId) ?? { completed: 0, failed: 0, announced: new Map() };
    if (data.type === COMPLETION_EVENT_TYPE) {
      entry.completed += 1;
      for (const variant of data.data.variants) entry.announced.set(variant.key, variant);
    } else if (data.type === FAILURE_EVENT_TYPE) entry.failed += 1;
    perJob.set(data.data.jobId, entry);
  }
  return perJob;
}

const delay = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

async function inBatches<T>(items: T[], size: number, work: (item: T, index: number) => Promise<void>) {
  for (let start = 0; start < items.length; start += size) {
    await Promise.all(items.slice(start, start + size).map((item, offset) => work(item, start + offset)));
  }
}
