import { envField, metricsEnvFields } from "@reframe/config";
import { DEFAULT_ALERTS_ROUTE } from "@reframe/jobs";
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
  /** The dashboard's own login token; without it the API token logs in. */
  DASHBOARD_TOKEN: envField.string({ min: 16, default: "" }).optional(),
  DASHBOARD: envField.boolean(true),
  DASHBOARD_ACTIONS: envField.boolean(false),
  ALERTS_ROUTE: envField.list(DEFAULT_ALERTS_ROUTE),
  // The dashboard's pictures are read from S3 with these; without credentials it shows none.
  S3_ENDPOINT: envField.url({ default: "" }).optional(),
  S3_REGION: envField.string({ default: "us-east-1" }),
  S3_FORCE_PATH_STYLE: envField.boolean(false),
  S3_ACCESS_KEY_ID: envField.string({ default: "" }).optional(),
  S3_SECRET_ACCESS_KEY: envField.string({ default: "" }).optional(),
  SOURCE_URL_ALLOW_HOSTS: envField.list([]),
});
export type ApiConfig = z.output<typeof apiConfigSchema>;
