import type { S3Client } from "@aws-sdk/client-s3";
import { sourceLimitsOf } from "@reframe/config";
import type { GuardedFetch } from "@reframe/egress";
import type { ImageSlots } from "@reframe/images";
import {
  Admitter,
  type AlertPublisher,
  announceBatchCompleted,
  createAdmission,
  createBatchStore,
  createBreakerStore,
  createOutpaintQueue,
  createQueueSampler,
  createSpendLedger,
  createTaskStore,
  OUTPAINT_QUEUE,
  type OutpaintResult,
  openRouteQueues,
  outpaintJobDataSchema,
  providerBackoffStrategy,
  type QueueSampleData,
} from "@reframe/jobs";
import { createWrittenObjects } from "@reframe/pipelines";
import { connectionProblem } from "@reframe/reachability";
import {
  assertNoEviction,
  createRedisClient,
  isRedisOutage,
  LeaderLock,
  type RedisClient,
  type RedisSettings,
  reportRedisReconnects,
  waitForRedisReady,
} from "@reframe/redis";
import type { RunwareClient } from "@reframe/runware";
import type { SourceInspection } from "@reframe/sources";
import { DEFAULT_S3_TIMEOUTS, scratchAreas } from "@reframe/storage";
import type { Logger } from "@reframe/telemetry";
import { type Queue, type Telemetry, Worker } from "bullmq";
import { startDeliveries } from "./deliveries.ts";
import { recordFinalFailure } from "./final-failure.ts";
import { createOutpaintProcessor } from "./outpaint-processor.ts";
import { startPipelineRunWorker } from "./pipeline-run-worker.ts";
import type { ProviderBreaker } from "./provider-breaker.ts";
import { Reconciler } from "./reconciler.ts";
import { startSpendWatch } from "./spend-watch.ts";
import type { StorageBreaker } from "./storage-breaker.ts";
import type { SubmitBatcher } from "./submit-batcher.ts";
import type { WorkerConfig } from "./worker-config.ts";
import type { OutpaintDeps, WebhookSettings } from "./worker-deps.ts";
import { recordCompletion, type WorkerMetrics } from "./worker-telemetry.ts";

const RECONCILER_LOCK_TTL_MS = 10_000;
/** As long as a completed job is kept (TASK_RETENTION_MS): a job is re-run at most once in that time. */
const RERUN_MARK_TTL_MS = 7 * 24 * 60 * 60 * 1000;
/** How long an abandoned session may take to let go before it is left to the garbage collector. */
const ABANDON_TIMEOUT_MS = 5_000;

/** What outlives a session: nothing here holds a Redis connection. */
export interface SessionShared {
  config: WorkerConfig;
  /** Where Redis is (derived once from the config): every session connects anew through it. */
  redis: RedisSettings;
  logger: Logger;
  /** The provider client, guarded by the breaker: every request's outcome counts for it. */
  provider: RunwareClient;
  /** Process-wide; each session attaches its Redis side (the shared state) to it. */
  breaker: ProviderBreaker;
  /** S3's breaker, likewise; `s3` is guarded by it. */
  storageBreaker: StorageBreaker;
  batcher: SubmitBatcher;
  s3: S3Client;
  /** Reads URL sources through the egress guard. */
  sourceFetch: GuardedFetch["fetch"];
  /** POSTs deliveries to outbound endpoints through the egress guard (DELIVERY_ALLOW_HOSTS). */
  deliveryFetch: GuardedFetch["fetch"];
  webhook: WebhookSettings | undefined;
  /** Image work of the whole process, across sessions: the slots and the local directory. */
  imageSlots: ImageSlots;
  inspections: Map<string, SourceInspection>;
  workDirectory: string;
  metrics: WorkerMetrics;
  /** bullmq-otel while tracing is on: jobs and events carry their trace context. */
  bullmqTelemetry: Telemetry | undefined;
}

/**
 * Everything of a worker process that lives on one Redis connection: the connection, the queues,
 * the task and batch stores, the BullMQ Workers (outpaint, pipeline runs) and the reconciler. The silence watchdog replaces a session
 * whose connection went dead without ioredis noticing (a failover that leaves old connections
 * half-open); the provider client, the batcher and the S3 client carry over.
 */
export interface WorkerSession {
  connection: RedisClient;
  worker: Worker<unknown, OutpaintResult>;
  reconciler: Reconciler | undefined;
  pipelineRuns: Worker | undefined;
  /** Jobs taken since the session opened, and processors running now. */
  progress(): { taken: number; running: number };
  /** The queue's counts, pause state and task backlog for the metrics (cached). */
  sampleQueues(): Promise<QueueSampleData>;
  /** Graceful: stops taking jobs, lets active ones finish or park, sends queued submits, closes. */
  close(): Promise<void>;
  /** The connection is dead: drop it at once (its commands fail), then close what closes in time. */
  abandon(): Promise<void>;
}

export async function openWorkerSession(shared: SessionShared): Promise<WorkerSession> {
  const { config, logger } = shared;
  const connection = await connectRedis(shared);
  const wiring = wireDeps(shared, connection);
  const { deps, closeQueues } = wiring;
  const outpaint = startOutpaintProcessing(shared, connection, deps);
  const reconciler = config.RECONCILER
    ? new Reconciler({
        lock: new LeaderLock(connection, `${config.QUEUE_PREFIX}:reconciler:lock`, RECONCILER_LOCK_TTL_MS),
        taskStore: deps.taskStore,
        provider: shared.provider,
        queue: wiring.outpaintQueue,
        logger,
        pollIntervalMs: config.POLL_INTERVAL_MS,
        pollMaxIntervalMs: Math.max(config.POLL_INTERVAL_MS, config.POLL_MAX_INTERVAL_MS),
        providerDown: () => shared.breaker.openState() !== undefined,
      })
    : undefined;
  reconciler?.start();
  // Every worker runs one: a batch's lease makes one of them top its window up (admitter.ts).
  const admitter = new Admitter({
    redis: connection,
    prefix: config.QUEUE_PREFIX,
    admission: createAdmission(connection, {
      queue: wiring.outpaintQueue,
      store: deps.batches,
      prefix: config.QUEUE_PREFIX,
    }),
    onClosed: async (batchId) => {
      await announceBatchCompleted(deps.batches, batchId, deps.routes);
    },
    onError: (error) => {
      if (!connectionProblem(error)) logger.warn({ err: error }, "admitting waiting batch jobs failed");
    },
  });
  admitter.start();
  const spendWatch = startSpendWatch({
    ledger: wiring.spendLedger,
    queue: wiring.outpaintQueue,
    limitUsd: config.SPEND_LIMIT_USD_PER_DAY,
    logger,
    onSpend: (spentUsd, limitUsd) => shared.metrics.setSpend("day", spentUsd, limitUsd),
  });
  const pipelineRuns = config.PIPELINE_RUNS
    ? startPipelineRunWorker({
        connection,
        prefix: config.QUEUE_PREFIX,
        s3: shared.s3,
        outpaintQueue: wiring.outpaintQueue,
        batches: deps.batches,
        routes: deps.routes,
        scratch: scratchAreas({ bucket: config.SCRATCH_BUCKET, prefix: config.SCRATCH_PREFIX }),
        sourceFetch: shared.sourceFetch,
        sourceLimits: sourceLimitsOf(config),
        window: config.BULK_WINDOW,
        logger,
        ...(deps.alerts ? { alerts: deps.alerts } : {}),
      })
    : undefined;
  const deliveries = config.DELIVERIES ? startDeliveries(shared, connection, deps.alerts) : undefined;
  const { worker } = outpaint;
  const sampleQueues = createQueueSampler({
    queues: [wiring.outpaintQueue],
    redis: connection,
    prefix: config.QUEUE_PREFIX,
  });
  return {
    connection,
    worker,
    reconciler,
    pipelineRuns,
    progress: outpaint.progress,
    sampleQueues,
    async close() {
      spendWatch.stop();
      await Promise.all([worker.close(), pipelineRuns?.close(), deliveries?.close()]);
      await shared.batcher.drain();
      await Promise.all([reconciler?.stop(), admitter.stop()]);
      await closeQueues();
      await connection.quit();
    },
    async abandon() {
      spendWatch.stop();
      connection.disconnect();
      await settledWithin(ABANDON_TIMEOUT_MS, [
        worker.close(true),
        pipelineRuns?.close(true),
        deliveries?.close(true),
        reconciler?.stop(),
        admitter.stop(),
        closeQueues(),
      ]);
    },
  };
}

/** The BullMQ worker of the outpaint queue, counting the jobs it takes for the watchdog. */
function startOutpaintProcessing(shared: SessionShared, connection: RedisClient, deps: OutpaintDeps) {
  const { config, logger } = shared;
  const processor = createOutpaintProcessor(deps);
  let taken = 0;
  let running = 0;
  const worker = new Worker<unknown, OutpaintResult>(
    OUTPAINT_QUEUE,
    async (job, token) => {
      taken += 1;
      running += 1;
      shared.metrics.jobTaken();
      try {
        return await processor(job, token);
      } finally {
        running -= 1;
      }
    },
    {
      connection,
      prefix: config.QUEUE_PREFIX,
      concurrency: config.WORKER_CONCURRENCY,
      // A job is active only for milliseconds between parks, so a short lock is safe; a crashed
      // worker's jobs come back after lockDuration instead of holding their work hostage.
      lockDuration: config.WORKER_LOCK_DURATION_MS,
      stalledInterval: config.WORKER_STALLED_INTERVAL_MS,
      maxStalledCount: config.WORKER_MAX_STALLED_COUNT,
      settings: { backoffStrategy: providerBackoffStrategy },
      ...(shared.bullmqTelemetry ? { telemetry: shared.bullmqTelemetry } : {}),
    },
  );
  // A job that failed after its completion event went out runs once more (final-failure.ts).
  const rerunOnce = async (jobId: string) =>
    (await connection.set(`${config.QUEUE_PREFIX}:rerun:${jobId}`, "1", "PX", RERUN_MARK_TTL_MS, "NX")) ===
    "OK";
  worker.on("failed", (job, error) => void recordFinalFailure(job, error, { ...deps, rerunOnce }));
  worker.on("completed", (job, result) => {
    // The processor parsed the same data before it could complete the job.
    const saved = outpaintJobDataSchema.safeParse(job.data);
    if (!saved.success) return;
    recordCompletion(saved.data, result, shared.metrics);
    const taskUUIDs = saved.data.state?.tasks.map((task) => task.taskUUID) ?? [];
    void deps.taskStore.forget(taskUUIDs).catch(() => undefined);
  });
  worker.on("stalled", (jobId) =>
    logger.warn({ jobId }, "a job's worker stopped while running it; the job runs again"),
  );
  worker.on("error", (error) => {
    // Redis away is reported once per reconnection attempt by the connection's own report, not
    // again for each of BullMQ's connections and commands.
    if (isRedisOutage(connection, error)) return;
    logger.error({ err: error }, "worker error");
  });
  return { worker, progress: () => ({ taken, running }) };
}

/** Waits for every promise to settle, or for `ms`, whichever comes first. */
async function settledWithin(ms: number, promises: (Promise<unknown> | undefined)[]): Promise<void> {
  let timer: NodeJS.Timeout | undefined;
  const timeout = new Promise((resolve) => {
    timer = setTimeout(resolve, ms);
  });
  await Promise.race([Promise.allSettled(promises), timeout]);
  clearTimeout(timer);
}

async function connectRedis({ redis, logger }: SessionShared): Promise<RedisClient> {
  const connection = createRedisClient(redis, { role: "worker" });
  try {
    await waitForRedisReady(connection);
    await assertNoEviction(connection, { onUnchecked: (message) => logger.warn(message) });
  } catch (error) {
    connection.disconnect();
    throw error;
  }
  // Once running, a lost Redis is waited for: a line per reconnection attempt, one when it is back.
  reportRedisReconnects(connection, logger);
  return connection;
}

/** The outpaint processor's collaborators on this session's connection. */
function wireDeps(shared: SessionShared, connection: RedisClient) {
  const { config } = shared;
  const prefix = config.QUEUE_PREFIX;
  // A Queue with no error listener prints each error of a lost connection with its stack.
  const logError = (queue: Queue, error: Error) => {
    if (!isRedisOutage(connection, error))
      shared.logger.warn({ err: error, queue: queue.name }, "queue error");
  };
  const telemetry = shared.bullmqTelemetry;
  const outpaintQueue = createOutpaintQueue({ connection, prefix, telemetry });
  outpaintQueue.on("error", (error) => logError(outpaintQueue, error));
  const taskStore = createTaskStore(connection, { prefix });
  const routes = openRouteQueues({
    connection,
    prefix,
    telemetry,
    onQueueError: (error, queue) => logError(queue, error),
  });
  const spendLedger = createSpendLedger(connection, { prefix });
  const alerts: AlertPublisher = {
    route: config.ALERTS_ROUTE,
    routes,
    logger: shared.logger,
    onAlert: (kind) => shared.metrics.alert(kind),
    now: Date.now,
  };
  shared.breaker.attach(
    createBreakerStore(
      connection,
      "provider",
      shared.breaker.endpoint,
      {
        threshold: config.PROVIDER_BREAKER_THRESHOLD,
        windowMs: config.PROVIDER_BREAKER_WINDOW_MS,
        probeMinMs: config.PROVIDER_BREAKER_PROBE_MIN_MS,
        probeMaxMs: config.PROVIDER_BREAKER_PROBE_MAX_MS,
        probeLeaseMs: Math.max(config.RUNWARE_TIMEOUT_MS * 2, config.PROVIDER_BREAKER_PROBE_MIN_MS),
      },
      { prefix },
    ),
    alerts,
  );
  shared.storageBreaker.attach(
    createBreakerStore(
      connection,
      "s3",
      shared.storageBreaker.endpoint,
      {
        threshold: config.S3_BREAKER_THRESHOLD,
        windowMs: config.S3_BREAKER_WINDOW_MS,
        probeMinMs: config.S3_BREAKER_PROBE_MIN_MS,
        probeMaxMs: config.S3_BREAKER_PROBE_MAX_MS,
        // A probe's HeadBucket: the SDK's three tries, each bounded by the connect and socket timeouts.
        probeLeaseMs: Math.max(
          3 *
            ((config.S3_CONNECT_TIMEOUT_MS ?? DEFAULT_S3_TIMEOUTS.connectTimeoutMs) +
              (config.S3_SOCKET_TIMEOUT_MS ?? DEFAULT_S3_TIMEOUTS.socketTimeoutMs)),
          config.S3_BREAKER_PROBE_MIN_MS,
        ),
      },
      { prefix },
    ),
    alerts,
  );
  const deps: OutpaintDeps = {
    outpaintQueue,
    routes,
    taskStore,
    batches: createBatchStore(connection, { prefix }),
    batcher: shared.batcher,
    provider: shared.provider,
    s3: shared.s3,
    sourceFetch: shared.sourceFetch,
    imageSlots: shared.imageSlots,
    inspections: shared.inspections,
    webhook: shared.webhook,
    written: createWrittenObjects(connection, { prefix }),
    spendCeiling:
      config.SPEND_LIMIT_USD_PER_DAY === undefined
        ? undefined
        : { ledger: spendLedger, limitUsd: config.SPEND_LIMIT_USD_PER_DAY },
    logger: shared.logger,
    now: Date.now,
    metrics: shared.metrics,
    alerts,
    breaker: shared.breaker,
    storageBreaker: shared.storageBreaker,
    settings: {
      maxGenerations: config.TASK_MAX_GENERATIONS,
      maxOutageGenerations: config.TASK_MAX_OUTAGE_GENERATIONS,
      recheckMs: config.JOB_RECHECK_MS,
      // With webhooks the reconciler is a safety net: it waits long enough for them to arrive.
      firstPollMs: config.POLL_FIRST_MS ?? (shared.webhook ? 30_000 : config.POLL_INTERVAL_MS),
      maxSubmitAttempts: config.TASK_MAX_SUBMIT_ATTEMPTS,
      scratchBucket: config.SCRATCH_BUCKET ?? "",
      scratchPrefix: config.SCRATCH_PREFIX,
      sourceLimits: sourceLimitsOf(config),
      workDirectory: shared.workDirectory,
    },
  };
  const closeQueues = () => Promise.all([outpaintQueue.close(), routes.close()]);
  return { deps, outpaintQueue, spendLedger, closeQueues };
}
