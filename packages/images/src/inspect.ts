import { TIFF } from "image-size/types/tiff";
import sharp from "sharp";
import { type ImageHeader, probeImageHeader } from "./image-header.ts";
import { ImageProblemError } from "./image-problem.ts";
import { DECODED_FORMATS, formatLabel, hevcDecoding, PROVIDER_FORMATS } from "./source-formats.ts";
import { checkBytes, checkPixels, type SourceLimits } from "./source-limits.ts";

/** A part of a file: S3 and HTTP answer a Range request with it and the whole size. */
export interface ByteRange {
  bytes: Uint8Array;
  /** The whole file's size, when the answer says it (Content-Range, Content-Length). */
  totalBytes: number | undefined;
}

/** Reads bytes [start, end] (inclusive; fewer at the end of the file) of one source. */
export type ReadRange = (start: number, end: number) => Promise<ByteRange>;

/** What the header says about a source, before its body is downloaded. */
export interface ImageInspection {
  format: string;
  /** As displayed (EXIF orientation applied where the header carries it). */
  width: number;
  height: number;
  orientation: number;
  totalBytes: number | undefined;
  /**
   * Why the provider cannot be given the file as it is (empty: it can): the format, a depth, a
   * colour space, alpha, an orientation. The worker then writes a converted copy to the scratch area.
   */
  conversions: string[];
}

/** One ranged GET covers the header of nearly every JPEG, PNG, WebP, GIF and AVIF. */
const FIRST_READ = 65_536;
/** A header that needs more than this (a JPEG's EXIF, XMP and ICC segments, a HEIF meta box) is refused. */
const HEADER_CAP = 16 * 1024 * 1024;
const TAIL_READ = 65_536;

/**
 * Reads what a source is from as few bytes as will do: the first 64 KiB; more when the header goes on
 * past them (a JPEG with a large EXIF thumbnail, a TIFF whose directory sits at the end of the file);
 * and, for a file the provider will be given as it is, its last bytes, to know it is whole. Checks
 * the limits on the way. Throws ImageProblemError; a failed read (network, S3) is thrown as it is.
 */
export async function inspectImage(read: ReadRange, limits: SourceLimits): Promise<ImageInspection> {
  const first = await read(0, FIRST_READ - 1);
  const totalBytes = first.totalBytes ?? (first.bytes.length < FIRST_READ ? first.bytes.length : undefined);
  if (totalBytes !== undefined) checkBytes(totalBytes, limits);
  const { header, metadata, bytes } = await readHeader(read, first.bytes, totalBytes);
  if (header.format === "svg") {
    throw new ImageProblemError(
      "unsupported",
      "is an SVG image: refused, since rendering an SVG can fetch the fonts, images and URLs it references",
    );
  }
  if (!DECODED_FORMATS.has(header.format)) {
    throw new ImageProblemError(
      "unsupported",
      `is a ${formatLabel(header.format)} image, which reframe does not read (it reads ${[...DECODED_FORMATS].map(formatLabel).join(", ")})`,
    );
  }
  if (header.format === "heif" && metadata?.compression === "hevc" && !hevcDecoding()) {
    throw new ImageProblemError(
      "unsupported",
      "is a HEIC image (HEVC-coded HEIF), which this build of sharp does not decode (it reads AVIF)",
    );
  }
  const size = metadata?.autoOrient ?? header;
  checkPixels(size.width, size.height, limits);
  const conversions = conversionsOf(header, metadata);
  if (conversions.length === 0 && totalBytes !== undefined) {
    await checkWhole(header.format, totalBytes > bytes.length ? await readTail(read, totalBytes) : bytes);
  }
  return {
    format: header.format,
    width: size.width,
    height: size.height,
    orientation: metadata?.orientation ?? header.orientation,
    totalBytes,
    conversions,
  };
}

interface HeaderRead {
  header: ImageHeader;
  /** sharp's reading of the same bytes, for the formats whose pixels it must describe. */
  metadata: sharp.Metadata | undefined;
  bytes: Uint8Array;
}

/** sharp reads these headers from a part of the file; WebP, GIF and TIFF are converted whatever they hold. */
const DESCRIBED_BY_SHARP = new Set(["jpeg", "png", "heif", "avif"]);

async function readHeader(
  read: ReadRange,
  firstBytes: Uint8Array,
  totalBytes: number | undefined,
): Promise<HeaderRead> {
  let bytes = firstBytes;
  // Without a total size (a URL that gave none), a read that came back short ended the file.
  let ended = firstBytes.length < FIRST_READ;
  for (;;) {
    const more = totalBytes === undefined ? !ended : bytes.length < totalBytes;
    const probe = probeImageHeader(bytes);
    if (probe.ok && !DESCRIBED_BY_SHARP.has(probe.header.format))
      return { header: probe.header, metadata: undefined, bytes };
    if (probe.ok) {
      const metadata = await sharp(bytes, { limitInputPixels: false })
        .metadata()
        .catch(() => undefined);
      if (metadata?.width && metadata.height) return { header: probe.header, metadata, bytes };
      if (!more || bytes.length >= HEADER_CAP) {
        throw new ImageProblemError(
          "unreadable",
          `is a ${formatLabel(probe.header.format)} image whose header cannot be read${more ? ` in its first ${HEADER_CAP} bytes` : ""}`,
        );
      }
    } else if (!probe.recognized || !more || bytes.length >= HEADER_CAP) {
      throw new ImageProblemError(
        "unreadable",
        more && probe.recognized ? `${probe.message} in its first ${HEADER_CAP} bytes` : probe.message,
      );
    } else if (TIFF.validate(bytes)) {
      const directory = await readTiffDirectory(read, bytes);
      if (directory) return { header: directory, metadata: undefined, bytes };
    }
    const end = Math.min(bytes.length * 8, HEADER_CAP);
    const next = await read(bytes.length, end - 1);
    ended = bytes.length + next.bytes.length < end;
    if (next.bytes.length === 0) throw new ImageProblemError("unreadable", "ends inside its header");
    bytes = concat(bytes, next.bytes);
  }
}

/**
 * A TIFF's first image directory may sit anywhere, often after the pixels at the end of the file:
 * its offset is in the header, so one more ranged GET reads it, and image-size is shown the header
 * and that directory side by side (the directory moved to offset 8; the size tags hold their values
 * inline, so nothing else needs moving).
 */
async function readTiffDirectory(read: ReadRange, bytes: Uint8Array): Promise<ImageHeader | undefined> {
  if (bytes.length < 8) return undefined;
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  const little = bytes[0] === 0x49;
  if (view.getUint16(2, little) !== 42) return undefined; // BigTIFF: left to reading more
  const offset = view.getUint32(4, little);
  if (offset + 2 <= bytes.length) return undefined;
  const directory = (await read(offset, offset + FIRST_READ - 1)).bytes;
  const joined = concat(bytes.subarray(0, 8), directory);
  new DataView(joined.buffer, joined.byteOffset, joined.byteLength).setUint32(4, 8, little);
  const probe = probeImageHeader(joined);
  return probe.ok ? probe.header : undefined;
}

/** What keeps the provider from reading the file as it is; sharp describes JPEG and PNG pixels. */
function conversionsOf(header: ImageHeader, metadata: sharp.Metadata | undefined): string[] {
  if (!PROVIDER_FORMATS.has(header.format) || !metadata) return [formatLabel(header.format)];
  const reasons: string[] = [];
  if (metadata.depth && metadata.depth !== "uchar")
    reasons.push(metadata.depth === "ushort" ? "16-bit" : metadata.depth);
  if (metadata.space === "cmyk") reasons.push("CMYK");
  else if (metadata.space === "b-w" || metadata.space === "grey16") reasons.push("grey");
  else if (metadata.space && metadata.space !== "srgb" && metadata.space !== "rgb16")
    reasons.push(metadata.space);
  if (metadata.hasAlpha) reasons.push("alpha");
  if ((metadata.orientation ?? 1) !== 1) reasons.push(`EXIF orientation ${metadata.orientation}`);
  return reasons;
}

async function readTail(read: ReadRange, totalBytes: number): Promise<Uint8Array> {
  return (await read(Math.max(0, totalBytes - TAIL_READ), totalBytes - 1)).bytes;
}

/**
 * A file the provider reads as it is must be whole: what a provider does with a truncated JPEG is
 * not documented (libjpeg fills the missing rows with grey, Pillow refuses the file), so it is
 * refused before the call. A JPEG ends with its end-of-image marker (FF D9, which entropy-coded data
 * never holds: an FF there is followed by 00), a PNG with its IEND chunk; anything after them
 * (a phone's trailer, a motion photo's video) is allowed, so the marker is looked for in the last
 * 64 KiB rather than at the very end.
 */
async function checkWhole(format: string, tail: Uint8Array): Promise<void> {
  const whole =
    format === "jpeg"
      ? Buffer.from(tail.buffer, tail.byteOffset, tail.byteLength).includes(JPEG_END)
      : format === "png"
        ? Buffer.from(tail.buffer, tail.byteOffset, tail.byteLength).includes(PNG_END)
        : true;
  if (!whole) {
    throw new ImageProblemError(
      "unreadable",
      `is truncated: a ${formatLabel(format)} without its ${format === "jpeg" ? "end-of-image marker" : "IEND chunk"}`,
    );
  }
}

const JPEG_END = Buffer.from([0xff, 0xd9]);
const PNG_END = Buffer.from("IEND", "latin1");

function concat(a: Uint8Array, b: Uint8Array): Uint8Array {
  const joined = new Uint8Array(a.length + b.length);
  joined.set(a, 0);
  joined.set(b, a.length);
  return joined;
}
