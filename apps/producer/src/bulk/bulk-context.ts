import type { S3Client } from "@aws-sdk/client-s3";
import { createGuardedFetch, type GuardedFetch } from "@reframe/egress";
import { type BatchStore, createBatchStore } from "@reframe/jobs";
import type { RedisClient } from "@reframe/redis";
import { createS3Client } from "@reframe/storage";
import type { Queue } from "bullmq";
import { withQueueSession } from "../queue-session.ts";
import type { BulkConfig } from "./bulk-config.ts";
import type { Interrupt } from "./interrupt.ts";
import type { ProgressStream } from "./progress-line.ts";

/** The clients and streams a bulk or batch command works with; opened once, closed once. */
export interface BulkContext {
  config: BulkConfig;
  redis: RedisClient;
  /** The jobs added so far are on enough replicas to survive a failover (WriteNotConfirmedError). */
  confirmWrites(): Promise<void>;
  queue: Queue;
  store: BatchStore;
  s3: S3Client;
  /** URL sources' headers and pictures, through the egress guard (SOURCE_URL_ALLOW_HOSTS). */
  sourceFetch: GuardedFetch["fetch"];
  /** Plans and summaries: what a script reads. */
  out: ProgressStream;
  /** Progress and messages. */
  err: ProgressStream;
  interrupt: Interrupt;
  now: () => number;
}

export async function withBulkContext<T>(
  config: BulkConfig,
  streams: { out: ProgressStream; err: ProgressStream; interrupt: Interrupt },
  run: (context: BulkContext) => Promise<T>,
): Promise<T> {
  return withQueueSession(config, async ({ connection, queue, confirmWrites }) => {
    const s3 = createS3Client({
      endpoint: config.S3_ENDPOINT,
      region: config.S3_REGION,
      forcePathStyle: config.S3_FORCE_PATH_STYLE,
      credentials: { accessKeyId: config.S3_ACCESS_KEY_ID, secretAccessKey: config.S3_SECRET_ACCESS_KEY },
    });
    const guard = createGuardedFetch({ allowHosts: config.SOURCE_URL_ALLOW_HOSTS });
    try {
      // S3 that does not answer is `cannot reach S3 at …` from the client itself (storage's factory).
      return await run({
        config,
        redis: connection,
        confirmWrites,
        queue,
        store: createBatchStore(connection, { prefix: config.QUEUE_PREFIX }),
        s3,
        sourceFetch: guard.fetch,
        ...streams,
        now: Date.now,
      });
    } finally {
      s3.destroy();
      await guard.close();
    }
  });
}
