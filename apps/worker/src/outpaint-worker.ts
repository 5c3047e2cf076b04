import { mkdir, readdir, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { createGuardedFetch } from "@reframe/egress";
import { configureSharp, createImageSlots } from "@reframe/images";
import { breakerEndpointOf } from "@reframe/jobs";
import { checkRedisReachable, redisSettingsOf } from "@reframe/redis";
import {
  checkProviderReachable,
  createRunwareClient,
  ProviderError,
  type RunwareClient,
} from "@reframe/runware";
import { checkS3Reachable, createS3Client, s3Target } from "@reframe/storage";
import { type Logger, startProcessTelemetry } from "@reframe/telemetry";
import { ProviderBreaker } from "./provider-breaker.ts";
import { createRedisProbe } from "./redis-probe.ts";
import { SilenceWatchdog } from "./silence-watchdog.ts";
import { SubmitBatcher } from "./submit-batcher.ts";
import type { WorkerConfig } from "./worker-config.ts";
import { workerHealth } from "./worker-health.ts";
import { openWorkerSession, type SessionShared, type WorkerSession } from "./worker-session.ts";
import { instrumentProvider } from "./worker-telemetry.ts";

export interface RunningWorker {
  /** The session now serving (the watchdog replaces it when the worker went silent). */
  session(): WorkerSession;
  batcher: SubmitBatcher;
  /** Where /metrics answers (METRICS_PORT), on a listener of its own. */
  metricsUrl: string | undefined;
  /** Stops taking jobs, lets active ones finish or park, sends queued submits, closes connections. */
  close(): Promise<void>;
}

/**
 * Wires one worker process: the provider client, the submit batcher and S3 for the whole process;
 * the Redis side (outpaint processor, reconciler) in a session the silence watchdog can replace.
 * Redis, S3 and the provider must answer at start, or the start fails with the one line saying which
 * does not (a typo in an endpoint is found now, not at the first job); afterwards an outage is waited
 * out, a line per retry.
 */
export async function startOutpaintWorker(
  config: WorkerConfig,
  { logger }: { logger: Logger },
): Promise<RunningWorker> {
  // The sampler reads through whichever session serves now (the watchdog may replace it); a scrape
  // before the first session opened finds none and keeps the gauges empty.
  let session: WorkerSession;
  let opened = false;
  let stopping = false;
  const telemetry = await startProcessTelemetry({
    process: "worker",
    logger,
    metricsPort: config.METRICS_PORT,
    metricsHost: config.METRICS_HOST,
    sampleQueues: async () => session.sampleQueues(),
    health: () => workerHealth(opened ? session : undefined, stopping),
  });
  const client = instrumentProvider(
    createRunwareClient({
      baseUrl: config.RUNWARE_API_URL,
      apiKey: config.RUNWARE_API_KEY,
      timeoutMs: config.RUNWARE_TIMEOUT_MS,
    }),
    telemetry.metrics,
  );
  // Every job's and the reconciler's request counts for the shared breaker; its probe does not.
  const breaker = new ProviderBreaker({
    endpoint: breakerEndpointOf(config.RUNWARE_API_URL),
    provider: client,
    logger,
    metrics: telemetry.metrics,
  });
  const provider = breaker.guard(client);
  const batcher = new SubmitBatcher({
    transport: reportingUnreachable(provider, logger),
    windowMs: config.SUBMIT_WINDOW_MS,
    maxBatch: config.SUBMIT_MAX_BATCH,
  });
  const s3 = createS3Client({
    endpoint: config.S3_ENDPOINT || undefined,
    region: config.S3_REGION,
    forcePathStyle: config.S3_FORCE_PATH_STYLE,
    credentials: { accessKeyId: config.S3_ACCESS_KEY_ID, secretAccessKey: config.S3_SECRET_ACCESS_KEY },
    connectTimeoutMs: config.S3_CONNECT_TIMEOUT_MS,
    socketTimeoutMs: config.S3_SOCKET_TIMEOUT_MS,
  });
  const webhook =
    config.WEBHOOK_PUBLIC_URL && config.WEBHOOK_SECRET
      ? { baseUrl: config.WEBHOOK_PUBLIC_URL, secret: config.WEBHOOK_SECRET }
      : undefined;
  const egress = createGuardedFetch({ allowHosts: config.SOURCE_URL_ALLOW_HOSTS });
  const s3Settings = { endpoint: config.S3_ENDPOINT || undefined, region: config.S3_REGION };
  configureSharp();
  const workDirectory = await openWorkDirectory();
  // Signed deliveries go where their endpoint says, never where a redirect points.
  const deliveryEgress = createGuardedFetch({
    allowHosts: config.DELIVERY_ALLOW_HOSTS,
    returnRedirects: true,
  });
  const shared: SessionShared = {
    config,
    redis: redisSettingsOf(config),
    logger,
    provider,
    breaker,
    batcher,
    s3,
    sourceFetch: egress.fetch,
    webhook,
    imageSlots: createImageSlots(config.IMAGE_CONCURRENCY),
    inspections: new Map(),
    workDirectory,
    deliveryFetch: deliveryEgress.fetch,
    metrics: telemetry.metrics,
    bullmqTelemetry: telemetry.tracing.bullmq,
  };
  const closeShared = async () => {
    await breaker.stop();
    await provider.close();
    await egress.close();
    await deliveryEgress.close();
    s3.destroy();
    await rm(workDirectory, { recursive: true, force: true });
    await telemetry.close();
  };
  try {
    await firstFailure([
      checkRedisReachable(redisSettingsOf(config)),
      checkS3Reachable(s3, s3Target(s3Settings)),
      checkProviderReachable(config.RUNWARE_API_URL),
    ]);
    session = await openWorkerSession(shared);
    opened = true;
    breaker.start();
  } catch (error) {
    await closeShared();
    throw error;
  }
  const watchdog =
    config.WORKER_WATCHDOG_MS > 0
      ? new SilenceWatchdog({
          probe: createRedisProbe({
            redis: shared.redis,
            ownConnection: () => session.connection,
            timeoutMs: Math.min(5_000, config.WORKER_SILENT_AFTER_MS),
          }),
          progress: () => session.progress(),
          concurrency: config.WORKER_CONCURRENCY,
          intervalMs: config.WORKER_WATCHDOG_MS,
          silentAfterMs: config.WORKER_SILENT_AFTER_MS,
          logger,
          async onSilent(reason) {
            logger.error(
              { alert: "workerSilent", reason },
              `the worker went silent (${reason}); recreating its Redis connections and BullMQ worker`,
            );
            const stale = session;
            session = await openWorkerSession(shared);
            void stale.abandon();
            logger.info("worker recreated; taking jobs again");
          },
        })
      : undefined;
  watchdog?.start();
  logger.info(
    {
      concurrency: config.WORKER_CONCURRENCY,
      imageConcurrency: config.IMAGE_CONCURRENCY,
      webhooks: Boolean(webhook),
      reconciler: Boolean(session.reconciler),
      pipelineRuns: Boolean(session.pipelineRuns),
      watchdog: Boolean(watchdog),
    },
    "worker started",
  );
  return {
    session: () => session,
    batcher,
    metricsUrl: telemetry.metricsUrl,
    async close() {
      stopping = true;
      await watchdog?.stop();
      await session.close();
      await closeShared();
    },
  };
}

/**
 * This process's directory for sources being decoded: TMPDIR/reframe-worker-<pid>. A worker that was
 * killed leaves its directory behind; the next one to start removes those of processes that are gone.
 */
async function openWorkDirectory(): Promise<string> {
  const base = tmpdir();
  for (const name of await readdir(base).catch(() => [] as string[])) {
    const pid = Number(/^reframe-worker-(\d+)$/.exec(name)?.[1]);
    if (pid && pid !== process.pid && !alive(pid))
      await rm(join(base, name), { recursive: true, force: true });
  }
  const directory = join(base, `reframe-worker-${process.pid}`);
  await rm(directory, { recursive: true, force: true });
  await mkdir(directory);
  return directory;
}

function alive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (error) {
    return (error as NodeJS.ErrnoException).code === "EPERM";
  }
}

/**
 * A submit that could not reach the provider is one line (the jobs retry it with their backoff);
 * the provider's own answers, refusals included, are the step machine's to handle and log.
 */
function reportingUnreachable(provider: RunwareClient, logger: Logger): Pick<RunwareClient, "submit"> {
  return {
    async submit(tasks, options) {
      try {
        return await provider.submit(tasks, options);
      } catch (error) {
        if (error instanceof ProviderError && error.code === "networkError")
          logger.warn({ tasks: tasks.length }, `${error.message}; the jobs send their tasks again later`);
        throw error;
      }
    },
  };
}

/** Waits for every check; throws the first failure in the order given (Redis before S3 before the provider). */
async function firstFailure(checks: Promise<void>[]): Promise<void> {
  const settled = await Promise.allSettled(checks);
  const failed = settled.find((result) => result.status === "rejected");
  if (failed) throw failed.reason;
}
