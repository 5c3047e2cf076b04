import { type LocalRedis, startRedisServer } from "@reframe/testkit";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { LeaderLock } from "./leader-lock.ts";
import { createRedisClient, type RedisClient } from "./redis-client.ts";

describe("LeaderLock", () => {
  let server: LocalRedis;
  let redis: RedisClient;
  beforeAll(async () => {
    server = await startRedisServer();
    redis = createRedisClient(server.url, { role: "worker" });
  });
  afterAll(async () => {
    await redis?.quit();
    await server?.stop();
  });

  it("one holder at a time; the holder renews it", async () => {
    const a = new LeaderLock(redis, "lock:one", 5000);
    const b = new LeaderLock(redis, "lock:one", 5000);
    expect(await a.acquireOrRenew()).toBe(true);
    expect(await b.acquireOrRenew()).toBe(false);
    expect(await a.acquireOrRenew()).toBe(true);
  });

  it("another process takes over when the holder stops renewing (it died)", async () => {
    const dead = new LeaderLock(redis, "lock:two", 300);
    const next = new LeaderLock(redis, "lock:two", 300);
    expect(await dead.acquireOrRenew()).toBe(true);
    expect(await next.acquireOrRenew()).toBe(false);
    await expect.poll(() => next.acquireOrRenew(), { timeout: 5000, interval: 50 }).toBe(true);
    expect(await dead.acquireOrRenew()).toBe(false);
  });

  it("release gives the lock up only when still held", async () => {
    const a = new LeaderLock(redis, "lock:three", 5000);
    const b = new LeaderLock(redis, "lock:three", 5000);
    expect(await a.acquireOrRenew()).toBe(true);
    await b.release();
    expect(await b.acquireOrRenew()).toBe(false);
    await a.release();
    expect(await b.acquireOrRenew()).toBe(true);
  });
});
