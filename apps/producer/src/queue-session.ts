import { createOutpaintQueue, createRedisConnection, redisError, waitForRedisReady } from "@reframe/jobs";
import type { Queue } from "bullmq";
import type { Redis } from "ioredis";
import { UsageError } from "./cli/usage-error.ts";

export interface QueueSession {
  connection: Redis;
  queue: Queue;
  prefix: string;
}

/**
 * The outpaint queue for one command: the connection is made (or `cannot reach Redis at …` within
 * seconds), the command runs, and everything is closed. A command that fails because Redis went
 * away says so in the same words.
 */
export async function withQueueSession<T>(
  settings: { REDIS_URL: string; QUEUE_PREFIX: string },
  run: (session: QueueSession) => Promise<T>,
): Promise<T> {
  const connection = createRedisConnection(settings.REDIS_URL, { role: "producer" });
  let queue: Queue | undefined;
  try {
    // The queue is made once Redis answers: BullMQ would otherwise print each failed attempt.
    await waitForRedisReady(connection);
    queue = createOutpaintQueue({ connection, prefix: settings.QUEUE_PREFIX });
    // A lost connection fails the command's own calls, which say so; the queue need not print it.
    queue.on("error", () => undefined);
    return await run({ connection, queue, prefix: settings.QUEUE_PREFIX });
  } catch (error) {
    throw error instanceof UsageError ? error : redisError(connection, error);
  } finally {
    connection.disconnect();
    await queue?.close();
  }
}
