import { OUTPAINT_QUEUE } from "@reframe/jobs";
import { createRedisClient, type RedisClient, type RedisSettings } from "@reframe/redis";
import { Queue } from "bullmq";
import type { Look, WatchdogProbe } from "./silence-watchdog.ts";

/**
 * The watchdog's eyes. Each look opens a new connection (an old one could be as dead as the
 * worker's) that fails fast instead of queueing, reads the outpaint queue's waiting count and
 * paused flag, and closes again.
 */
export function createRedisProbe(options: {
  /** Where the worker's Redis is: a new connection per look, through the sentinels or the Cluster's seeds. */
  redis: RedisSettings;
  /** The worker's current connection (it changes when the worker is recreated). */
  ownConnection(): RedisClient;
  timeoutMs: number;
}): WatchdogProbe {
  return {
    async look(): Promise<Look> {
      const connection = createRedisClient(options.redis, { role: "probe", timeoutMs: options.timeoutMs });
      connection.on("error", () => undefined);
      const queue = new Queue(OUTPAINT_QUEUE, { connection, prefix: options.redis.prefix });
      queue.on("error", () => undefined);
      try {
        // BullMQ connects the lazy connection itself and waits until it is ready.
        await queue.waitUntilReady();
        const [counts, paused] = await Promise.all([
          queue.getJobCounts("wait", "prioritized"),
          queue.isPaused(),
        ]);
        return { reachable: true, waiting: (counts.wait ?? 0) + (counts.prioritized ?? 0), paused };
      } catch {
        return { reachable: false };
      } finally {
        await queue.close().catch(() => undefined);
        connection.disconnect();
      }
    },
    async ownConnectionAnswers(timeoutMs) {
      let timer: NodeJS.Timeout | undefined;
      const timeout = new Promise<boolean>((resolve) => {
        timer = setTimeout(() => resolve(false), timeoutMs);
      });
      try {
        const ping = options
          .ownConnection()
          .ping()
          .then(
            () => true,
            () => false,
          );
        return await Promise.race([ping, timeout]);
      } finally {
        clearTimeout(timer);
      }
    },
  };
}
