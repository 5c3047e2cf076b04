import { envField, metricsEnvFields } from "@reframe/config";
import { checkRedisEnv, redisEnvFields } from "@reframe/redis";
import { LOG_FORMATS, LOG_LEVELS } from "@reframe/telemetry";
import { z } from "zod";

/** The webhook receiver's environment; every variable is in the README's table. */
export const webhooksConfigSchema = z
  .object({
    ...redisEnvFields,
    /** Signs each task's webhook token; the worker must use the same secret. */
    WEBHOOK_SECRET: envField.string({ min: 16 }),
    WEBHOOKS_PORT: envField.int({ min: 1, max: 65_535, default: 8788 }),
    WEBHOOKS_HOST: envField.string({ default: "0.0.0.0" }),
    WEBHOOKS_BODY_LIMIT_BYTES: envField.int({ min: 1024, max: 64 * 1024 * 1024, default: 1024 * 1024 }),
    WEBHOOKS_BODY_TIMEOUT_MS: envField.int({ min: 100, max: 300_000, default: 10_000 }),
    SHUTDOWN_TIMEOUT_MS: envField.int({ min: 100, max: 600_000, default: 10_000 }),
    LOG_LEVEL: envField.enum(LOG_LEVELS, "info"),
    LOG_FORMAT: envField.enum(LOG_FORMATS, "json"),
    ...metricsEnvFields,
  })
  .superRefine(checkRedisEnv);

export type WebhooksConfig = z.output<typeof webhooksConfigSchema>;
