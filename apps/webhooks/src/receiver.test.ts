import { PassThrough } from "node:stream";
import { parseEnv } from "@reframe/config";
import { createRedisClient, RedisConfigError } from "@reframe/redis";
import { createLogger } from "@reframe/telemetry";
import { freePort, type LocalRedis, startRedisServer } from "@reframe/testkit";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { startWebhookReceiver } from "./receiver.ts";
import { webhooksConfigSchema } from "./webhooks-config.ts";

let server: LocalRedis;

beforeAll(async () => {
  server = await startRedisServer();
});
afterAll(async () => {
  await server?.stop();
});

const quietLogger = () =>
  createLogger({ name: "webhooks-test", level: "silent", destination: new PassThrough() });

async function configFor(redisUrl: string) {
  return parseEnv(webhooksConfigSchema, {
    REDIS_URL: redisUrl,
    WEBHOOK_SECRET: "0123456789abcdef-secret",
    WEBHOOKS_PORT: String(await freePort()),
    WEBHOOKS_HOST: "127.0.0.1",
  });
}

describe("webhooks config", () => {
  it("applies the defaults and refuses a short secret, naming the variable", () => {
    const config = parseEnv(webhooksConfigSchema, {
      REDIS_URL: "redis://h:1",
      WEBHOOK_SECRET: "x".repeat(16),
    });
    expect(config).toMatchObject({
      WEBHOOKS_PORT: 8788,
      WEBHOOKS_HOST: "0.0.0.0",
      QUEUE_PREFIX: "{reframe}",
    });
    expect(() =>
      parseEnv(webhooksConfigSchema, { REDIS_URL: "redis://h:1", WEBHOOK_SECRET: "short" }),
    ).toThrow(/WEBHOOK_SECRET: must be at least 16 characters/);
  });
});

describe("startWebhookReceiver", () => {
  it("listens, answers its health check and closes", async () => {
    const receiver = await startWebhookReceiver(await configFor(server.url), { logger: quietLogger() });
    try {
      const response = await fetch(`${receiver.address}/healthz`);
      expect(response.status).toBe(200);
    } finally {
      await receiver.close();
    }
  });

  it("refuses to start when Redis may evict keys", async () => {
    const admin = createRedisClient(server.url, { role: "worker" });
    await admin.config("SET", "maxmemory-policy", "volatile-lru");
    try {
      const error = await startWebhookReceiver(await configFor(server.url), { logger: quietLogger() }).catch(
        (caught: unknown) => caught,
      );
      expect(error).toBeInstanceOf(RedisConfigError);
      expect((error as Error).message).toContain("volatile-lru");
    } finally {
      await admin.config("SET", "maxmemory-policy", "noeviction");
      await admin.quit();
    }
  });
});
