import { z } from "zod";
import { preparedSourceSchema } from "./job-data.ts";

/**
 * What a finished outpaint job leaves behind: its BullMQ `returnvalue` when it completed, or the
 * reason it failed. The worker's finalize step builds the result; the CLI, the API, the report and the
 * completion event read it through `readOutpaintResult`, never by casting `returnvalue`.
 */

const pixels = z.int().min(1);
const nonNegative = z.number().min(0);

/**
 * Why a job ended failed: the provider's code or reframe's own (`outputInvalid`,
 * `submitAttemptsExhausted`, `stalledTooOften`, …), a sentence, and whether asking again could help.
 */
export const failureReasonSchema = z.object({
  code: z.string().min(1),
  message: z.string(),
  /** terminal: the work cannot succeed as asked; retryable: it ran out of attempts. */
  disposition: z.enum(["terminal", "retryable"]),
});
export type FailureReason = z.output<typeof failureReasonSchema>;

const outpaintVariantResultSchema = z.object({
  variant: z.int().min(0),
  key: z.string().min(1),
  width: pixels,
  height: pixels,
  size: z.int().min(1),
  contentType: z.string().min(1),
  etag: z.string().optional(),
  /** The provider's id of the image; empty for a copy (no provider call). */
  imageUUID: z.string(),
  seed: z.number().optional(),
  costUsd: nonNegative,
});
export type OutpaintVariantResult = z.output<typeof outpaintVariantResultSchema>;

export const outpaintTimingsSchema = z.object({
  /** Epoch milliseconds. */
  enqueuedAt: nonNegative,
  submittedAt: nonNegative,
  completedAt: nonNegative,
  /** Milliseconds from the first submit to completion, and from enqueue to completion. */
  providerMs: nonNegative,
  totalMs: nonNegative,
});

export const outpaintResultSchema = z.object({
  jobId: z.string().min(1),
  bucket: z.string().min(1),
  variants: z.array(outpaintVariantResultSchema).min(1),
  costUsd: nonNegative,
  /** false when the provider's limits forced a smaller canvas than the exact size asked for. */
  exactSizeMet: z.boolean(),
  requested: z.object({ width: pixels, height: pixels }).nullable(),
  /** The factor the source was resized by before outpainting (1: as it was). */
  sourceScale: z.number().positive(),
  /** The share of each output's pixels that was generated (0 to 1). */
  generatedShare: z.number().min(0).max(1),
  /**
   * What the worker did to the source before the provider read it (converted, scaled), and whether
   * it was animated (its first frame was used); absent when the provider read the original.
   */
  preparedSource: preparedSourceSchema.optional(),
  /**
   * Generations the provider failed for our storage while S3 was out, given back: not counted
   * against TASK_MAX_GENERATIONS, though the provider may have charged them (job-data.ts
   * `outageGenerations`). Absent when none.
   */
  outageGenerations: z.int().min(1).optional(),
  timings: outpaintTimingsSchema,
});
export type OutpaintResult = z.output<typeof outpaintResultSchema>;

/**
 * A job's `returnvalue` as a result: undefined while the job has none (not completed, or failed).
 * Anything else that is not a result throws the schema's error naming the field.
 */
export function readOutpaintResult(returnvalue: unknown): OutpaintResult | undefined {
  if (returnvalue === null || returnvalue === undefined) return undefined;
  return outpaintResultSchema.parse(returnvalue);
}
