/**
 * Why an image cannot become a provider input; the caller turns the code into its job's terminal
 * reason (packages/sources, source-problems.ts). Messages are predicates of the file ("is empty
 * (0 bytes)", "is a BMP image, which …"), so a caller can put the file's name before them.
 * - tooLarge: over a limit (pixels, bytes), known from the header or while the bytes arrive;
 * - unsupported: an image, but of a format reframe does not decode or will not open (SVG);
 * - unreadable: not an image, empty, truncated, or corrupt.
 */
export const IMAGE_PROBLEMS = ["tooLarge", "unsupported", "unreadable"] as const;
export type ImageProblemCode = (typeof IMAGE_PROBLEMS)[number];

export class ImageProblemError extends Error {
  readonly code: ImageProblemCode;
  constructor(code: ImageProblemCode, message: string, options?: { cause?: unknown }) {
    super(message, options);
    this.name = "ImageProblemError";
    this.code = code;
  }
}

/** "1600 MP", "24 MP", "0.3 MP" */
export function describeMegapixels(pixels: number): string {
  return `${roundMega(pixels)} MP`;
}

/** "4.7 MB", "12 kB", "512 bytes" (decimal units, as S3 consoles show sizes). */
export function describeBytes(bytes: number): string {
  if (bytes < 10_000) return `${bytes} bytes`;
  return bytes < 1_000_000 ? `${Math.round(bytes / 1000)} kB` : `${roundMega(bytes)} MB`;
}

function roundMega(value: number): number {
  const mega = value / 1_000_000;
  return mega >= 100 ? Math.round(mega) : Math.round(mega * 10) / 10;
}
