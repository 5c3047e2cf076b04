/**
 * Provider limits as data, keyed by provider and model, so a new model is a new row.
 * FLUX Outpainting on Runware: each side ≤ 2048 and area ≤ 4,194,304 (the stricter reading of
 * docs/provider-protocol.md §0.4), sides ≥ 64 (BFL's minimum), $0.10 per started megapixel of output.
 */
export interface ProviderLimits {
  maxSide: number;
  maxArea: number;
  minSide: number;
  pricePerMegapixelUsd: number;
  megapixel: number;
}

export const PROVIDER_LIMITS = {
  "runware:bfl:flux@outpainting": {
    maxSide: 2048,
    maxArea: 4_194_304,
    minSide: 64,
    pricePerMegapixelUsd: 0.1,
    megapixel: 1_048_576,
  },
} satisfies Record<string, ProviderLimits>;

/** ceil(area / 1 MP) × price, computed in cents so that 3 × $0.10 is 0.3 and not 0.30000000000000004. */
export function outputCostUsd(width: number, height: number, limits: ProviderLimits): number {
  const megapixels = Math.ceil((width * height) / limits.megapixel);
  return (megapixels * Math.round(limits.pricePerMegapixelUsd * 100)) / 100;
}

/** The model reframe submits to: FLUX Outpainting on Runware. The worker and every estimate plan with it. */
export const OUTPAINT_LIMITS: ProviderLimits = PROVIDER_LIMITS["runware:bfl:flux@outpainting"];
