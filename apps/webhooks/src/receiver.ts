import {
  assertNoEviction,
  createOutpaintQueue,
  createRedisConnection,
  createTaskStore,
  isRedisOutage,
  reportRedisReconnects,
} from "@reframe/jobs";
import type { Logger } from "@reframe/telemetry";
import { createWebhookServer } from "./server.ts";
import type { WebhooksConfig } from "./webhooks-config.ts";

export interface RunningReceiver {
  /** Where it listens, e.g. http://0.0.0.0:8788. */
  address: string;
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
  const redis = createRedisConnection(config.REDIS_URL, { role: "producer" });
  try {
    // Waits for Redis first: not reachable at start is one line and exit 1.
    await assertNoEviction(redis, { onUnchecked: (message) => logger.warn(message) });
  } catch (error) {
    redis.disconnect();
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
  });
  const address = await app.listen({ port: config.WEBHOOKS_PORT, host: config.WEBHOOKS_HOST });
  logger.info({ address }, "webhooks receiver listening");
  return {
    address,
    async close() {
      await app.close();
      await queue.close();
      await redis.quit();
    },
  };
}
