import { randomUUID } from "node:crypto";
import { startRedisServer, useRedisServer } from "@reframe/testkit";
import type { Redis } from "ioredis";
import { describe, expect, it } from "vitest";
import { RedisConfigError } from "./errors.ts";
import {
  assertNoEviction,
  createOutpaintQueue,
  createRedisConnection,
  providerBackoffDelay,
  providerBackoffStrategy,
} from "./queues.ts";

const server = useRedisServer();
const { closers } = server;

function connect(role: "worker" | "producer" = "worker"): Redis {
  const redis = createRedisConnection(server.url, { role });
  closers.push(() => redis.quit());
  return redis;
}

describe("assertNoEviction", () => {
  it("passes when the policy is noeviction", async () => {
    await expect(assertNoEviction(connect())).resolves.toEqual({ policy: "noeviction", checked: true });
  });

  it("stops with a message naming the current policy and the fix", async () => {
    const redis = connect();
    await redis.config("SET", "maxmemory-policy", "allkeys-lru");
    try {
      const error = await assertNoEviction(redis).catch((caught: unknown) => caught);
      expect(error).toBeInstanceOf(RedisConfigError);
      expect((error as RedisConfigError).code).toBe("eviction-policy");
      expect((error as Error).message).toContain('"allkeys-lru"');
      expect((error as Error).message).toContain("maxmemory-policy noeviction");
    } finally {
      await redis.config("SET", "maxmemory-policy", "noeviction");
    }
  });
});

describe("providerBackoffStrategy", () => {
  it("waits at least the provider's Retry-After", () => {
    const error = Object.assign(new Error("429"), { retryAfterMs: 30_000 });
    expect(providerBackoffDelay(1, error, () => 0.99)).toBe(30_000);
    expect(providerBackoffStrategy(1, "provider", error)).toBeGreaterThanOrEqual(30_000);
  });

  it("grows exponentially with full jitter and stops at 5 minutes", () => {
    expect(providerBackoffDelay(1, new Error("x"), () => 0.5)).toBe(500);
    expect(providerBackoffDelay(4, new Error("x"), () => 0.5)).toBe(4_000);
    expect(providerBackoffDelay(30, new Error("x"), () => 0.999_999)).toBeLessThan(300_000);
    expect(providerBackoffDelay(30, new Error("x"), () => 0.999_999)).toBeGreaterThan(299_000);
  });

  it("takes a later Retry-After over a shorter exponential delay only when it is longer", () => {
    const error = Object.assign(new Error("503"), { retryAfterMs: 100 });
    expect(providerBackoffDelay(8, error, () => 0.5)).toBe(64_000);
  });

  it("ignores the job BullMQ passes as its fourth argument", () => {
    const strategy = providerBackoffStrategy as (...args: unknown[]) => number;
    expect(strategy(2, "provider", new Error("x"), { id: "job" })).toBeLessThan(2_000);
  });
});

describe("queue factories", () => {
  it("gives outpaint jobs 8 attempts, the provider backoff and bounded retention under the prefix", async () => {
    const prefix = `{t-${randomUUID()}}`;
    const queue = createOutpaintQueue({ connection: connect(), prefix });
    closers.push(() => queue.close());
    const job = await queue.add("outpaint", { n: 1 }, { jobId: "op-a" });
    expect(job.opts).toMatchObject({
      attempts: 8,
      backoff: { type: "provider" },
      removeOnComplete: { age: 7 * 86_400, count: 10_000 },
      removeOnFail: { age: 30 * 86_400, count: 50_000 },
    });
    const redis = connect();
    expect(await redis.exists(`${prefix}:outpaint:op-a`)).toBe(1);
  });

  it("lets a producer's add fail instead of hanging once Redis goes down", async () => {
    // BullMQ's documented limit: Redis must be up when the queue first connects.
    const lone = await startRedisServer();
    closers.push(() => lone.stop());
    const producer = createRedisConnection(lone.url, { role: "producer" });
    producer.on("error", () => undefined);
    const queue = createOutpaintQueue({ connection: producer, prefix: `{t-${randomUUID()}}` });
    queue.on("error", () => undefined);
    closers.push(async () => {
      await queue.close().catch(() => undefined);
      producer.disconnect();
    });
    await queue.add("outpaint", {}, { jobId: "op-before" });
    await lone.stop({ keepDirectory: false });
    await expect.poll(() => producer.status).not.toBe("ready");
    await expect(queue.add("outpaint", {}, { jobId: "op-after" })).rejects.toThrow();
  });
});
