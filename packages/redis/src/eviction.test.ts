import { useRedisServer } from "@reframe/testkit";
import { describe, expect, it } from "vitest";
import { assertNoEviction, RedisConfigError } from "./eviction.ts";
import { createRedisClient, type RedisClient } from "./redis-client.ts";

const server = useRedisServer();
const { closers } = server;

function connect(): RedisClient {
  const redis = createRedisClient(server.url, { role: "worker" });
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
      expect((error as Error).message).toContain(
        `Redis at redis://127.0.0.1:${new URL(server.url).port}: maxmemory-policy is "allkeys-lru"`,
      );
      expect((error as Error).message).toContain("maxmemory-policy noeviction");
    } finally {
      await redis.config("SET", "maxmemory-policy", "noeviction");
    }
  });
});
