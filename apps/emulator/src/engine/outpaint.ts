import sharp from "sharp";
import { createGrainRandom } from "./grain.ts";
import { type RawImage, RGBA_CHANNELS, rawInput } from "./raw-image.ts";

/**
 * CPU stand-in for FLUX Outpainting. The output is exactly source + margins with the source copied
 * unchanged at (left, top). The new area continues the image:
 *   1. mirror: the source reflected across each border (corners reflect twice), via libvips extend;
 *   2. blur levels: copies of the mirrored canvas blurred at growing sigmas, each blurred at a reduced
 *      scale (sigma / lowResSigma) and scaled back up, so a wide blur costs as little as a narrow one;
 *   3. one pass over the new area picks, per pixel, the two levels bracketing sigma(distance to the
 *      source) and interpolates them. Over the first `featherPx` pixels sigma ramps from 0 (the sharp
 *      mirror, so the seam is continuous) to the first level: that ramp is the feathered seam;
 *   4. grain from a PRNG seeded by `seed`, ramped in with the feather, so outputs differ per seed only
 *      outside the source.
 */
export type Margins = { top: number; right: number; bottom: number; left: number };

export const OUTPAINT_MODES = ["high", "fast"] as const;
export type OutpaintMode = (typeof OUTPAINT_MODES)[number];

export type OutpaintRequest = { source: RawImage; margins: Margins; mode: OutpaintMode; seed: number };

type BlurPlan = {
  /** Blur sigmas in output pixels, ascending; level 0 (sigma 0) is the sharp mirror. */
  sigmas: readonly number[];
  /** Sigma applied at the reduced scale; smaller means a coarser, cheaper level. */
  lowResSigma: number;
  featherPx: number;
  /** Sigma added per pixel of distance beyond the feather: 0.12 reaches sigma 48 about 380 px out. */
  growth: number;
  /** Peak grain amplitude in 8-bit levels (±). */
  grain: number;
};

const BLUR_PLANS: Record<OutpaintMode, BlurPlan> = {
  high: { sigmas: [3, 8, 20, 48], lowResSigma: 3, featherPx: 6, growth: 0.12, grain: 4 },
  fast: { sigmas: [6, 32], lowResSigma: 1.5, featherPx: 6, growth: 0.12, grain: 4 },
};

const MARGIN_SIDES = ["top", "right", "bottom", "left"] as const;

export async function outpaintImage(request: OutpaintRequest): Promise<RawImage> {
  const { source, margins } = request;
  for (const side of MARGIN_SIDES) {
    if (!Number.isInteger(margins[side]) || margins[side] < 0) {
      throw new RangeError(`outpaint.${side} must be an integer >= 0, got ${margins[side]}`);
    }
  }
  const width = source.width + margins.left + margins.right;
  const height = source.height + margins.top + margins.bottom;
  if (width === source.width && height === source.height) {
    return { data: Buffer.from(source.data), width, height };
  }
  const plan = BLUR_PLANS[request.mode];
  // extend copies the source bytes verbatim, so the mirror canvas already holds the final source region.
  const mirror = await sharp(source.data, rawInput(source))
    .extend({ ...margins, extendWith: "mirror" })
    .raw()
    .toBuffer();
  const canvas = { data: mirror, width, height };
  const blurred = await Promise.all(plan.sigmas.map((sigma) => blurLevel(canvas, sigma, plan.lowResSigma)));
  blendNewArea({ canvas, levels: [mirror, ...blurred], source, margins, plan, seed: request.seed });
  return canvas;
}

async function blurLevel(canvas: RawImage, sigma: number, lowResSigma: number): Promise<Buffer> {
  const factor = Math.max(1, sigma / lowResSigma);
  const small = {
    width: Math.max(1, Math.round(canvas.width / factor)),
    height: Math.max(1, Math.round(canvas.height / factor)),
  };
  // sharp applies blur after resize within one pipeline; upscaling needs a second pipeline.
  const reduced = await sharp(canvas.data, rawInput(canvas))
    .resize(small.width, small.height, { fit: "fill", kernel: "linear" })
    .blur(Math.max(0.3, sigma / factor))
    .raw()
    .toBuffer();
  return sharp(reduced, rawInput({ data: reduced, ...small }))
    .resize(canvas.width, canvas.height, { fit: "fill", kernel: "linear" })
    .raw()
    .toBuffer();
}

type DistanceTable = { lower: Uint8Array; weight: Float32Array; grain: Float32Array };

/** Per integer distance from the source: which two levels to mix, how much, and the grain amplitude. */
function buildDistanceTable(plan: BlurPlan, maxDistance: number): DistanceTable {
  const levelSigmas = [0, ...plan.sigmas];
  const first = plan.sigmas[0] ?? 0;
  const last = levelSigmas.length - 1;
  const table: DistanceTable = {
    lower: new Uint8Array(maxDistance + 1),
    weight: new Float32Array(maxDistance + 1),
    grain: new Float32Array(maxDistance + 1),
  };
  for (let d = 0; d <= maxDistance; d++) {
    const ramp = Math.min(1, d / plan.featherPx);
    const sigma = d <= plan.featherPx ? first * ramp : first + (d - plan.featherPx) * plan.growth;
    let lower = 0;
    while (lower < last - 1 && (levelSigmas[lower + 1] ?? 0) <= sigma) lower++;
    const from = levelSigmas[lower] ?? 0;
    const to = levelSigmas[lower + 1] ?? from;
    table.lower[d] = lower;
    table.weight[d] = to > from ? Math.min(1, (sigma - from) / (to - from)) : 1;
    table.grain[d] = plan.grain * ramp;
  }
  return table;
}

type BlendInput = {
  canvas: RawImage;
  levels: Buffer[];
  source: RawImage;
  margins: Margins;
  plan: BlurPlan;
  seed: number;
};

/** The single JS pass; writes into canvas.data (level 0), reading each pixel before writing it. */
function blendNewArea({ canvas, levels, source, margins, plan, seed }: BlendInput): void {
  const { width, height } = canvas;
  const out = new Uint8ClampedArray(canvas.data.buffer, canvas.data.byteOffset, canvas.data.byteLength);
  const srcRight = margins.left + source.width - 1;
  const srcBottom = margins.top + source.height - 1;
  const maxDistance = Math.ceil(
    Math.hypot(Math.max(margins.left, margins.right), Math.max(margins.top, margins.bottom)),
  );
  const table = buildDistanceTable(plan, maxDistance);
  const random = createGrainRandom(seed);
  for (let y = 0; y < height; y++) {
    const dy = y < margins.top ? margins.top - y : y > srcBottom ? y - srcBottom : 0;
    for (let x = 0; x < width; x++) {
      if (dy === 0 && x === margins.left) {
        x = srcRight;
        continue;
      }
      const dx = x < margins.left ? margins.left - x : x > srcRight ? x - srcRight : 0;
      const d = Math.min(maxDistance, Math.round(Math.sqrt(dx * dx + dy * dy)));
      const lower = table.lower[d] ?? 0;
      const t = table.weight[d] ?? 0;
      const a = levels[lower]!;
      const b = levels[lower + 1]!;
      const noise = (random() - 0.5) * 2 * (table.grain[d] ?? 0);
      const p = (y * width + x) * RGBA_CHANNELS;
      out[p] = a[p]! + (b[p]! - a[p]!) * t + noise;
      out[p + 1] = a[p + 1]! + (b[p + 1]! - a[p + 1]!) * t + noise;
      out[p + 2] = a[p + 2]! + (b[p + 2]! - a[p + 2]!) * t + noise;
      out[p + 3] = a[p + 3]! + (b[p + 3]! - a[p + 3]!) * t;
    }
  }
}
