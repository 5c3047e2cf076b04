import { loadConfigOrExit } from "@reframe/config";
import {
  assertNoEviction,
  createOutpaintQueue,
  createQueueSampler,
  createRedisConnection,
  waitForRedisReady,
} from "@reframe/jobs";
import { runProcess } from "@reframe/lifecycle";
import { createLogger, startProcessTelemetry } from "@reframe/telemetry";
import { apiConfigSchema } from "./api-config.ts";
import { createApiServer } from "./api-server.ts";

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
    const app = createApiServer({
      queue,
      redis,
      prefix: config.QUEUE_PREFIX,
      token: config.API_TOKEN,
      logger,
      metrics: telemetry.metrics,
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
    logger.info({ address, intake: Boolean(config.INTAKE_TOKEN) }, "api listening");
    return {
      async close() {
        await app.close();
        await queue.close();
        await redis.quit();
        await telemetry.close();
      },
    };
  },
});
