import { z } from "zod";

/**
 * The wire protocol of Runware's `imageInference` for FLUX Outpainting, as zod schemas from which
 * every type is inferred. Sources and confidence: docs/provider-protocol.md (§2 request,
 * §3 result, §1.4 envelope, §1.6 error object, §2.5 watermark).
 */

export const RUNWARE_OUTPAINTING_MODEL = "bfl:flux@outpainting";
export const OUTPUT_TYPES = ["URL", "base64Data", "dataURI"] as const;
export const OUTPUT_FORMATS = ["JPG", "PNG", "WEBP"] as const;
export type OutputFormat = (typeof OUTPUT_FORMATS)[number];
/**
 * Each output format's file: its Content-Type, the usual extension (also sharp's name for the
 * encoder: `toFormat("jpg")` is JPEG).
 */
export const OUTPUT_FORMAT_FILES = {
  JPG: { contentType: "image/jpeg", extension: "jpg" },
  PNG: { contentType: "image/png", extension: "png" },
  WEBP: { contentType: "image/webp", extension: "webp" },
} as const satisfies Record<OutputFormat, { contentType: string; extension: string }>;
export type OutputContentType = (typeof OUTPUT_FORMAT_FILES)[OutputFormat]["contentType"];
export const DELIVERY_METHODS = ["sync", "async"] as const;
export const OUTPAINT_MODES = ["high", "fast"] as const;
export const WATERMARK_POSITIONS = [
  "top-left",
  "top-center",
  "top-right",
  "center-left",
  "center-center",
  "center-right",
  "bottom-left",
  "bottom-center",
  "bottom-right",
] as const;
/** API page: outputQuality 20–99, ttl ≥ 60, numberResults 1–20, watermark text 2–32, opacity 0.1–1 step 0.01. */
export const PROTOCOL_LIMITS = {
  outputQuality: { min: 20, max: 99 },
  ttlMin: 60,
  numberResults: { min: 1, max: 20 },
  watermarkText: { min: 2, max: 32 },
  opacity: { min: 0.1, max: 1, step: 0.01 },
} as const;

/** Any RFC 4122 UUID: the API asks for v4, reframe sends v5 (deterministic per job) and the server takes both. */
const UUID_PATTERN = /^[0-9a-f]{8}-[0-9a-f]{4}-[1-8][0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$/i;
const DATA_URI_PATTERN = /^data:image\/[a-z0-9.+-]+;base64,[A-Za-z0-9+/=\s]+$/i;
const BASE64_PATTERN = /^[A-Za-z0-9+/\s]+={0,2}$/;
const HEX_COLOUR = /^#(?:[0-9a-f]{3}|[0-9a-f]{6})$/i;

export const uuidSchema = z.string().regex(UUID_PATTERN, "must be a UUID");

/** An image reference: a UUID of a stored image, an http(s) URL, a data URI or plain base64. */
export function imageReferenceKind(value: string): "uuid" | "url" | "dataURI" | "base64" | undefined {
  if (UUID_PATTERN.test(value)) return "uuid";
  if (/^https?:\/\//i.test(value)) {
    try {
      new URL(value);
      return "url";
    } catch {
      return undefined;
    }
  }
  if (DATA_URI_PATTERN.test(value)) return "dataURI";
  if (value.length >= 16 && value.length % 4 === 0 && BASE64_PATTERN.test(value)) return "base64";
  return undefined;
}

const imageReferenceSchema = z
  .string()
  .min(1)
  .refine(
    (value) => imageReferenceKind(value) !== undefined,
    "must be a UUID, an http(s) URL, a data URI or base64",
  );

const urlSchema = z.string().refine((value) => {
  try {
    return ["http:", "https:"].includes(new URL(value).protocol);
  } catch {
    return false;
  }
}, "must be an http(s) URL");

const marginSchema = z.number().int("must be an integer").min(0, "must be 0 or more");

export const outpaintSchema = z
  .object({
    top: marginSchema.optional(),
    right: marginSchema.optional(),
    bottom: marginSchema.optional(),
    left: marginSchema.optional(),
  })
  .strict()
  .refine((m) => (m.top ?? 0) + (m.right ?? 0) + (m.bottom ?? 0) + (m.left ?? 0) > 0, {
    message: "at least one of top, right, bottom, left must be greater than 0",
  });

/** Opacity in steps of 0.01: compared with a tolerance, since 0.29 is not exact in binary. */
const opacitySchema = z
  .number()
  .min(PROTOCOL_LIMITS.opacity.min, "must be from 0.1 to 1")
  .max(PROTOCOL_LIMITS.opacity.max, "must be from 0.1 to 1")
  .refine((value) => Math.abs(value * 100 - Math.round(value * 100)) < 1e-6, "must be in steps of 0.01");

export const watermarkSchema = z
  .object({
    text: z.string().min(2, "must be 2 to 32 characters").max(32, "must be 2 to 32 characters").optional(),
    image: imageReferenceSchema.optional(),
    displayPosition: z.enum(WATERMARK_POSITIONS).optional(),
    tiled: z.boolean().optional(),
    opacity: opacitySchema.optional(),
    fontColor: z.string().regex(HEX_COLOUR, "must be a hex colour like #ffffff").optional(),
    bgColor: z
      .string()
      .refine(
        (value) => value === "transparent" || HEX_COLOUR.test(value),
        "must be a hex colour or transparent",
      )
      .optional(),
  })
  .strict()
  .refine((w) => (w.text === undefined) !== (w.image === undefined), {
    message: "exactly one of text and image is required",
  });
export type Watermark = z.infer<typeof watermarkSchema>;

export const imageInferenceTaskSchema = z
  .object({
    taskType: z.literal("imageInference"),
    taskUUID: uuidSchema,
    model: z.literal(RUNWARE_OUTPAINTING_MODEL),
    inputs: z.object({ image: imageReferenceSchema }).strict(),
    outpaint: outpaintSchema,
    settings: z
      .object({ autoCrop: z.boolean().optional(), mode: z.enum(OUTPAINT_MODES).optional() })
      .strict()
      .optional(),
    outputType: z.enum(OUTPUT_TYPES).optional(),
    outputFormat: z.enum(OUTPUT_FORMATS).optional(),
    outputQuality: z
      .number()
      .int()
      .min(20, "must be an integer from 20 to 99")
      .max(99, "must be an integer from 20 to 99")
      .optional(),
    webhookURL: urlSchema.optional(),
    deliveryMethod: z.enum(DELIVERY_METHODS).optional(),
    uploadEndpoint: urlSchema.optional(),
    safety: z.object({ checkContent: z.boolean().optional() }).strict().optional(),
    ttl: z.number().int().min(60, "must be an integer of at least 60").optional(),
    includeCost: z.boolean().optional(),
    numberResults: z
      .number()
      .int()
      .min(1, "must be an integer from 1 to 20")
      .max(20, "must be an integer from 1 to 20")
      .optional(),
    advancedFeatures: z.object({ watermark: watermarkSchema.optional() }).strict().optional(),
  })
  .strict();
export type ImageInferenceTask = z.infer<typeof imageInferenceTaskSchema>;

export const getResponseTaskSchema = z
  .object({ taskType: z.literal("getResponse"), taskUUID: uuidSchema })
  .strict();
export type GetResponseTask = z.infer<typeof getResponseTaskSchema>;

export const authenticationTaskSchema = z
  .object({
    taskType: z.literal("authentication"),
    apiKey: z.string().min(1),
    connectionSessionUUID: uuidSchema.optional(),
  })
  .strict();
export type AuthenticationTask = z.infer<typeof authenticationTaskSchema>;

export const providerErrorObjectSchema = z.looseObject({
  code: z.string(),
  message: z.string().default(""),
  parameter: z.union([z.string(), z.array(z.string())]).optional(),
  taskType: z.string().optional(),
  taskUUID: z.string().optional(),
  documentation: z.string().optional(),
  type: z.string().optional(),
  allowedValues: z.array(z.unknown()).optional(),
});
export type ProviderErrorObject = z.infer<typeof providerErrorObjectSchema>;

export const TASK_STATUSES = ["processing", "success", "error"] as const;

/** Lenient: the provider adds fields over time; reframe reads only these. */
export const imageInferenceResultSchema = z.looseObject({
  taskType: z.string(),
  taskUUID: z.string(),
  imageUUID: z.string().optional(),
  imageURL: z.string().optional(),
  imageBase64Data: z.string().optional(),
  imageDataURI: z.string().optional(),
  seed: z.number().optional(),
  cost: z.number().optional(),
  NSFWContent: z.boolean().optional(),
  status: z.enum(TASK_STATUSES).optional(),
  progress: z.number().optional(),
  error: z.looseObject({ code: z.string().optional(), message: z.string().optional() }).optional(),
});
export type ImageInferenceResult = z.infer<typeof imageInferenceResultSchema>;

/** `{data, errors}`; the legacy singular `error` is folded into `errors` (docs/provider-protocol.md §1.4). */
export const envelopeSchema = z
  .looseObject({
    data: z.union([z.array(z.unknown()), z.record(z.string(), z.unknown())]).optional(),
    errors: z.array(providerErrorObjectSchema).optional(),
    error: providerErrorObjectSchema.optional(),
  })
  .transform(({ data, errors, error }) => ({
    data: data === undefined ? [] : Array.isArray(data) ? data : [data],
    errors: [...(errors ?? []), ...(error ? [error] : [])],
  }));
export type Envelope = z.output<typeof envelopeSchema>;
