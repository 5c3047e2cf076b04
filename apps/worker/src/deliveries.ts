import type { AlertPublisher } from "@reframe/jobs";
import { createEndpointStore, parseRetrySchedule, startDeliveryWorker } from "@reframe/outbound";
import type { RedisClient } from "@reframe/redis";
import type { Worker } from "bullmq";
import type { SessionShared } from "./worker-session.ts";

/** The delivery worker of outbound webhooks, on this session's connection (DELIVERIES=true). */
export function startDeliveries(
  shared: SessionShared,
  connection: RedisClient,
  alerts: AlertPublisher | undefined,
): Worker {
  const { config } = shared;
  return startDeliveryWorker({
    connection,
    prefix: config.QUEUE_PREFIX,
    concurrency: config.DELIVERY_CONCURRENCY,
    endpoints: createEndpointStore(connection, { prefix: config.QUEUE_PREFIX }),
    fetch: shared.deliveryFetch,
    settings: {
      schedule: parseRetrySchedule(config.DELIVERY_RETRY_SCHEDULE),
      timeoutMs: config.DELIVERY_TIMEOUT_MS,
      disableAfterMs: config.ENDPOINT_DISABLE_AFTER_MS,
    },
    logger: shared.logger,
    metrics: shared.metrics,
    ...(alerts ? { alerts } : {}),
    now: Date.now,
  });
}
