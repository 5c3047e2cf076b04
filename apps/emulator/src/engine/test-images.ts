/**
 * Procedural images and pixel statistics for the engine's tests (imported by *.test.ts only).
 */
import sharp from "sharp";
import { type RawImage, RGBA_CHANNELS, rawInput } from "./raw-image.ts";

export type Rect = { left: number; top: number; width: number; height: number };

/** Red rises left→right, green top→bottom, blue is a checker; alpha optional (fades left→right). */
export function gradientImage(width: number, height: number, options: { alpha?: boolean } = {}): RawImage {
  const data = Buffer.alloc(width * height * RGBA_CHANNELS);
  for (let y = 0; y < height; y++) {
    for (let x = 0; x < width; x++) {
      const p = (y * width + x) * RGBA_CHANNELS;
      data[p] = Math.round((x * 255) / Math.max(1, width - 1));
      data[p + 1] = Math.round((y * 255) / Math.max(1, height - 1));
      data[p + 2] = ((x >> 3) + (y >> 3)) % 2 === 0 ? 60 : 180;
      data[p + 3] = options.alpha ? Math.round(40 + (x * 215) / Math.max(1, width - 1)) : 255;
    }
  }
  return { data, width, height };
}

export function solidImage(width: number, height: number, rgba: readonly number[]): RawImage {
  const data = Buffer.alloc(width * height * RGBA_CHANNELS);
  for (let p = 0; p < data.length; p += RGBA_CHANNELS) data.set(rgba, p);
  return { data, width, height };
}

export function encodePng(image: RawImage): Promise<Buffer> {
  return sharp(image.data, rawInput(image)).png().toBuffer();
}

/** The rectangle's bytes, row after row. */
export function cropBytes(image: RawImage, rect: Rect): Buffer {
  const rows: Buffer[] = [];
  for (let y = rect.top; y < rect.top + rect.height; y++) {
    const start = (y * image.width + rect.left) * RGBA_CHANNELS;
    rows.push(image.data.subarray(start, start + rect.width * RGBA_CHANNELS));
  }
  return Buffer.concat(rows);
}

/** Per-channel mean (RGBA) and the standard deviation of luma over a rectangle. */
export function regionStats(image: RawImage, rect: Rect): { mean: number[]; lumaStd: number } {
  const bytes = cropBytes(image, rect);
  const sums = [0, 0, 0, 0];
  let lumaSum = 0;
  let lumaSquares = 0;
  const count = bytes.length / RGBA_CHANNELS;
  for (let p = 0; p < bytes.length; p += RGBA_CHANNELS) {
    for (let c = 0; c < RGBA_CHANNELS; c++) sums[c]! += bytes[p + c]!;
    const luma = 0.299 * bytes[p]! + 0.587 * bytes[p + 1]! + 0.114 * bytes[p + 2]!;
    lumaSum += luma;
    lumaSquares += luma * luma;
  }
  const lumaMean = lumaSum / count;
  return {
    mean: sums.map((sum) => sum / count),
    lumaStd: Math.sqrt(Math.max(0, lumaSquares / count - lumaMean * lumaMean)),
  };
}

/** Bounding box of the pixels that differ between two same-sized images, or undefined. */
export function changedBounds(before: RawImage, after: RawImage): Rect | undefined {
  let left = Number.POSITIVE_INFINITY;
  let top = Number.POSITIVE_INFINITY;
  let right = -1;
  let bottom = -1;
  for (let y = 0; y < before.height; y++) {
    for (let x = 0; x < before.width; x++) {
      const p = (y * before.width + x) * RGBA_CHANNELS;
      if (before.data.compare(after.data, p, p + RGBA_CHANNELS, p, p + RGBA_CHANNELS) === 0) continue;
      left = Math.min(left, x);
      top = Math.min(top, y);
      right = Math.max(right, x);
      bottom = Math.max(bottom, y);
    }
  }
  if (right < 0) return undefined;
  return { left, top, width: right - left + 1, height: bottom - top + 1 };
}

export function countChanged(before: RawImage, after: RawImage, rect?: Rect): number {
  const area = rect ?? { left: 0, top: 0, width: before.width, height: before.height };
  const a = cropBytes(before, area);
  const b = cropBytes(after, area);
  let changed = 0;
  for (let p = 0; p < a.length; p += RGBA_CHANNELS) {
    if (a.compare(b, p, p + RGBA_CHANNELS, p, p + RGBA_CHANNELS) !== 0) changed++;
  }
  return changed;
}
