import { z } from "zod";

/**
 * Environment variables are strings or absent; these builders turn them into typed values and carry
 * the rule in their error message so `parseEnv` can say "VARIABLE: rule" without a stack trace.
 */

const TRUE_WORDS = new Set(["1", "true", "yes", "on"]);
const FALSE_WORDS = new Set(["0", "false", "no", "off"]);

/** Treat an empty string like an unset variable: `FOO= cmd` should mean "use the default". */
const blankToUndefined = (value: unknown) => (value === "" ? undefined : value);

function withDefault<T extends z.ZodType>(schema: T, fallback: z.input<T> | undefined) {
  const inner = fallback === undefined ? schema : schema.default(fallback as never);
  return z.preprocess(blankToUndefined, inner);
}

export const envField = {
  string(options: { default?: string; min?: number } = {}) {
    const min = options.min ?? 1;
    return withDefault(
      z.string({ error: "is required" }).min(min, `must be at least ${min} characters`),
      options.default,
    );
  },
  int(options: { min?: number; max?: number; default?: number } = {}) {
    const { min = Number.MIN_SAFE_INTEGER, max = Number.MAX_SAFE_INTEGER } = options;
    const rule = `must be an integer from ${min} to ${max}`;
    const parsed = z
      .string({ error: "is required" })
      .regex(/^-?\d+$/, rule)
      .transform(Number)
      .pipe(z.number().int().min(min, rule).max(max, rule));
    return z.preprocess(
      blankToUndefined,
      options.default === undefined
        ? parsed
        : parsed.optional().transform((v) => v ?? (options.default as number)),
    );
  },
  boolean(fallback?: boolean) {
    const parsed = z
      .string({ error: "is required" })
      .refine((v) => TRUE_WORDS.has(v.toLowerCase()) || FALSE_WORDS.has(v.toLowerCase()), {
        error: "must be one of true, false, 1, 0, yes, no, on, off",
      })
      .transform((v) => TRUE_WORDS.has(v.toLowerCase()));
    return z.preprocess(
      blankToUndefined,
      fallback === undefined ? parsed : parsed.optional().transform((v) => v ?? fallback),
    );
  },
  url(options: { default?: string; protocols?: readonly string[] } = {}) {
    const protocols = options.protocols ?? ["http:", "https:"];
    const rule = `must be an absolute URL (${protocols.join(" or ")})`;
    const schema = z.string({ error: "is required" }).refine((v) => {
      try {
        return protocols.includes(new URL(v).protocol);
      } catch {
        return false;
      }
    }, rule);
    return withDefault(schema, options.default);
  },
  list(fallback?: readonly string[]) {
    const parsed = z
      .string({ error: "is required" })
      .transform((v) =>
        v
          .split(",")
          .map((item) => item.trim())
          .filter(Boolean),
      )
      .pipe(z.array(z.string()).min(1, "must list at least one comma-separated value"));
    return z.preprocess(
      blankToUndefined,
      fallback === undefined ? parsed : parsed.optional().transform((v) => v ?? [...fallback]),
    );
  },
  /** A decimal number (an amount of money: "12.50"); absent stays undefined unless a default is given. */
  decimal(options: { min?: number; max?: number; default?: number } = {}) {
    const { min = 0, max = Number.MAX_SAFE_INTEGER } = options;
    const rule = `must be a number from ${min} to ${max}`;
    const parsed = z
      .string({ error: "is required" })
      .regex(/^\d+(\.\d+)?$/, rule)
      .transform(Number)
      .pipe(z.number().min(min, rule).max(max, rule));
    return z.preprocess(
      blankToUndefined,
      options.default === undefined
        ? parsed.optional()
        : parsed.optional().transform((v) => v ?? (options.default as number)),
    );
  },
  /** A probability: a decimal from 0 to 1 (fault-injection rates). */
  rate(fallback = 0) {
    const rule = "must be a number from 0 to 1";
    return z.preprocess(
      blankToUndefined,
      z
        .string()
        .regex(/^(0|1|0?\.\d+|1\.0+)$/, rule)
        .transform(Number)
        .optional()
        .transform((v) => v ?? fallback),
    );
  },
  /** A variable that may be unset or blank (then undefined); otherwise the field's value and rule. */
  optional<T extends z.ZodType>(field: T) {
    return z.preprocess(blankToUndefined, field.optional());
  },
  enum<const T extends readonly [string, ...string[]]>(values: T, fallback?: T[number]) {
    const schema = z.enum(values, { error: `must be one of ${values.join(", ")}` });
    return withDefault(schema, fallback);
  },
};

/**
 * The S3 connection, the same variables in every process that reads or writes buckets (the worker,
 * `reframe bulk`): spread into a process's schema.
 */
export const s3EnvFields = {
  S3_ENDPOINT: envField.url({ default: "" }).optional(),
  S3_REGION: envField.string({ default: "us-east-1" }),
  S3_FORCE_PATH_STYLE: envField.boolean(false),
  S3_ACCESS_KEY_ID: envField.string(),
  S3_SECRET_ACCESS_KEY: envField.string(),
  // A connection not made in this long, or one that carries nothing for this long (an idle timeout:
  // a large body streams as long as it flows), is S3 unreachable. Unset: packages/storage's
  // DEFAULT_S3_TIMEOUTS (10 s, 30 s), where createS3Client uses them.
  S3_CONNECT_TIMEOUT_MS: envField.optional(envField.int({ min: 100, max: 600_000 })),
  S3_SOCKET_TIMEOUT_MS: envField.optional(envField.int({ min: 100, max: 3_600_000 })),
};

/**
 * The largest source reframe takes on (checked from the header before the body is downloaded, and
 * while it downloads): the same variables wherever sources are read (the worker's plan and pipeline
 * runs, `reframe bulk`'s estimate), so a dry run refuses what the worker would refuse.
 */
export const DEFAULT_SOURCE_LIMITS = { maxPixels: 100_000_000, maxBytes: 200_000_000 } as const;

export const sourceLimitEnvFields = {
  MAX_SOURCE_PIXELS: envField.int({ min: 1, max: 10_000_000_000, default: DEFAULT_SOURCE_LIMITS.maxPixels }),
  MAX_SOURCE_BYTES: envField.int({ min: 1, max: 100_000_000_000, default: DEFAULT_SOURCE_LIMITS.maxBytes }),
};

export function sourceLimitsOf(config: { MAX_SOURCE_PIXELS: number; MAX_SOURCE_BYTES: number }): {
  maxPixels: number;
  maxBytes: number;
} {
  return { maxPixels: config.MAX_SOURCE_PIXELS, maxBytes: config.MAX_SOURCE_BYTES };
}

/**
 * Where the worker writes pre-scaled sources: the worker uses the area, and every process that lists
 * or watches sources (API intake, `reframe bulk`, pipeline runs) leaves it out.
 */
export const scratchEnvFields = {
  SCRATCH_BUCKET: envField.string({ default: "" }).optional(),
  SCRATCH_PREFIX: envField.string({ default: "_reframe-scratch/" }),
};
