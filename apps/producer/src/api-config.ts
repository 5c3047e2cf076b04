import { envField, s3EnvFields, sourceLimitEnvFields } from "@reframe/config";
import { LOG_FORMATS, LOG_LEVELS } from "@reframe/telemetry";
import { z } from "zod";
import { DEFAULT_SNS_CERT_HOST_PATTERN, DEFAULT_SNS_MAX_AGE_MS } from "./sns/index.ts";

export const apiConfigSchema = z
  .object({
    REDIS_URL: envField.url({ protocols: ["redis:", "rediss:"] }),
    QUEUE_PREFIX: envField.string({ default: "{reframe}" }),
    API_TOKEN: envField.string({ min: 16 }),
    API_PORT: envField.int({ min: 1, max: 65_535, default: 8790 }),
    API_HOST: envField.string({ default: "0.0.0.0" }),
    INTAKE_TOKEN: envField.string({ min: 16, default: "" }).optional(),
    // The intake reads each matched image's header (its planned cost counts against the pipeline's
    // upload budget), so it needs S3 as the worker has it; without the intake, none of these is read.
    ...s3EnvFields,
    S3_ACCESS_KEY_ID: envField.string({ default: "" }).optional(),
    S3_SECRET_ACCESS_KEY: envField.string({ default: "" }).optional(),
    ...sourceLimitEnvFields,
    // SNS in front of the intake (sns/): the topics allowed, where certificates may come from, the
    // replay window, and hosts its fetches may reach on private addresses (a local SNS in tests).
    SNS_TOPIC_ARNS: envField.list([]),
    SNS_CERT_HOST_PATTERN: envField.string({ default: DEFAULT_SNS_CERT_HOST_PATTERN }),
    SNS_MAX_AGE_MS: envField.int({ min: 1000, max: 14 * 86_400_000, default: DEFAULT_SNS_MAX_AGE_MS }),
    SNS_ALLOW_HOSTS: envField.list([]),
    SCRATCH_BUCKET: envField.string({ default: "" }).optional(),
    SCRATCH_PREFIX: envField.string({ default: "_reframe-scratch/" }),
    SHUTDOWN_TIMEOUT_MS: envField.int({ min: 100, max: 600_000, default: 10_000 }),
    LOG_LEVEL: envField.enum(LOG_LEVELS, "info"),
    LOG_FORMAT: envField.enum(LOG_FORMATS, "json"),
  })
  .superRefine((config, context) => {
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
