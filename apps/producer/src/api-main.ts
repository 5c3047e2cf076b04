import { loadConfigOrExit } from "@reframe/config";
import { createOutpaintQueue } from "@reframe/jobs";
import { runProcess } from "@reframe/lifecycle";
import {
  assertNoEviction,
  confirmWrites,
  createRedisClient,
  redisSettingsOf,
  waitForRedisReady,
} from "@reframe/redis";
import { createLogger } from "@reframe/telemetry";
import { apiConfigSchema } from "./api-config.ts";
import { createApiServer } from "./api-server.ts";

const config = loadConfigOrExit(apiConfigSchema);
const logger = createLogger({ name: "api", level: config.LOG_LEVEL, format: config.LOG_FORMAT });
await runProcess({
  name: "api",
  logger,
  shutdownTimeoutMs: config.SHUTDOWN_TIMEOUT_MS,
  stoppingMessage: "finishing requests in flight",
  async start() {
    const settings = redisSettingsOf(config);
    const redis = createRedisClient(settings, { role: "producer" });
    await waitForRedisReady(redis);
    await assertNoEviction(redis, { onUnchecked: (message) => logger.warn(message) });
    const queue = createOutpaintQueue({ connection: redis, prefix: config.QUEUE_PREFIX });
    const app = createApiServer({
      queue,
      redis,
      prefix: config.QUEUE_PREFIX,
      token: config.API_TOKEN,
      logger,
      confirmWrites: () => confirmWrites(redis, settings),
      ...(config.INTAKE_TOKEN
        ? {
            intake: {
              token: config.INTAKE_TOKEN,
              ignoreAreas: config.SCRATCH_BUCKET
                ? [{ bucket: config.SCRATCH_BUCKET, prefix: config.SCRATCH_PREFIX }]
                : [],
            },
          }
        : {}),
    });
    const address = await app.listen({ port: config.API_PORT, host: config.API_HOST });
    logger.info({ address, intake: Boolean(config.INTAKE_TOKEN) }, "api listening");
    return {
      async close() {
        await app.close();
        await queue.close();
        await redis.quit();
      },
    };
  },
});
