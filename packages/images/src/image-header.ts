import { imageSize } from "image-size";
import { ImageProblemError } from "./image-problem.ts";

/** An image's format and size from its first bytes, as anyone opening it sees it. */
export interface ImageHeader {
  /** sharp's names where sharp knows the format (jpeg, png, webp, gif, tiff, heif, avif), else image-size's (bmp, psd, svg, …). */
  format: string;
  /** As displayed: a JPEG's EXIF orientation 5–8 swaps the stored width and height. */
  width: number;
  height: number;
  /** EXIF orientation 1–8 (1 when absent or unknown from the header). */
  orientation: number;
}

/** image-size's names → sharp's; a HEIF by its ftyp brand is "avif" (AV1 for certain) or "heif". */
const FORMAT_NAMES: Record<string, string> = { jpg: "jpeg", bigtiff: "tiff", heic: "heif" };

export type HeaderProbe =
  | { ok: true; header: ImageHeader }
  /** `recognized`: a known format whose size was not in the bytes given (more bytes may help). */
  | { ok: false; recognized: boolean; message: string };

/**
 * Reads the header with `image-size` (a maintained reader of some twenty formats, pure JavaScript,
 * tolerant of a buffer that stops after the header): every format sharp decodes, and the ones it
 * does not, so that a refusal can name what it found.
 */
export function probeImageHeader(bytes: Uint8Array): HeaderProbe {
  if (bytes.length === 0) return { ok: false, recognized: false, message: "is empty (0 bytes)" };
  let size: ReturnType<typeof imageSize>;
  try {
    size = imageSize(bytes);
  } catch (error) {
    const message = (error as Error).message;
    return message.startsWith("unsupported file type: undefined")
      ? { ok: false, recognized: false, message: "is not an image (no image format starts its first bytes)" }
      : { ok: false, recognized: true, message: `has no readable image header (${message})` };
  }
  const type = size.type ?? "unknown";
  const format = FORMAT_NAMES[type] ?? type;
  const orientation =
    size.orientation && size.orientation >= 1 && size.orientation <= 8 ? size.orientation : 1;
  const swapped = orientation >= 5;
  if (!(size.width > 0 && size.height > 0))
    return { ok: false, recognized: true, message: `is a ${format} header without a size` };
  return {
    ok: true,
    header: {
      format,
      width: swapped ? size.height : size.width,
      height: swapped ? size.width : size.height,
      orientation,
    },
  };
}

/** probeImageHeader, throwing ImageProblemError "unreadable" when there is no header to read. */
export function readImageHeader(bytes: Uint8Array): ImageHeader {
  const probe = probeImageHeader(bytes);
  if (!probe.ok) throw new ImageProblemError("unreadable", probe.message);
  return probe.header;
}
