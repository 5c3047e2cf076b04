import { describeBytes, describeMegapixels, ImageProblemError } from "./image-problem.ts";

/**
 * The largest source reframe takes on, checked from the header before the body is downloaded, and
 * again while the bytes arrive (a URL need not say its length). The pixel limit is also sharp's
 * `limitInputPixels` when the worker decodes, so no decode can allocate past it.
 */
export interface SourceLimits {
  /** MAX_SOURCE_PIXELS: width × height as stored. */
  maxPixels: number;
  /** MAX_SOURCE_BYTES: the encoded file. */
  maxBytes: number;
}

export function checkPixels(width: number, height: number, limits: SourceLimits): void {
  if (width * height > limits.maxPixels) {
    throw new ImageProblemError(
      "tooLarge",
      `is ${width}×${height} px (${describeMegapixels(width * height)}), over the limit of ${describeMegapixels(limits.maxPixels)} (MAX_SOURCE_PIXELS)`,
    );
  }
}

/** `soFar`: the size is what arrived before the download was stopped, not the whole file's. */
export function checkBytes(bytes: number, limits: SourceLimits, soFar = false): void {
  if (bytes > limits.maxBytes) {
    const limit = `the limit of ${describeBytes(limits.maxBytes)} (MAX_SOURCE_BYTES)`;
    throw new ImageProblemError(
      "tooLarge",
      soFar
        ? `is over ${limit}: the download stopped after ${describeBytes(bytes)}`
        : `is ${describeBytes(bytes)}, over ${limit}`,
    );
  }
}
