import sharp from "sharp";

/**
 * What the provider is known to read, and what reframe converts for it (docs/source-images.md):
 * Runware's documentation names JPEG, PNG and WebP as image inputs, without saying what it does with
 * 16-bit, CMYK, grey or transparent pixels, or with an EXIF orientation. So the provider is given a
 * JPEG or PNG as it is only when it is 8-bit sRGB without alpha or rotation; everything else sharp
 * decodes is converted in the scratch area first.
 */
export const PROVIDER_FORMATS: ReadonlySet<string> = new Set(["jpeg", "png"]);

/** Formats this build of sharp decodes (sharp.format: JPEG, PNG, WebP, GIF, TIFF, HEIF with AV1). */
export const DECODED_FORMATS: ReadonlySet<string> = new Set([
  "jpeg",
  "png",
  "webp",
  "gif",
  "tiff",
  "avif",
  "heif",
]);

const LABELS: Record<string, string> = {
  jpeg: "JPEG",
  png: "PNG",
  webp: "WebP",
  gif: "GIF",
  tiff: "TIFF",
  avif: "AVIF",
  heif: "HEIF",
  svg: "SVG",
  jxl: "JPEG XL",
  "jxl-stream": "JPEG XL",
  jp2: "JPEG 2000",
  j2c: "JPEG 2000",
};

/** "TIFF", "WebP", "BMP": a format as people write it. */
export function formatLabel(format: string): string {
  return LABELS[format] ?? format.toUpperCase();
}

/**
 * sharp's prebuilt libvips decodes HEIF with AV1 (AVIF) only: HEVC (HEIC, iPhone photos) needs
 * libde265, which a custom libvips may bring; sharp lists it in `versions` then.
 */
export function hevcDecoding(): boolean {
  return "de265" in sharp.versions || "libde265" in sharp.versions;
}
