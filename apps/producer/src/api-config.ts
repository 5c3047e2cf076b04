import { envField, metricsEnvFields } from "@reframe/config";
import { LOG_FORMATS, LOG_LEVELS } from "@reframe/telemetry";
import { z } from "zod";

export const apiConfigSchema = z.object({
  REDIS_URL: envField.url({ protocols: ["redis:", "rediss:"] }),
  QUEUE_PREFIX: envField.string({ default: "{reframe}" }),
  API_TOKEN: envField.string({ min: 16 }),
  API_PORT: envField.int({ min: 1, max: 65_535, default: 8790 }),
  API_HOST: envField.string({ default: "0.0.0.0" }),
  INTAKE_TOKEN: envField.string({ min: 16, default: "" }).optional(),
  SCRATCH_BUCKET: envField.string({ default: "" }).optional(),
  SCRATCH_PREFIX: envField.string({ default: "_reframe-scratch/" }),
  SHUTDOWN_TIMEOUT_MS: envField.int({ min: 100, max: 600_000, default: 10_000 }),
  LOG_LEVEL: envField.enum(LOG_LEVELS, "info"),
  LOG_FORMAT: envField.enum(LOG_FORMATS, "json"),
  ...metricsEnvFields,
});
export type ApiConfig = z.output<typeof apiConfigSchema>;
