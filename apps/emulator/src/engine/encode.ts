import { OUTPUT_FORMAT_FILES, type OutputContentType, type OutputFormat } from "@reframe/runware";
import sharp from "sharp";
import { type RawImage, rawInput } from "./raw-image.ts";

export type EncodeOptions = {
  format: OutputFormat;
  /** outputQuality 20–99: JPG and WEBP quality. PNG is lossless and ignores it (fixed zlib level 6). */
  quality: number;
  /** false drops the alpha channel from PNG/WEBP (an opaque source needs none); default true. */
  alpha?: boolean;
};

export async function encodeOutput(
  image: RawImage,
  { format, quality, alpha = true }: EncodeOptions,
): Promise<{ bytes: Buffer; contentType: OutputContentType }> {
  if (!Number.isInteger(quality) || quality < 20 || quality > 99) {
    throw new RangeError(`outputQuality must be an integer from 20 to 99, got ${quality}`);
  }
  const pipeline = sharp(image.data, rawInput(image));
  if (!alpha && format !== "JPG") pipeline.removeAlpha();
  switch (format) {
    case "JPG":
      // JPEG has no alpha: composite transparent pixels onto white, as Runware's docs imply.
      pipeline.flatten({ background: "#ffffff" }).jpeg({ quality });
      break;
    case "PNG":
      pipeline.png({ compressionLevel: 6 });
      break;
    case "WEBP":
      pipeline.webp({ quality, alphaQuality: 100 });
      break;
    default: {
      const unknown: never = format;
      throw new RangeError(`outputFormat must be JPG, PNG or WEBP, got ${String(unknown)}`);
    }
  }
  return { bytes: await pipeline.toBuffer(), contentType: OUTPUT_FORMAT_FILES[format].contentType };
}
