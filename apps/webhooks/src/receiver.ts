import { createOutpaintQueue, createTaskStore } from "@reframe/jobs";
import {
  assertNoEviction,
  confirmWrites,
  createRedisClient,
  isRedisOutage,
  redisSettingsOf,
  reportRedisReconnects,
} from "@reframe/redis";
import { type Logger, startProcessTelemetry } from "@reframe/telemetry";
import { createWebhookServer } from "./server.ts";
import type { WebhooksConfig } from "./webhooks-config.ts";

export interface RunningReceiver {
  /** Where it listens, e.g. http://0.0.0.0:8788. */
  address: string;
  /** Where /metrics answers (METRICS_PORT), on a listener of its own. */
  metricsUrl: string | undefined;
  /** Stops accepting, lets requests in flight finish, closes Redis. */
  close(): Promise<void>;
}

/**
 * Wires one receiver process. Its Redis connection is a producer's (commands fail at once while
 * Redis is down): a delivery then gets 503 and the provider retries, instead of hanging.
 */
export async function startWebhookReceiver(
  config: WebhooksConfig,
  { logger }: { logger: Logger },
): Promise<RunningReceiver> {
  const telemetry = await startProcessTelemetry({
    process: "webhooks",
    logger,
    metricsPort: config.METRICS_PORT,
    metricsHost: config.METRICS_HOST,
  });
  const settings = redisSettingsOf(config);
  const redis = createRedisClient(settings, { role: "producer" });
  try {
    // Waits for Redis first: not reachable at start is one line and exit 1.
    await assertNoEviction(redis, { onUnchecked: (message) => logger.warn(message) });
  } catch (error) {
    redis.disconnect();
    await telemetry.close();
    throw error;
  }
  reportRedisReconnects(redis, logger);
  const queue = createOutpaintQueue({ connection: redis, prefix: config.QUEUE_PREFIX });
  queue.on("error", (error) => {
    if (!isRedisOutage(redis, error)) logger.warn({ err: error }, "queue error");
  });
  const taskStore = createTaskStore(redis, { prefix: config.QUEUE_PREFIX });
  const app = createWebhookServer({
    redis,
    queue,
    taskStore,
    secret: config.WEBHOOK_SECRET,
    logger,
    bodyLimitBytes: config.WEBHOOKS_BODY_LIMIT_BYTES,
    bodyTimeoutMs: config.WEBHOOKS_BODY_TIMEOUT_MS,
    confirmWrites: () => confirmWrites(redis, settings),
    metrics: telemetry.metrics,
  });
  const address = await app.listen({ port: config.WEBHOOKS_PORT, host: config.WEBHOOKS_HOST });
  logger.info({ address }, "webhooks receiver listening");
  return {
    address,
    metricsUrl: telemetry.metricsUrl,
    async close() {
      await app.close();
      await queue.close();
      await redis.quit();
      await telemetry.close();
    },
  };
}
