import { OUTPUT_FORMAT_FILES, type OutputContentType, type OutputFormat } from "@reframe/runware";
import sharp from "sharp";

/**
 * A valid image of the requested size and format, one flat colour, without outpainting: what the
 * emulator uploads in throughput mode (EMULATOR_MODE=throughput), so that a benchmark measures
 * reframe and not the CPU engine. Encoded once per format and size; later calls are a map lookup.
 */

/** Distinct sizes kept: a benchmark uses a handful; an unusual run must not grow without bound. */
const CACHE_LIMIT = 64;
const cache = new Map<string, Promise<{ bytes: Buffer; contentType: OutputContentType }>>();

export function blankImage(
  format: OutputFormat,
  width: number,
  height: number,
): Promise<{ bytes: Buffer; contentType: OutputContentType }> {
  const key = `${format}:${width}x${height}`;
  let image = cache.get(key);
  if (!image) {
    if (cache.size >= CACHE_LIMIT) cache.delete(cache.keys().next().value!);
    image = encodeBlank(format, width, height);
    cache.set(key, image);
    image.catch(() => cache.delete(key));
  }
  return image;
}

async function encodeBlank(format: OutputFormat, width: number, height: number) {
  const pipeline = sharp({ create: { width, height, channels: 3, background: { r: 128, g: 128, b: 128 } } });
  if (format === "JPG") pipeline.jpeg({ quality: 50 });
  else if (format === "PNG") pipeline.png({ compressionLevel: 9 });
  else pipeline.webp({ quality: 50 });
  return { bytes: await pipeline.toBuffer(), contentType: OUTPUT_FORMAT_FILES[format].contentType };
}
