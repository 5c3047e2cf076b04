import { loadConfigOrExit, sourceLimitsOf } from "@reframe/config";
import { createGuardedFetch } from "@reframe/egress";
import {
  assertNoEviction,
  createOutpaintQueue,
  createRedisConnection,
  reportRedisReconnects,
  waitForRedisReady,
} from "@reframe/jobs";
import { runProcess } from "@reframe/lifecycle";
import { createS3Client, scratchAreas } from "@reframe/storage";
import { createLogger } from "@reframe/telemetry";
import { apiConfigSchema } from "./api-config.ts";
import { createApiServer } from "./api-server.ts";
import { createSnsIntake, createSnsVerifier } from "./sns/index.ts";

const config = loadConfigOrExit(apiConfigSchema);
const logger = createLogger({ name: "api", level: config.LOG_LEVEL, format: config.LOG_FORMAT });
await runProcess({
  name: "api",
  logger,
  shutdownTimeoutMs: config.SHUTDOWN_TIMEOUT_MS,
  stoppingMessage: "finishing requests in flight",
  async start() {
    const redis = createRedisConnection(config.REDIS_URL, { role: "producer" });
    try {
      // Not reachable at start: one line and exit 1; once running, an outage is waited out.
      await waitForRedisReady(redis);
      await assertNoEviction(redis, { onUnchecked: (message) => logger.warn(message) });
    } catch (error) {
      redis.disconnect();
      throw error;
    }
    reportRedisReconnects(redis, logger);
    const queue = createOutpaintQueue({ connection: redis, prefix: config.QUEUE_PREFIX });
    const s3 = createS3Client({
      endpoint: config.S3_ENDPOINT || undefined,
      region: config.S3_REGION,
      forcePathStyle: config.S3_FORCE_PATH_STYLE,
      credentials: {
        accessKeyId: config.S3_ACCESS_KEY_ID ?? "",
        secretAccessKey: config.S3_SECRET_ACCESS_KEY ?? "",
      },
    });
    // SNS certificates and SubscribeURLs are fetched through the egress guard, never followed elsewhere.
    const egress = createGuardedFetch({ allowHosts: config.SNS_ALLOW_HOSTS, returnRedirects: true });
    const sns = createSnsIntake({
      verifier: createSnsVerifier({
        fetch: egress.fetch,
        hostPattern: new RegExp(config.SNS_CERT_HOST_PATTERN),
        topicArns: config.SNS_TOPIC_ARNS,
        maxAgeMs: config.SNS_MAX_AGE_MS,
      }),
      topicArns: config.SNS_TOPIC_ARNS,
      fetch: egress.fetch,
      redis,
      prefix: config.QUEUE_PREFIX,
      logger,
    });
    const app = createApiServer({
      queue,
      redis,
      prefix: config.QUEUE_PREFIX,
      token: config.API_TOKEN,
      logger,
      ...(config.INTAKE_TOKEN
        ? {
            intake: {
              token: config.INTAKE_TOKEN,
              scratch: scratchAreas({ bucket: config.SCRATCH_BUCKET, prefix: config.SCRATCH_PREFIX }),
              s3,
              sourceLimits: sourceLimitsOf(config),
              sns,
            },
          }
        : {}),
    });
    const address = await app.listen({ port: config.API_PORT, host: config.API_HOST });
    logger.info(
      { address, intake: Boolean(config.INTAKE_TOKEN), snsTopics: config.SNS_TOPIC_ARNS.length },
      "api listening",
    );
    return {
      async close() {
        await app.close();
        await queue.close();
        await egress.close();
        await redis.quit();
        s3.destroy();
      },
    };
  },
});
