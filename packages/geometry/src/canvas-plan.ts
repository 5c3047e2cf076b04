import { z } from "zod";

const pixels = z.int().min(1);
const margin = z.int().min(0);

export const sizeSchema = z.object({ width: pixels, height: pixels });
export type Size = z.infer<typeof sizeSchema>;

export const marginsSchema = z.object({ top: margin, right: margin, bottom: margin, left: margin });
export type Margins = z.infer<typeof marginsSchema>;

/**
 * What planCanvas decides for one source and target. The worker saves it in the job's state (with
 * where the provider reads the source), the estimate prices it, and the result and completion event
 * report its scale and generated share.
 */
export const canvasPlanSchema = z.object({
  /** New pixels on each side of the scaled source. All zero: a copy (the source, resized, is the output). */
  margins: marginsSchema,
  output: sizeSchema,
  /**
   * The factor the source is resized by before outpainting: 1 as it is, above 1 scaled up to fit an
   * exact size, below 1 scaled down (to fit an exact size, or the provider's limits).
   */
  sourceScale: z.number().positive(),
  /** The source's size at that scale: what the provider receives. */
  scaledSource: sizeSchema,
  /** Generated pixels over all pixels of the output (0 to 1): 1 − scaled source area ÷ output area. */
  generatedShare: z.number().min(0).max(1),
  /** Of one output (one variant); 0 for a copy. */
  costUsd: z.number().min(0),
  /** False when an exact size (a preset's pixels) could not be met within the provider's limits. */
  exactSizeMet: z.boolean(),
  /** The exact size asked for, when it was not met. */
  requested: sizeSchema.nullable(),
  notes: z.array(z.string()).default([]),
});
export type CanvasPlan = z.output<typeof canvasPlanSchema>;

/** A plan that adds nothing: the output is the source at the planned scale, made without the provider. */
export function isCopyPlan(plan: Pick<CanvasPlan, "margins">): boolean {
  const { top, right, bottom, left } = plan.margins;
  return top + right + bottom + left === 0;
}

/** 1 − source area ÷ canvas area: the share of the canvas the provider generates. */
export function generatedShareOf(source: Size, canvas: Size): number {
  return 1 - (source.width * source.height) / (canvas.width * canvas.height);
}
