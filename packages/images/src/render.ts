import sharp from "sharp";
import { ImageProblemError } from "./image-problem.ts";
import { DECODED_FORMATS, formatLabel } from "./source-formats.ts";
import { checkPixels, type SourceLimits } from "./source-limits.ts";

export interface Size {
  width: number;
  height: number;
}

/** A source file as sharp decodes it. */
export interface ImageFile {
  format: string;
  /** As displayed (EXIF, TIFF or HEIF orientation applied). */
  width: number;
  height: number;
  /** More than one frame or page (an animated GIF or WebP): the first one is used. */
  animated: boolean;
  hasAlpha: boolean;
}

/** Reads a whole source file's description (the decoder's own, not the header reader's). */
export async function describeImageFile(path: string, limits: SourceLimits): Promise<ImageFile> {
  let metadata: sharp.Metadata;
  try {
    metadata = await sharp(path, { limitInputPixels: false }).metadata();
  } catch (error) {
    throw asImageProblem(error);
  }
  const format = metadata.format ?? "unknown";
  if (!DECODED_FORMATS.has(format))
    throw new ImageProblemError(
      "unsupported",
      `is a ${formatLabel(format)} image, which reframe does not read`,
    );
  const { width, height } = metadata.autoOrient ?? metadata;
  checkPixels(width, height, limits);
  return { format, width, height, animated: (metadata.pages ?? 1) > 1, hasAlpha: metadata.hasAlpha === true };
}

/** How a rendered image is written: sharp's format name (the extension) and a quality for lossy ones. */
export interface Encoding {
  format: "jpg" | "png" | "webp";
  /** 1–100, for JPEG and WebP. */
  quality: number;
  /** Lay transparency on white (JPEG has none; the provider is not given any). */
  flatten: boolean;
}

export interface RenderedImage {
  file: string;
  width: number;
  height: number;
  bytes: number;
}

/**
 * What the provider is given instead of the original: an 8-bit sRGB JPEG (quality 95, no chroma
 * subsampling) for a lossy source, a PNG for a lossless one, so the conversion adds no loss the
 * source did not already have; transparency laid on white, because what the provider's model does
 * with alpha is not documented (transparent pixels hold arbitrary colours it could extend).
 */
export function providerInputEncoding(described: ImageFile): Encoding & { contentType: string } {
  return LOSSLESS.has(described.format)
    ? { format: "png", quality: 100, flatten: true, contentType: "image/png" }
    : { format: "jpg", quality: 95, flatten: true, contentType: "image/jpeg" };
}

/**
 * Decodes the source file (its first frame), applies its orientation, converts it to 8-bit sRGB,
 * scales it to `size` (Lanczos, down or up) and writes `file`. libvips decodes a JPEG at 1/2, 1/4 or
 * 1/8 scale when the target is that much smaller (shrink-on-load), reads the file itself (no copy in
 * the JavaScript heap), and the pixel limit bounds every decode.
 */
export async function renderImage(input: {
  source: string;
  described: ImageFile;
  size: Size;
  file: string;
  encoding: Encoding;
  limits: SourceLimits;
}): Promise<RenderedImage> {
  const { encoding } = input;
  let pipeline = sharp(input.source, {
    failOn: "error",
    limitInputPixels: input.limits.maxPixels,
  }).autoOrient();
  if (input.described.hasAlpha && (encoding.flatten || encoding.format === "jpg"))
    pipeline = pipeline.flatten({ background: "#ffffff" });
  pipeline = pipeline
    .resize(input.size.width, input.size.height, { fit: "fill", kernel: "lanczos3" })
    .toColourspace("srgb");
  if (encoding.format === "png") pipeline = pipeline.png({ compressionLevel: 4 });
  else if (encoding.format === "webp") pipeline = pipeline.webp({ quality: encoding.quality });
  // Without Huffman optimisation: libjpeg's optimised tables need the whole image's coefficients in
  // memory (27 MiB for a 2047×1365 copy, measured) and a second pass, to save 8% of a copy that the
  // provider reads once.
  else
    pipeline = pipeline.jpeg({
      quality: encoding.quality,
      chromaSubsampling: "4:4:4",
      optimiseCoding: false,
    });
  try {
    const info = await pipeline.toFile(input.file);
    return { file: input.file, width: info.width, height: info.height, bytes: info.size };
  } catch (error) {
    throw asImageProblem(error);
  }
}

const LOSSLESS = new Set(["png", "tiff", "gif"]);

/**
 * sharp's errors about the image become ImageProblemErrors; anything else (out of memory, a full
 * disk, a missing file) is thrown as it is, for the caller's retries.
 */
export function asImageProblem(error: unknown): unknown {
  if (error instanceof ImageProblemError || !(error instanceof Error)) return error;
  const message = error.message;
  if (/exceeds pixel limit/i.test(message))
    return new ImageProblemError("tooLarge", `is over the pixel limit (MAX_SOURCE_PIXELS): ${message}`, {
      cause: error,
    });
  if (/unsupported image format/i.test(message))
    return new ImageProblemError("unreadable", "is not an image sharp can read", { cause: error });
  if (/memory|ENOSPC|ENOENT|EMFILE|EACCES/i.test(message)) return error;
  return new ImageProblemError("unreadable", `cannot be decoded (${firstLine(message)})`, { cause: error });
}

function firstLine(text: string): string {
  return text.split("\n")[0]!.trim();
}
