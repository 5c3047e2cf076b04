export type ImageFormat = "jpeg" | "png" | "webp";

export interface ImageHeader {
  /** As displayed: a JPEG's EXIF orientation 5–8 swaps the stored width and height. */
  width: number;
  height: number;
  format: ImageFormat;
  /** EXIF orientation 1–8 (1 when absent). */
  orientation: number;
}

/** The bytes are not a JPEG, PNG or WebP header (or too few of them were read). */
export class ImageHeaderError extends Error {
  readonly code = "unreadable-header";
  constructor(message: string) {
    super(message);
    this.name = "ImageHeaderError";
  }
}

/**
 * Reads an image's stored dimensions from its first bytes: PNG's IHDR, JPEG's SOFn marker, WebP's
 * VP8/VP8L/VP8X chunk. The first 64 KiB are enough for all three (a JPEG's EXIF block may push SOF
 * past a few KiB). A JPEG's EXIF orientation is applied, as image decoders (and the provider) do:
 * a phone photo stored 4032×3024 with orientation 6 is 3024×4032 to everyone who opens it.
 */
export function parseImageHeader(bytes: Uint8Array): ImageHeader {
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  if (bytes.length >= 24 && view.getUint32(0) === 0x89504e47 && view.getUint32(4) === 0x0d0a1a0a) {
    return { format: "png", width: view.getUint32(16), height: view.getUint32(20), orientation: 1 };
  }
  if (bytes.length >= 4 && bytes[0] === 0xff && bytes[1] === 0xd8) return parseJpeg(view);
  if (bytes.length >= 30 && ascii(bytes, 0, 4) === "RIFF" && ascii(bytes, 8, 4) === "WEBP")
    return parseWebp(bytes, view);
  throw new ImageHeaderError("not a JPEG, PNG or WebP image");
}

function parseJpeg(view: DataView): ImageHeader {
  let offset = 2;
  let orientation = 1;
  while (offset + 9 < view.byteLength) {
    if (view.getUint8(offset) !== 0xff) {
      offset += 1;
      continue;
    }
    const marker = view.getUint8(offset + 1);
    if (marker === 0xff) {
      offset += 1;
      continue;
    }
    // SOF0–SOF15 except DHT (C4), JPG (C8) and DAC (CC) carry the frame size.
    if (marker >= 0xc0 && marker <= 0xcf && marker !== 0xc4 && marker !== 0xc8 && marker !== 0xcc) {
      const height = view.getUint16(offset + 5);
      const width = view.getUint16(offset + 7);
      const swapped = orientation >= 5 && orientation <= 8;
      return {
        format: "jpeg",
        width: swapped ? height : width,
        height: swapped ? width : height,
        orientation,
      };
    }
    if (marker === 0xe1)
      orientation = exifOrientation(view, offset + 4, view.getUint16(offset + 2) - 2) ?? orientation;
    if (marker === 0xd8 || (marker >= 0xd0 && marker <= 0xd7) || marker === 0x01) {
      offset += 2;
      continue;
    }
    offset += 2 + view.getUint16(offset + 2);
  }
  throw new ImageHeaderError("JPEG without a frame header in the bytes read");
}

function parseWebp(bytes: Uint8Array, view: DataView): ImageHeader {
  const chunk = ascii(bytes, 12, 4);
  if (chunk === "VP8X") {
    return {
      format: "webp",
      width: 1 + (view.getUint32(24, true) & 0xffffff),
      height: 1 + (view.getUint32(27, true) & 0xffffff),
      orientation: 1,
    };
  }
  if (chunk === "VP8L") {
    const bits = view.getUint32(21, true);
    return {
      format: "webp",
      width: 1 + (bits & 0x3fff),
      height: 1 + ((bits >> 14) & 0x3fff),
      orientation: 1,
    };
  }
  if (chunk === "VP8 ") {
    return {
      format: "webp",
      width: view.getUint16(26, true) & 0x3fff,
      height: view.getUint16(28, true) & 0x3fff,
      orientation: 1,
    };
  }
  throw new ImageHeaderError(`WebP with an unknown chunk ${JSON.stringify(chunk)}`);
}

function ascii(bytes: Uint8Array, start: number, length: number): string {
  return String.fromCharCode(...bytes.subarray(start, start + length));
}

/** The Orientation tag (0x0112) of IFD0 in an APP1 "Exif\0\0" segment, or undefined. */
function exifOrientation(view: DataView, start: number, length: number): number | undefined {
  const end = Math.min(view.byteLength, start + length);
  if (end - start < 14 || view.getUint32(start) !== 0x45786966 || view.getUint16(start + 4) !== 0)
    return undefined;
  const tiff = start + 6;
  const little = view.getUint16(tiff) === 0x4949;
  const ifd = tiff + view.getUint32(tiff + 4, little);
  if (ifd + 2 > end) return undefined;
  const entries = view.getUint16(ifd, little);
  for (let i = 0; i < entries; i += 1) {
    const entry = ifd + 2 + i * 12;
    if (entry + 12 > end) return undefined;
    if (view.getUint16(entry, little) === 0x0112) {
      const value = view.getUint16(entry + 8, little);
      return value >= 1 && value <= 8 ? value : undefined;
    }
  }
  return undefined;
}
