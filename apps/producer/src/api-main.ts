import { loadConfigOrExit, sourceLimitsOf } from "@reframe/config";
import { createGuardedFetch } from "@reframe/egress";
import {
  batchFailures,
  createBatchStore,
  createOutpaintQueue,
  createQueueSampler,
  retryBatchFailures,
} from "@reframe/jobs";
import { runProcess } from "@reframe/lifecycle";
import {
  assertNoEviction,
  confirmWrites,
  createRedisClient,
  redisSettingsOf,
  reportRedisReconnects,
  waitForRedisReady,
} from "@reframe/redis";
import { createImageLoader } from "@reframe/report";
import { createS3Client, scratchAreas } from "@reframe/storage";
import { createLogger, startProcessTelemetry } from "@reframe/telemetry";
import { apiConfigSchema } from "./api-config.ts";
import { createApiServer } from "./api-server.ts";
import { createSnsIntake, createSnsVerifier } from "./sns/index.ts";

const config = loadConfigOrExit(apiConfigSchema);
const logger = createLogger({ name: "api", level: config.LOG_LEVEL, format: config.LOG_FORMAT });
await runProcess({
  name: "api",
  logger,
  shutdownTimeoutMs: config.SHUTDOWN_TIMEOUT_MS,
  stoppingMessage: "finishing requests in flight",
  async start() {
    const settings = redisSettingsOf(config);
    const redis = createRedisClient(settings, { role: "producer" });
    try {
      // Not reachable at start: one line and exit 1; once running, an outage is waited out.
      await waitForRedisReady(redis);
      await assertNoEviction(redis, { onUnchecked: (message) => logger.warn(message) });
    } catch (error) {
      redis.disconnect();
      throw error;
    }
    reportRedisReconnects(redis, logger);
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
    // S3: the intake reads image headers (its credentials are required with INTAKE_TOKEN) and the
    // dashboard its pictures (without credentials it shows none).
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
            connectTimeoutMs: config.S3_CONNECT_TIMEOUT_MS,
            socketTimeoutMs: config.S3_SOCKET_TIMEOUT_MS,
          })
        : undefined;
    // The dashboard's pictures of URL sources, through the egress guard as the worker fetches them.
    const sourceEgress = createGuardedFetch({ allowHosts: config.SOURCE_URL_ALLOW_HOSTS });
    // SNS certificates and SubscribeURLs are fetched through the egress guard, never followed elsewhere.
    const snsEgress = createGuardedFetch({ allowHosts: config.SNS_ALLOW_HOSTS, returnRedirects: true });
    const sns = createSnsIntake({
      verifier: createSnsVerifier({
        fetch: snsEgress.fetch,
        hostPattern: new RegExp(config.SNS_CERT_HOST_PATTERN),
        topicArns: config.SNS_TOPIC_ARNS,
        maxAgeMs: config.SNS_MAX_AGE_MS,
      }),
      topicArns: config.SNS_TOPIC_ARNS,
      fetch: snsEgress.fetch,
      redis,
      prefix: config.QUEUE_PREFIX,
      logger,
    });
    const batches = createBatchStore(redis, { prefix: config.QUEUE_PREFIX });
    const app = createApiServer({
      queue,
      redis,
      prefix: config.QUEUE_PREFIX,
      token: config.API_TOKEN,
      logger,
      confirmWrites: () => confirmWrites(redis, settings),
      metrics: telemetry.metrics,
      ...(config.DASHBOARD
        ? {
            dashboard: {
              tokens: [config.DASHBOARD_TOKEN || config.API_TOKEN],
              actions: config.DASHBOARD_ACTIONS,
              loadImage: s3 ? createImageLoader({ s3, sourceFetch: sourceEgress.fetch }) : undefined,
              alertsQueue: config.ALERTS_ROUTE[0] ?? "alerts",
              // The same retry as `reframe batch retry`: only the failed jobs, under their own ids.
              retryBatch: async (batchId: string) =>
                retryBatchFailures(batches, batchId, await batchFailures(queue, batches, batchId)),
            },
          }
        : {}),
      ...(config.INTAKE_TOKEN && s3
        ? {
            intake: {
              token: config.INTAKE_TOKEN,
              scratch: scratchAreas({ bucket: config.SCRATCH_BUCKET, prefix: config.SCRATCH_PREFIX }),
              s3,
              sourceLimits: sourceLimitsOf(config),
              sns,
            },
          }
        : {}),
    });
    const address = await app.listen({ port: config.API_PORT, host: config.API_HOST });
    logger.info(
      {
        address,
        intake: Boolean(config.INTAKE_TOKEN),
        snsTopics: config.SNS_TOPIC_ARNS.length,
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
        await Promise.all([snsEgress.close(), sourceEgress.close()]);
        await redis.quit();
        s3?.destroy();
        await telemetry.close();
      },
    };
  },
});
