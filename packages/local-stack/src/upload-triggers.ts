import type { S3Client } from "@aws-sdk/client-s3";
import { DEFAULT_SOURCE_LIMITS } from "@reframe/config";
import type { EmbeddedS3 } from "@reframe/embedded-s3";
import { createOutpaintQueue, openRouteQueues } from "@reframe/jobs";
import {
  type BudgetExceededEvent,
  createPipelineStore,
  createUploadBudgets,
  createWrittenObjects,
  type IntakeResult,
  ingestCreatedObjects,
} from "@reframe/pipelines";
import { createRedisClient, type RedisSettings, waitForRedisReady } from "@reframe/redis";
import { type CreatedObject, parseS3Event, type S3Area } from "@reframe/storage";

export interface UploadWatch {
  /** Resolves once every object seen so far has been ingested. */
  settled(): Promise<void>;
  stop(): Promise<void>;
}

/**
 * The embedded S3's own event stream, fed into the same path as POST /v1/events/s3: the applied
 * pipelines' triggers, the loop guards, the upload budgets, idempotent jobs. Objects created within a few milliseconds of
 * each other are ingested together (one enqueue); a failure is reported and the next object goes on.
 */
export async function watchEmbeddedUploads(
  s3: EmbeddedS3,
  options: {
    redis: RedisSettings;
    /** Reads the matched images' headers, for their planned cost. */
    client: S3Client;
    /** MAX_SOURCE_PIXELS and MAX_SOURCE_BYTES; the defaults, as the local stack's worker has them. */
    sourceLimits?: { maxPixels: number; maxBytes: number };
    scratch?: S3Area[];
    onIngested?: (result: IntakeResult) => void;
    onBudgetExceeded?: (event: BudgetExceededEvent) => void;
    onError?: (error: unknown) => void;
  },
): Promise<UploadWatch> {
  const { prefix } = options.redis;
  const connection = createRedisClient(options.redis, { role: "producer" });
  await waitForRedisReady(connection);
  const queue = createOutpaintQueue({ connection, prefix });
  const store = createPipelineStore(connection, { prefix });
  const written = createWrittenObjects(connection, { prefix });
  const budgets = createUploadBudgets(connection, { prefix });
  const routes = openRouteQueues({ connection, prefix });
  let waiting: CreatedObject[] = [];
  let chain = Promise.resolve();
  let timer: NodeJS.Timeout | undefined;
  const flush = () => {
    timer = undefined;
    const objects = waiting;
    waiting = [];
    chain = chain.then(async () => {
      try {
        const result = await ingestCreatedObjects(objects, {
          pipelines: await store.all(),
          queue,
          s3: options.client,
          sourceLimits: options.sourceLimits ?? DEFAULT_SOURCE_LIMITS,
          written,
          budgets,
          routes,
          scratch: options.scratch ?? [],
          ...(options.onBudgetExceeded ? { onBudgetExceeded: options.onBudgetExceeded } : {}),
        });
        options.onIngested?.(result);
      } catch (error) {
        options.onError?.(error);
      }
    });
  };
  const unsubscribe = s3.onNotification((notification) => {
    const event = parseS3Event(notification);
    if (!event.ok) {
      options.onError?.(new Error(`the embedded S3 sent an event reframe cannot read: ${event.reason}`));
      return;
    }
    if (event.objects.length === 0) return;
    waiting.push(...event.objects);
    timer ??= setTimeout(flush, 20);
  });
  const settled = async () => {
    if (timer) {
      clearTimeout(timer);
      flush();
    }
    await chain;
  };
  return {
    settled,
    async stop() {
      unsubscribe();
      await settled();
      await Promise.all([queue.close(), routes.close()]);
      connection.disconnect();
    },
  };
}
