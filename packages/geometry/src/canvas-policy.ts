import { z } from "zod";

/**
 * How a source is sized on a canvas of an exact size (a `WxH` target or a size preset), and how much
 * of a canvas may be generated. Ratio and margin targets keep the source's size (unless the provider's
 * limits force it smaller) whatever the policy says.
 *
 * - `fit` (the default, as Cloudinary's `c_pad` + `b_gen_fill`): the source is scaled, up or down, until
 *   it fills the canvas in one dimension, then the rest is generated.
 * - `down-only` (Cloudinary's `c_lpad`): a source larger than the canvas is scaled down to fit; a
 *   smaller one keeps its size and everything around it is generated.
 */
export const FIT_POLICIES = ["fit", "down-only"] as const;
export type FitPolicy = (typeof FIT_POLICIES)[number];

export const DEFAULT_FIT: FitPolicy = "fit";
/** A fit never scales a source up by more than this: past it, the rest of the canvas is generated. */
export const DEFAULT_MAX_UPSCALE = 4;
/** Upscaling beyond this factor is refused as an option: a 16× enlargement is a blur, not a photo. */
export const MAX_UPSCALE_LIMIT = 16;
/** A plan whose output would be more than this share generated is refused. */
export const DEFAULT_MAX_GENERATED_SHARE = 0.9;

/**
 * A value equal to its default becomes absent. Job ids hash the options, and jobs enqueued before
 * these options existed hold none of them: spelling out a default must give the same job (and the
 * same id) as leaving it out.
 */
const absentWhen =
  <T>(fallback: T) =>
  (value: T | undefined): T | undefined =>
    value === fallback ? undefined : value;

export const fitPolicySchema = z.enum(FIT_POLICIES, `must be ${FIT_POLICIES.join(" or ")}`);
export const maxUpscaleSchema = z
  .number("must be a number")
  .min(1, "must be at least 1")
  .max(MAX_UPSCALE_LIMIT, `must be at most ${MAX_UPSCALE_LIMIT}`);
export const maxGeneratedShareSchema = z
  .number("must be a number")
  .min(0, "must be from 0 to 1")
  .max(1, "must be from 0 to 1");

/**
 * The policy as job options (composed into the job's options by `@reframe/jobs`, and so into the
 * pipelines file, the bulk request and the HTTP API). Absent means the default.
 */
export const canvasPolicyShape = {
  fit: fitPolicySchema
    .optional()
    .transform(absentWhen<FitPolicy>(DEFAULT_FIT))
    .meta({
      description: `fit: scale the source up or down to fill an exact size; down-only: only ever down (default ${DEFAULT_FIT})`,
    }),
  maxUpscale: maxUpscaleSchema
    .optional()
    .transform(absentWhen(DEFAULT_MAX_UPSCALE))
    .meta({ description: `the largest factor a fit scales a source up by (default ${DEFAULT_MAX_UPSCALE})` }),
  maxGeneratedShare: maxGeneratedShareSchema
    .optional()
    .transform(absentWhen(DEFAULT_MAX_GENERATED_SHARE))
    .meta({
      description: `the largest share (0 to 1) of the output that may be generated; a plan above it is refused (default ${DEFAULT_MAX_GENERATED_SHARE})`,
    }),
};

/** What planCanvas reads of a job's options; absent fields take the defaults above. */
export interface CanvasPolicy {
  fit?: FitPolicy | undefined;
  maxUpscale?: number | undefined;
  maxGeneratedShare?: number | undefined;
  /** A canvas beyond the provider's limits: scale the source down to fit (default), or refuse. */
  overLimit?: "prescale" | "fail" | undefined;
}

/**
 * A share as people read it: "94%". Never rounds up to the limit it broke, nor down to a limit it
 * kept: a share that differs from `other` but prints the same gets the decimals that tell them apart.
 */
export function formatShare(share: number, other?: number): string {
  for (let decimals = 0; decimals < 6; decimals += 1) {
    const text = trimmed(share * 100, decimals);
    if (other === undefined || share === other || text !== trimmed(other * 100, decimals)) return `${text}%`;
  }
  return `${share * 100}%`;
}

function trimmed(percent: number, decimals: number): string {
  return String(Number(percent.toFixed(decimals)));
}

/** "90%" or "0.9" (a command-line flag or a CSV cell) → 0.9; anything else is left for the schema to refuse. */
export function parseShare(text: string): number {
  const trimmedText = text.trim();
  const percent = /^(\d+(?:\.\d+)?)\s*%$/.exec(trimmedText);
  if (percent) return Number(percent[1]) / 100;
  return trimmedText === "" ? Number.NaN : Number(trimmedText);
}

/** A scale as people read it: "×2.11", "×0.977", "×1". */
export function formatScale(scale: number): string {
  return `×${Number(scale.toPrecision(3))}`;
}
