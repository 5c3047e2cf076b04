import { createOutpaintQueue } from "@reframe/jobs";
import { createPipelineStore, type IntakeResult, ingestCreatedObjects } from "@reframe/pipelines";
import { createRedisClient, type RedisSettings, waitForRedisReady } from "@reframe/redis";
import type { CreatedObject, EmbeddedS3 } from "@reframe/storage";

export interface UploadWatch {
  /** Resolves once every object seen so far has been ingested. */
  settled(): Promise<void>;
  stop(): Promise<void>;
}

/**
 * The embedded S3's own event stream, fed into the same path as POST /v1/events/s3: the applied
 * pipelines' triggers, the loop guard, idempotent jobs. Objects created within a few milliseconds of
 * each other are ingested together (one enqueue); a failure is reported and the next object goes on.
 */
export async function watchEmbeddedUploads(
  s3: EmbeddedS3,
  options: {
    redis: RedisSettings;
    ignoreAreas?: { bucket: string; prefix: string }[];
    onIngested?: (result: IntakeResult) => void;
    onError?: (error: unknown) => void;
  },
): Promise<UploadWatch> {
  const { prefix } = options.redis;
  const connection = createRedisClient(options.redis, { role: "producer" });
  await waitForRedisReady(connection);
  const queue = createOutpaintQueue({ connection, prefix });
  const store = createPipelineStore(connection, { prefix });
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
          ignoreAreas: options.ignoreAreas ?? [],
        });
        options.onIngested?.(result);
      } catch (error) {
        options.onError?.(error);
      }
    });
  };
  const unsubscribe = s3.onObjectCreated((object) => {
    waiting.push(object);
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
      await queue.close();
      connection.disconnect();
    },
  };
}
