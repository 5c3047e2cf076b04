import { ServiceUnreachableError } from "@reframe/reachability";
import { freePort, startRedisServer } from "@reframe/testkit";
import { Redis } from "ioredis";
import { describe, expect, it } from "vitest";
import { createRedisClient } from "./redis-client.ts";
import {
  redisError,
  redisReconnectDelay,
  redisTarget,
  reportRedisReconnects,
  waitForRedisReady,
} from "./redis-reachability.ts";

/** Redis servers start and stop here, on a machine other tests share: more than vitest's 5 s. */
const TIMEOUT_MS = 60_000;

describe("Redis that does not answer", () => {
  it(
    "is one line naming the URL (without its password) and the problem, within seconds",
    async () => {
      const port = await freePort();
      const redis = createRedisClient(`redis://:hunter2hunter2@127.0.0.1:${port}`, { role: "producer" });
      try {
        const started = Date.now();
        const error = await waitForRedisReady(redis).catch((caught: unknown) => caught);
        // 6 refused attempts (100 ms doubling: about 3 s), or the 5 s bound.
        expect(Date.now() - started).toBeLessThan(8_000);
        expect(error).toBeInstanceOf(ServiceUnreachableError);
        expect((error as Error).message).toBe(
          `cannot reach Redis at redis://127.0.0.1:${port} (connection refused)`,
        );
      } finally {
        redis.disconnect();
      }
    },
    TIMEOUT_MS,
  );

  it("describes Sentinels and Cluster nodes as well as a URL", () => {
    const sentinel = new Redis({
      lazyConnect: true,
      sentinels: [
        { host: "10.0.0.1", port: 26379 },
        { host: "10.0.0.2", port: 26379 },
      ],
      name: "reframe",
    });
    expect(redisTarget(sentinel).at).toBe("Sentinels 10.0.0.1:26379, 10.0.0.2:26379 (master reframe)");
    const tls = new Redis("rediss://cache.example.com:6380/2", { lazyConnect: true });
    expect(redisTarget(tls).at).toBe("rediss://cache.example.com:6380/2");
    const cluster = new Redis.Cluster([{ host: "10.0.1.1", port: 7000 }], { lazyConnect: true });
    expect(redisTarget(cluster).at).toBe("Cluster nodes 10.0.1.1:7000");
  });

  it(
    "a command on a connection that lost Redis is said the same way",
    async () => {
      const server = await startRedisServer();
      const redis = createRedisClient(server.url, { role: "producer" });
      try {
        await waitForRedisReady(redis);
        await server.stop();
        await expect.poll(() => redis.status).not.toBe("ready");
        const error = redisError(redis, await redis.get("k").catch((caught: unknown) => caught));
        expect(error).toBeInstanceOf(ServiceUnreachableError);
        expect((error as Error).message).toMatch(/^cannot reach Redis at redis:\/\/127\.0\.0\.1:\d+ \(/);
      } finally {
        redis.disconnect();
        await server.stop();
      }
    },
    TIMEOUT_MS,
  );

  it(
    "a lost connection is one line per reconnection attempt, waits growing, and one line when back",
    async () => {
      const server = await startRedisServer();
      const redis = createRedisClient(server.url, { role: "worker" });
      const lines: { level: string; message: string }[] = [];
      const stop = reportRedisReconnects(redis, {
        warn: (_fields, message) => lines.push({ level: "warn", message }),
        info: (_fields, message) => lines.push({ level: "info", message }),
      });
      try {
        await waitForRedisReady(redis);
        await server.stop({ keepDirectory: true });
        await expect.poll(() => lines.length, { timeout: 10_000 }).toBeGreaterThanOrEqual(4);
        const waits = lines.map((line) => /retrying in ([\d.]+) (ms|s)/.exec(line.message)!);
        const ms = waits.map(([, value, unit]) => Number(value) * (unit === "s" ? 1000 : 1));
        expect(ms.slice(0, 4)).toEqual([100, 200, 400, 800]);
        // The server closing the connection, then each new attempt refused.
        expect(lines[0]!.message).toMatch(
          /^cannot reach Redis at redis:\/\/127\.0\.0\.1:\d+ \(connection closed\)/,
        );
        expect(lines[1]!.message).toMatch(/\(connection refused\); retrying in 200 ms, attempt 2$/);
        expect(lines.every((line) => !line.message.includes("\n"))).toBe(true);
        await server.restart();
        await expect.poll(() => lines.at(-1)?.level, { timeout: 10_000 }).toBe("info");
        expect(lines.at(-1)!.message).toMatch(/^Redis at redis:\/\/127\.0\.0\.1:\d+ answers again$/);
      } finally {
        stop();
        redis.disconnect();
        await server.stop();
      }
    },
    TIMEOUT_MS,
  );

  it("reconnects after 100 ms, doubling to at most 2 s", () => {
    expect([1, 2, 3, 4, 5, 6, 20].map(redisReconnectDelay)).toEqual([100, 200, 400, 800, 1600, 2000, 2000]);
  });
});
