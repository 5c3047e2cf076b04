import { availableParallelism } from "node:os";
import {
  envField,
  metricsEnvFields,
  s3EnvFields,
  scratchEnvFields,
  sourceLimitEnvFields,
} from "@reframe/config";
import { DEFAULT_ALERTS_ROUTE, DEFAULT_BREAKER_SETTINGS, routeEntrySchema } from "@reframe/jobs";
import { DEFAULT_RETRY_SCHEDULE, parseRetrySchedule } from "@reframe/outbound";
import { checkRedisEnv, redisEnvFields } from "@reframe/redis";
import { runEnvFields } from "@reframe/runs";
import { LOG_FORMATS, LOG_LEVELS } from "@reframe/telemetry";
import { z } from "zod";

/** A breaker's settings (packages/jobs BreakerSettings), `<service>_BREAKER_*`: the same for each service. */
function breakerEnvFields<const S extends "PROVIDER" | "S3">(service: S) {
  return {
    [`${service}_BREAKER_THRESHOLD`]: envField.int({
      min: 1,
      max: 1000,
      default: DEFAULT_BREAKER_SETTINGS.threshold,
    }),
    [`${service}_BREAKER_WINDOW_MS`]: envField.int({
      min: 1000,
      max: 3_600_000,
      default: DEFAULT_BREAKER_SETTINGS.windowMs,
    }),
    [`${service}_BREAKER_PROBE_MIN_MS`]: envField.int({
      min: 100,
      max: 600_000,
      default: DEFAULT_BREAKER_SETTINGS.probeMinMs,
    }),
    [`${service}_BREAKER_PROBE_MAX_MS`]: envField.int({
      min: 100,
      max: 3_600_000,
      default: DEFAULT_BREAKER_SETTINGS.probeMaxMs,
    }),
  } as Record<
    `${S}_BREAKER_${"THRESHOLD" | "WINDOW_MS" | "PROBE_MIN_MS" | "PROBE_MAX_MS"}`,
    ReturnType<typeof envField.int>
  >;
}

/** The worker's environment; every variable is in the README's table. */
export const workerConfigSchema = z
  .object({
    ...redisEnvFields,
    // A job holds a slot only while it plans, submits (one POST shared by up to SUBMIT_MAX_BATCH
    // tasks) or finalizes; 50 lets a full submit batch form (pnpm bench: fewer requests, less CPU).
    WORKER_CONCURRENCY: envField.int({ min: 1, max: 1000, default: 50 }),
    // Decodes (pre-scaling, conversion) at once, apart from WORKER_CONCURRENCY: image work is CPU
    // and memory, one libvips thread each, so one per core keeps the cores busy and memory bounded.
    IMAGE_CONCURRENCY: envField.int({ min: 1, max: 64, default: availableParallelism() }),
    ...sourceLimitEnvFields,
    WORKER_LOCK_DURATION_MS: envField.int({ min: 1000, max: 600_000, default: 30_000 }),
    WORKER_STALLED_INTERVAL_MS: envField.int({ min: 1000, max: 600_000, default: 30_000 }),
    WORKER_MAX_STALLED_COUNT: envField.int({ min: 0, max: 100, default: 3 }),
    WORKER_WATCHDOG_MS: envField.int({ min: 0, max: 600_000, default: 10_000 }),
    WORKER_SILENT_AFTER_MS: envField.int({ min: 1000, max: 3_600_000, default: 30_000 }),
    RUNWARE_API_URL: envField.url({ default: "https://api.runware.ai/v1" }),
    RUNWARE_API_KEY: envField.string(),
    RUNWARE_TIMEOUT_MS: envField.int({ min: 1000, max: 600_000, default: 60_000 }),
    // The provider's and S3's breakers (packages/jobs breaker.ts): outage failures in a row within
    // the window open one; while open one probe at a time, the waits doubling from the minimum to the
    // maximum.
    ...breakerEnvFields("PROVIDER"),
    ...breakerEnvFields("S3"),
    ...s3EnvFields,
    ...scratchEnvFields,
    SOURCE_URL_ALLOW_HOSTS: envField.list([]),
    WEBHOOK_PUBLIC_URL: envField.url({ default: "" }).optional(),
    WEBHOOK_SECRET: envField.string({ min: 16, default: "" }).optional(),
    SUBMIT_WINDOW_MS: envField.int({ min: 0, max: 1000, default: 20 }),
    SUBMIT_MAX_BATCH: envField.int({ min: 1, max: 500, default: 50 }),
    TASK_MAX_GENERATIONS: envField.int({ min: 1, max: 10, default: 3 }),
    // Generations given back for an S3 outage (their own cap: the provider may charge for them).
    TASK_MAX_OUTAGE_GENERATIONS: envField.int({ min: 0, max: 10, default: 2 }),
    TASK_MAX_SUBMIT_ATTEMPTS: envField.int({ min: 1, max: 100, default: 12 }),
    JOB_RECHECK_MS: envField.int({ min: 100, max: 3_600_000, default: 60_000 }),
    POLL_FIRST_MS: envField.int({ min: 100, max: 3_600_000 }).optional(),
    POLL_INTERVAL_MS: envField.int({ min: 100, max: 600_000, default: 1000 }),
    POLL_MAX_INTERVAL_MS: envField.int({ min: 100, max: 3_600_000, default: 10_000 }),
    RECONCILER: envField.boolean(true),
    PIPELINE_RUNS: envField.boolean(true),
    /** A pipeline run's window, as `reframe bulk`'s. */
    ...runEnvFields,
    // Off by default: a ceiling is a business decision; pipelines' upload triggers have their own.
    SPEND_LIMIT_USD_PER_DAY: envField.decimal({ min: 0.01 }),
    // Outbound webhooks: deliveries run on their own queue and slots (packages/outbound).
    DELIVERIES: envField.boolean(true),
    DELIVERY_CONCURRENCY: envField.int({ min: 1, max: 1000, default: 50 }),
    DELIVERY_TIMEOUT_MS: envField.int({ min: 100, max: 120_000, default: 15_000 }),
    DELIVERY_RETRY_SCHEDULE: envField.string({ default: DEFAULT_RETRY_SCHEDULE }),
    DELIVERY_ALLOW_HOSTS: envField.list([]),
    ENDPOINT_DISABLE_AFTER_MS: envField.int({ min: 1000, max: 90 * 86_400_000, default: 5 * 86_400_000 }),
    SHUTDOWN_TIMEOUT_MS: envField.int({ min: 100, max: 600_000, default: 20_000 }),
    LOG_LEVEL: envField.enum(LOG_LEVELS, "info"),
    LOG_FORMAT: envField.enum(LOG_FORMATS, "json"),
    ...metricsEnvFields,
    ALERTS_ROUTE: envField.list(DEFAULT_ALERTS_ROUTE),
  })
  .superRefine((config, context) => {
    try {
      parseRetrySchedule(config.DELIVERY_RETRY_SCHEDULE);
    } catch (error) {
      context.addIssue({
        code: "custom",
        path: ["DELIVERY_RETRY_SCHEDULE"],
        message: `${(error as Error).message}: a comma-separated list of waits, e.g. ${DEFAULT_RETRY_SCHEDULE}`,
      });
    }
    for (const [index, entry] of config.ALERTS_ROUTE.entries()) {
      if (!routeEntrySchema.safeParse(entry).success)
        context.addIssue({
          code: "custom",
          path: ["ALERTS_ROUTE"],
          message: `entry ${index + 1} (${entry}) must be a queue name (letters, digits, '.', '_', '-') or webhook:<endpoint>`,
        });
    }
    for (const service of ["PROVIDER", "S3"] as const)
      if (config[`${service}_BREAKER_PROBE_MAX_MS`] < config[`${service}_BREAKER_PROBE_MIN_MS`])
        context.addIssue({
          code: "custom",
          path: [`${service}_BREAKER_PROBE_MAX_MS`],
          message: `must be at least ${service}_BREAKER_PROBE_MIN_MS (${config[`${service}_BREAKER_PROBE_MIN_MS`]})`,
        });
    if (config.WEBHOOK_PUBLIC_URL && !config.WEBHOOK_SECRET) {
      context.addIssue({
        code: "custom",
        path: ["WEBHOOK_SECRET"],
        message: "is required (at least 16 characters) when WEBHOOK_PUBLIC_URL is set",
      });
    }
  })
  .superRefine(checkRedisEnv);

export type WorkerConfig = z.output<typeof workerConfigSchema>;
