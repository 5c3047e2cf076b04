import { createGuardedFetch } from "@reframe/egress";
import {
  assertNoEviction,
  createBatchStore,
  createOutpaintQueue,
  createRedisConnection,
  createRouteQueues,
  createTaskStore,
  OUTPAINT_QUEUE,
  providerBackoffStrategy,
  waitForRedisReady,
} from "@reframe/jobs";
import { createRunwareClient } from "@reframe/runware";
import { createS3Client } from "@reframe/storage";
import type { Logger } from "@reframe/telemetry";
import { type Queue, Worker } from "bullmq";
import { recordFinalFailure } from "./final-failure.ts";
import { LeaderLock } from "./leader-lock.ts";
import { createOutpaintProcessor, type OutpaintJobData } from "./outpaint-processor.ts";
import { startPipelineRunWorker } from "./pipeline-run-worker.ts";
import { Reconciler } from "./reconciler.ts";
import { SubmitBatcher } from "./submit-batcher.ts";
import type { WorkerConfig } from "./worker-config.ts";
import type { OutpaintDeps } from "./worker-deps.ts";

export interface RunningWorker {
  worker: Worker<OutpaintJobData>;
  reconciler: Reconciler | undefined;
  batcher: SubmitBatcher;
  /** Stops taking jobs, lets active ones finish or park, sends queued submits, closes connections. */
  close(): Promise<void>;
}

const RECONCILER_LOCK_TTL_MS = 10_000;

/** Wires one worker process: the outpaint processor, the submit batcher and (optionally) the reconciler. */
export async function startOutpaintWorker(
  config: WorkerConfig,
  { logger }: { logger: Logger },
): Promise<RunningWorker> {
  const connection = createRedisConnection(config.REDIS_URL, { role: "worker" });
  connection.on("error", (error) => logger.warn({ err: error }, "redis connection error"));
  try {
    await waitForRedisReady(connection);
    await assertNoEviction(connection, { onUnchecked: (message) => logger.warn(message) });
  } catch (error) {
    connection.disconnect();
    throw error;
  }
  const prefix = config.QUEUE_PREFIX;
  const outpaintQueue = createOutpaintQueue({ connection, prefix });
  const taskStore = createTaskStore(connection, { prefix });
  const batches = createBatchStore(connection, { prefix });
  const provider = createRunwareClient({
    baseUrl: config.RUNWARE_API_URL,
    apiKey: config.RUNWARE_API_KEY,
    timeoutMs: config.RUNWARE_TIMEOUT_MS,
  });
  const batcher = new SubmitBatcher({
    transport: provider,
    windowMs: config.SUBMIT_WINDOW_MS,
    maxBatch: config.SUBMIT_MAX_BATCH,
  });
  const routeQueues = new Map<string, Queue>();
  const routeQueue = (name: string): Queue => {
    let queue = routeQueues.get(name);
    if (!queue) {
      queue = createRouteQueues([name], { connection, prefix }).get(name)!;
      routeQueues.set(name, queue);
    }
    return queue;
  };
  const webhook =
    config.WEBHOOK_PUBLIC_URL && config.WEBHOOK_SECRET
      ? { baseUrl: config.WEBHOOK_PUBLIC_URL, secret: config.WEBHOOK_SECRET }
      : undefined;
  const s3 = createS3Client({
    endpoint: config.S3_ENDPOINT || undefined,
    region: config.S3_REGION,
    forcePathStyle: config.S3_FORCE_PATH_STYLE,
    credentials: { accessKeyId: config.S3_ACCESS_KEY_ID, secretAccessKey: config.S3_SECRET_ACCESS_KEY },
  });
  const egress = createGuardedFetch({ allowHosts: config.SOURCE_URL_ALLOW_HOSTS });
  const deps: OutpaintDeps = {
    outpaintQueue,
    routeQueue,
    taskStore,
    batches,
    batcher,
    provider,
    s3,
    sourceFetch: egress.fetch,
    webhook,
    logger,
    now: Date.now,
    settings: {
      maxGenerations: config.TASK_MAX_GENERATIONS,
      recheckMs: config.JOB_RECHECK_MS,
      // With webhooks the reconciler is a safety net: it waits long enough for them to arrive.
      firstPollMs: config.POLL_FIRST_MS ?? (webhook ? 30_000 : config.POLL_INTERVAL_MS),
      maxSubmitAttempts: config.TASK_MAX_SUBMIT_ATTEMPTS,
      scratchBucket: config.SCRATCH_BUCKET ?? "",
      scratchPrefix: config.SCRATCH_PREFIX,
    },
  };
  const worker = new Worker<OutpaintJobData>(OUTPAINT_QUEUE, createOutpaintProcessor(deps), {
    connection,
    prefix,
    concurrency: config.WORKER_CONCURRENCY,
    // A job is active only for milliseconds between parks, so a short lock is safe; a crashed
    // worker's jobs come back after lockDuration instead of holding their work hostage.
    lockDuration: config.WORKER_LOCK_DURATION_MS,
    stalledInterval: config.WORKER_STALLED_INTERVAL_MS,
    maxStalledCount: config.WORKER_MAX_STALLED_COUNT,
    settings: { backoffStrategy: providerBackoffStrategy },
  });
  worker.on("failed", (job, error) => void recordFinalFailure(job, error, deps));
  worker.on("stalled", (jobId) =>
    logger.warn({ jobId }, "a job's worker stopped while running it; the job runs again"),
  );
  worker.on("completed", (job) => {
    void taskStore.forget(job.data.state?.tasks.map((task) => task.taskUUID) ?? []).catch(() => undefined);
  });
  worker.on("error", (error) => logger.error({ err: error }, "worker error"));
  const reconciler = config.RECONCILER
    ? new Reconciler({
        lock: new LeaderLock(connection, `${prefix}:reconciler:lock`, RECONCILER_LOCK_TTL_MS),
        taskStore,
        provider,
        queue: outpaintQueue,
        logger,
        pollIntervalMs: config.POLL_INTERVAL_MS,
      })
    : undefined;
  reconciler?.start();
  const pipelineRuns = config.PIPELINE_RUNS
    ? startPipelineRunWorker({
        connection,
        prefix,
        s3,
        outpaintQueue,
        batches,
        routeQueue,
        ignoreAreas: config.SCRATCH_BUCKET
          ? [{ bucket: config.SCRATCH_BUCKET, prefix: config.SCRATCH_PREFIX }]
          : [],
        sourceFetch: egress.fetch,
        logger,
      })
    : undefined;
  logger.info(
    {
      concurrency: config.WORKER_CONCURRENCY,
      webhooks: Boolean(webhook),
      reconciler: Boolean(reconciler),
      pipelineRuns: Boolean(pipelineRuns),
    },
    "worker started",
  );
  return {
    worker,
    reconciler,
    batcher,
    async close() {
      await Promise.all([worker.close(), pipelineRuns?.close()]);
      await batcher.drain();
      await reconciler?.stop();
      await Promise.all([outpaintQueue.close(), ...[...routeQueues.values()].map((queue) => queue.close())]);
      await provider.close();
      await egress.close();
      s3.destroy();
      await connection.quit();
    },
  };
}
