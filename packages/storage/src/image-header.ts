export type ImageFormat = "jpeg" | "png" | "webp";

export interface ImageHeader {
  width: number;
  height: number;
  format: ImageFormat;
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
 * past a few KiB). EXIF orientation is not applied: these are the dimensions as stored.
 */
export function parseImageHeader(bytes: Uint8Array): ImageHeader {
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  if (bytes.length >= 24 && view.getUint32(0) === 0x89504e47 && view.getUint32(4) === 0x0d0a1a0a) {
    return { format: "png", width: view.getUint32(16), height: view.getUint32(20) };
  }
  if (bytes.length >= 4 && bytes[0] === 0xff && bytes[1] === 0xd8) return parseJpeg(view);
  if (bytes.length >= 30 && ascii(bytes, 0, 4) === "RIFF" && ascii(bytes, 8, 4) === "WEBP")
    return parseWebp(bytes, view);
  throw new ImageHeaderError("not a JPEG, PNG or WebP image");
}

function parseJpeg(view: DataView): ImageHeader {
  let offset = 2;
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
      return { format: "jpeg", height: view.getUint16(offset + 5), width: view.getUint16(offset + 7) };
    }
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
    };
  }
  if (chunk === "VP8L") {
    const bits = view.getUint32(21, true);
    return { format: "webp", width: 1 + (bits & 0x3fff), height: 1 + ((bits >> 14) & 0x3fff) };
  }
  if (chunk === "VP8 ") {
    return {
      format: "webp",
      width: view.getUint16(26, true) & 0x3fff,
      height: view.getUint16(28, true) & 0x3fff,
    };
  }
  throw new ImageHeaderError(`WebP with an unknown chunk ${JSON.stringify(chunk)}`);
}

function ascii(bytes: Uint8Array, start: number, length: number): string {
  return String.fromCharCode(...bytes.subarray(start, start + length));
}
