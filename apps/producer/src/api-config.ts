import { envField, scratchEnvFields } from "@reframe/config";
import { checkRedisEnv, redisEnvFields } from "@reframe/redis";
import { LOG_FORMATS, LOG_LEVELS } from "@reframe/telemetry";
import { z } from "zod";

export const apiConfigSchema = z
  .object({
    ...redisEnvFields,
    API_TOKEN: envField.string({ min: 16 }),
    API_PORT: envField.int({ min: 1, max: 65_535, default: 8790 }),
    API_HOST: envField.string({ default: "0.0.0.0" }),
    INTAKE_TOKEN: envField.string({ min: 16, default: "" }).optional(),
    ...scratchEnvFields,
    SHUTDOWN_TIMEOUT_MS: envField.int({ min: 100, max: 600_000, default: 10_000 }),
    LOG_LEVEL: envField.enum(LOG_LEVELS, "info"),
    LOG_FORMAT: envField.enum(LOG_FORMATS, "json"),
  })
  .superRefine(checkRedisEnv);
export type ApiConfig = z.output<typeof apiConfigSchema>;
