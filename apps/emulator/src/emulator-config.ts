import { envField } from "@reframe/config";
import { LOG_FORMATS, LOG_LEVELS } from "@reframe/telemetry";
import { z } from "zod";

/** "200-800" (uniform) or "500" (fixed), in milliseconds. */
const rangeField = (fallback: string) =>
  z
    .preprocess((v) => (v === "" || v === undefined ? fallback : v), z.string())
    .refine((v) => /^\d+(-\d+)?$/.test(v), "must be a number of milliseconds or a range like 200-800")
    .transform((v) => {
      const [min, max = min] = v.split("-").map(Number) as [number, number?];
      return { min, max: Math.max(min, max) };
    });

export const emulatorConfigSchema = z.object({
  EMULATOR_PORT: envField.int({ min: 0, max: 65535, default: 8787 }),
  EMULATOR_HOST: envField.string({ default: "127.0.0.1" }),
  /** Base of the imageURL of URL outputs; defaults to http://HOST:PORT. */
  EMULATOR_PUBLIC_URL: envField.url({ default: "" }).optional(),
  EMULATOR_API_KEYS: envField.list(["local-dev-key"]),
  EMULATOR_ADMIN_TOKEN: envField.string({ default: "" }).optional(),
  /** throughput: upload a flat image of the right size instead of outpainting (benchmarks). */
  EMULATOR_MODE: envField.enum(["render", "throughput"], "render"),
  EMULATOR_LATENCY_MS: rangeField("200-800"),
  EMULATOR_CONCURRENCY: envField.int({ min: 1, max: 64, default: 2 }),
  EMULATOR_DEFAULT_TTL_S: envField.int({ min: 60, max: 2_592_000, default: 86_400 }),
  EMULATOR_TASK_RETENTION_S: envField.int({ min: 1, max: 2_592_000, default: 3600 }),
  EMULATOR_TIME_SCALE: z
    .preprocess((v) => (v === "" || v === undefined ? "1" : v), z.string())
    .refine((v) => /^\d+(\.\d+)?$/.test(v) && Number(v) > 0, "must be a positive number")
    .transform(Number),
  EMULATOR_WEBHOOK_RETRY_DELAYS_MS: envField
    .list(["1000", "5000", "30000", "120000"])
    .pipe(z.array(z.string().regex(/^\d+$/, "must be comma-separated milliseconds").transform(Number))),
  EMULATOR_WEBHOOK_TIMEOUT_MS: envField.int({ min: 100, max: 300_000, default: 10_000 }),
  EMULATOR_UPLOAD_RETRIES: envField.int({ min: 0, max: 10, default: 2 }),
  EMULATOR_MAX_BODY_BYTES: envField.int({ min: 1024, max: 1_073_741_824, default: 10 * 1024 * 1024 }),
  /**
   * Input formats accepted: the provider's documentation names JPEG, PNG and WebP for image inputs;
   * gif, tiff and avif may be added (sharp decodes them) to try clients that send more.
   */
  EMULATOR_INPUT_FORMATS: envField
    .list(["jpeg", "png", "webp"])
    .pipe(
      z.array(
        z.enum(
          ["jpeg", "png", "webp", "gif", "tiff", "avif"],
          "must list formats among jpeg, png, webp, gif, tiff, avif",
        ),
      ),
    ),
  /**
   * What the provider does with 16-bit or CMYK pixels is not documented: "8bit-rgb" refuses them
   * (invalidImage naming the depth or colour space), "any" decodes them to 8-bit sRGB.
   */
  EMULATOR_INPUT_PIXELS: envField.enum(["8bit-rgb", "any"], "8bit-rgb"),
  EMULATOR_MAX_INPUT_BYTES: envField.int({ min: 1024, max: 1_073_741_824, default: 20 * 1024 * 1024 }),
  EMULATOR_FETCH_TIMEOUT_MS: envField.int({ min: 100, max: 300_000, default: 15_000 }),
  EMULATOR_SEED: envField.int({ min: 0, max: 2 ** 31 - 1 }).optional(),
  EMULATOR_RATE_429: envField.rate(0),
  EMULATOR_RATE_503: envField.rate(0),
  EMULATOR_RATE_504: envField.rate(0),
  EMULATOR_RATE_TIMEOUT: envField.rate(0),
  EMULATOR_TIMEOUT_DELAY_MS: envField.int({ min: 0, max: 600_000, default: 65_000 }),
  EMULATOR_RETRY_AFTER_S: envField.int({ min: 0, max: 3600, default: 1 }),
  EMULATOR_RATE_TERMINAL: envField.rate(0),
  EMULATOR_RATE_NSFW: envField.rate(0),
  EMULATOR_RATE_UPLOAD_FAILURE: envField.rate(0),
  EMULATOR_RATE_WEBHOOK_DROP: envField.rate(0),
  EMULATOR_RATE_WEBHOOK_DUPLICATE: envField.rate(0),
  EMULATOR_RATE_WEBHOOK_DELAY: envField.rate(0),
  EMULATOR_WEBHOOK_DELAY_MS: rangeField("1000-5000"),
  EMULATOR_RATE_WEBHOOK_REORDER: envField.rate(0),
  LOG_LEVEL: envField.enum(LOG_LEVELS, "info"),
  LOG_FORMAT: envField.enum(LOG_FORMATS, "json"),
});
export type EmulatorConfig = z.output<typeof emulatorConfigSchema>;
