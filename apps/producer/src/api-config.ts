import {
  envField,
  metricsEnvFields,
  s3EnvFields,
  scratchEnvFields,
  sourceLimitEnvFields,
} from "@reframe/config";
import { DEFAULT_ALERTS_ROUTE } from "@reframe/jobs";
import { checkRedisEnv, redisEnvFields } from "@reframe/redis";
import { LOG_FORMATS, LOG_LEVELS } from "@reframe/telemetry";
import { z } from "zod";
import { DEFAULT_SNS_CERT_HOST_PATTERN, DEFAULT_SNS_MAX_AGE_MS } from "./sns/index.ts";

export const apiConfigSchema = z
  .object({
    ...redisEnvFields,
    API_TOKEN: envField.string({ min: 16 }),
    API_PORT: envField.int({ min: 1, max: 65_535, default: 8790 }),
    API_HOST: envField.string({ default: "0.0.0.0" }),
    INTAKE_TOKEN: envField.string({ min: 16, default: "" }).optional(),
    // The intake reads each matched image's header (its planned cost counts against the pipeline's
    // upload budget) and the dashboard its pictures, so the API reads S3 as the worker does; the
    // credentials are required with the intake, and without them the dashboard shows no pictures.
    ...s3EnvFields,
    S3_ACCESS_KEY_ID: envField.string({ default: "" }).optional(),
    S3_SECRET_ACCESS_KEY: envField.string({ default: "" }).optional(),
    ...sourceLimitEnvFields,
    SOURCE_URL_ALLOW_HOSTS: envField.list([]),
    // SNS in front of the intake (sns/): the topics allowed, where certificates may come from, the
    // replay window, and hosts its fetches may reach on private addresses (a local SNS in tests).
    SNS_TOPIC_ARNS: envField.list([]),
    SNS_CERT_HOST_PATTERN: envField.string({ default: DEFAULT_SNS_CERT_HOST_PATTERN }),
    SNS_MAX_AGE_MS: envField.int({ min: 1000, max: 14 * 86_400_000, default: DEFAULT_SNS_MAX_AGE_MS }),
    SNS_ALLOW_HOSTS: envField.list([]),
    ...scratchEnvFields,
    SHUTDOWN_TIMEOUT_MS: envField.int({ min: 100, max: 600_000, default: 10_000 }),
    LOG_LEVEL: envField.enum(LOG_LEVELS, "info"),
    LOG_FORMAT: envField.enum(LOG_FORMATS, "json"),
    ...metricsEnvFields,
    /** The dashboard's own login token; without it the API token logs in. */
    DASHBOARD_TOKEN: envField.string({ min: 16, default: "" }).optional(),
    DASHBOARD: envField.boolean(true),
    DASHBOARD_ACTIONS: envField.boolean(false),
    ALERTS_ROUTE: envField.list(DEFAULT_ALERTS_ROUTE),
  })
  .superRefine((config, context) => {
    checkRedisEnv(config, context);
    if (config.INTAKE_TOKEN)
      for (const variable of ["S3_ACCESS_KEY_ID", "S3_SECRET_ACCESS_KEY"] as const)
        if (!config[variable])
          context.addIssue({
            code: "custom",
            path: [variable],
            message: "is required with INTAKE_TOKEN (the intake reads image headers)",
          });
    try {
      new RegExp(config.SNS_CERT_HOST_PATTERN);
    } catch (error) {
      context.addIssue({
        code: "custom",
        path: ["SNS_CERT_HOST_PATTERN"],
        message: `is not a regular expression: ${(error as Error).message}`,
      });
    }
  });
export type ApiConfig = z.output<typeof apiConfigSchema>;
