import { loadConfigOrExit } from "@reframe/config";
import { createGuardedFetch } from "@reframe/egress";
import {
  assertNoEviction,
  createBatchStore,
  createOutpaintQueue,
  createQueueSampler,
  createRedisConnection,
  waitForRedisReady,
} from "@reframe/jobs";
import { runProcess } from "@reframe/lifecycle";
import { createImageLoader } from "@reframe/report";
import { createS3Client } from "@reframe/storage";
import { createLogger, startProcessTelemetry } from "@reframe/telemetry";
import { apiConfigSchema } from "./api-config.ts";
import { createApiServer } from "./api-server.ts";
import { retryFailedJobs } from "./dashboard/batch-retry.ts";

const config = loadConfigOrExit(apiConfigSchema);
const logger = createLogger({ name: "api", level: config.LOG_LEVEL, format: config.LOG_FORMAT });
await runProcess({
  name: "api",
  logger,
  shutdownTimeoutMs: config.SHUTDOWN_TIMEOUT_MS,
  stoppingMessage: "finishing requests in flight",
  async start() {
    const redis = createRedisConnection(config.REDIS_URL, { role: "producer" });
    await waitForRedisReady(redis);
    await assertNoEviction(redis, { onUnchecked: (message) => logger.warn(message) });
    let sampleQueues: ReturnType<typeof createQueueSampler> | undefined;
    const telemetry = await startProcessTelemetry({
      process: "api",
      logger,
      metricsPort: config.METRICS_PORT,
      metricsHost: config.METRICS_HOST,
      sampleQueues: () => sampleQueues!(),
    });
    const queue = createOutpaintQueue({
      connection: redis,
      prefix: config.QUEUE_PREFIX,
      telemetry: telemetry.tracing.bullmq,
    });
    sampleQueues = createQueueSampler({ queues: [queue], redis, prefix: config.QUEUE_PREFIX });
    const s3 =
      config.S3_ACCESS_KEY_ID && config.S3_SECRET_ACCESS_KEY
        ? createS3Client({
            endpoint: config.S3_ENDPOINT || undefined,
            region: config.S3_REGION,
            forcePathStyle: config.S3_FORCE_PATH_STYLE,
            credentials: {
              accessKeyId: config.S3_ACCESS_KEY_ID,
              secretAccessKey: config.S3_SECRET_ACCESS_KEY,
            },
          })
        : undefined;
    const egress = createGuardedFetch({ allowHosts: config.SOURCE_URL_ALLOW_HOSTS });
    const batches = createBatchStore(redis, { prefix: config.QUEUE_PREFIX });
    const app = createApiServer({
      queue,
      redis,
      prefix: config.QUEUE_PREFIX,
      token: config.API_TOKEN,
      logger,
      metrics: telemetry.metrics,
      ...(config.DASHBOARD
        ? {
            dashboard: {
              tokens: [config.DASHBOARD_TOKEN || config.API_TOKEN],
              actions: config.DASHBOARD_ACTIONS,
              loadImage: s3 ? createImageLoader({ s3, sourceFetch: egress.fetch }) : undefined,
              alertsQueue: config.ALERTS_ROUTE[0] ?? "alerts",
              retryBatch: (batchId: string) =>
                retryFailedJobs(queue, batches, redis, config.QUEUE_PREFIX, batchId),
            },
          }
        : {}),
      ...(config.INTAKE_TOKEN
        ? {
            intake: {
              token: config.INTAKE_TOKEN,
              ignoreAreas: config.SCRATCH_BUCKET
                ? [{ bucket: config.SCRATCH_BUCKET, prefix: config.SCRATCH_PREFIX }]
                : [],
            },
          }
        : {}),
    });
    const address = await app.listen({ port: config.API_PORT, host: config.API_HOST });
    logger.info(
      {
        address,
        intake: Boolean(config.INTAKE_TOKEN),
        dashboard: config.DASHBOARD ? `${address}/dashboard` : false,
        dashboardActions: config.DASHBOARD_ACTIONS,
        dashboardPictures: Boolean(s3),
      },
      "api listening",
    );
    return {
      async close() {
        await app.close();
        await queue.close();
        await redis.quit();
        s3?.destroy();
        await egress.close();
        await telemetry.close();
      },
    };
  },
});
