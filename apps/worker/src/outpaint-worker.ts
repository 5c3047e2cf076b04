import { mkdir, readdir, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import type { S3Client } from "@aws-sdk/client-s3";
import { createGuardedFetch } from "@reframe/egress";
import { configureSharp, createImageSlots } from "@reframe/images";
import { breakerEndpointOf, DEFAULT_BREAKER_SETTINGS, nextProbeDelayMs } from "@reframe/jobs";
import { formatDelay, type ServiceTarget, ServiceUnreachableError } from "@reframe/reachability";
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
import { StorageBreaker } from "./storage-breaker.ts";
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
 * Redis and the provider must answer at start, or the start fails with the one line saying which
 * does not (a typo in an endpoint is found now, not at the first job). S3 that does not answer is
 * waited for (untilS3Answers): the worker runs, not ready, and takes jobs once it does. Afterwards an
 * outage is waited out, a line per retry.
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
  /** Why the worker does not take jobs yet, while it waits at its start (S3 unreachable). */
  let waitingFor: string | undefined;
  const telemetry = await startProcessTelemetry({
    process: "worker",
    logger,
    metricsPort: config.METRICS_PORT,
    metricsHost: config.METRICS_HOST,
    sampleQueues: async () => session.sampleQueues(),
    health: () => workerHealth(opened ? session : undefined, stopping, waitingFor),
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
  const s3ClientSettings = {
    endpoint: config.S3_ENDPOINT || undefined,
    region: config.S3_REGION,
    forcePathStyle: config.S3_FORCE_PATH_STYLE,
    credentials: { accessKeyId: config.S3_ACCESS_KEY_ID, secretAccessKey: config.S3_SECRET_ACCESS_KEY },
    connectTimeoutMs: config.S3_CONNECT_TIMEOUT_MS,
    socketTimeoutMs: config.S3_SOCKET_TIMEOUT_MS,
  };
  // The jobs' S3 requests count for S3's shared breaker; its probes and the start-up check go
  // through a client of their own, and do not.
  const s3Unguarded = createS3Client(s3ClientSettings);
  const s3Where = s3Target(s3ClientSettings);
  const storageBreaker = new StorageBreaker({
    endpoint: breakerEndpointOf(s3Where.at),
    probeClient: s3Unguarded,
    logger,
    metrics: telemetry.metrics,
  });
  const s3 = storageBreaker.guard(createS3Client(s3ClientSettings));
  const webhook =
    config.WEBHOOK_PUBLIC_URL && config.WEBHOOK_SECRET
      ? { baseUrl: config.WEBHOOK_PUBLIC_URL, secret: config.WEBHOOK_SECRET }
      : undefined;
  const egress = createGuardedFetch({ allowHosts: config.SOURCE_URL_ALLOW_HOSTS });
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
    storageBreaker,
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
    await storageBreaker.stop();
    await provider.close();
    await egress.close();
    await deliveryEgress.close();
    s3.destroy();
    s3Unguarded.destroy();
    await rm(workDirectory, { recursive: true, force: true });
    await telemetry.close();
  };
  try {
    await firstFailure([
      checkRedisReachable(redisSettingsOf(config)),
      checkProviderReachable(config.RUNWARE_API_URL),
    ]);
    await untilS3Answers(s3Unguarded, s3Where, logger, (reason) => {
      waitingFor = reason;
    });
    waitingFor = undefined;
    session = await openWorkerSession(shared);
    opened = true;
    breaker.start();
    storageBreaker.start();
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
 * A worker started while S3 is out waits for it rather than exiting (a restarted pod must not crash-
 * loop through an S3 outage): one line per check, the breaker's probe schedule (2 s doubling to
 * 60 s), and `/healthz` not ready with the reason meanwhile. A refusal (credentials, a missing
 * bucket) is an answer: the jobs report it.
 */
async function untilS3Answers(
  s3: S3Client,
  target: ServiceTarget,
  logger: Logger,
  waiting: (reason: string) => void,
): Promise<void> {
  for (let checks = 0; ; checks += 1) {
    try {
      await checkS3Reachable(s3, target);
      if (checks > 0) logger.info({ unreachable: target }, `S3 at ${target.at} answers; taking jobs`);
      return;
    } catch (error) {
      if (!(error instanceof ServiceUnreachableError)) throw error;
      const delayMs = nextProbeDelayMs(checks, DEFAULT_BREAKER_SETTINGS);
      waiting(`S3 unreachable: ${error.message}`);
      logger.warn(
        { unreachable: target, nextCheckInMs: delayMs },
        `${error.message}; the worker takes no jobs until S3 answers (next check in ${formatDelay(delayMs)})`,
      );
      await new Promise((resolve) => setTimeout(resolve, delayMs));
    }
  }
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
