import { connectionProblem } from "@reframe/reachability";
import sharp from "sharp";
import { EngineInputError } from "./errors.ts";
import type { RawImage } from "./raw-image.ts";

/** `hasAlpha` says whether the encoded input carried an alpha channel (the raw data always has 4). */
export type DecodedImage = RawImage & { hasAlpha: boolean };

/** Looks up the bytes of an image the server stored by imageUUID; undefined when unknown. */
export type ResolveImageUUID = (imageUUID: string) => Promise<Buffer | undefined> | Buffer | undefined;

export type DecodeOptions = {
  fetchTimeoutMs: number;
  /** Cap on the encoded bytes, enforced while streaming a URL and before decoding base64. */
  maxBytes: number;
  resolveUUID?: ResolveImageUUID;
  /** Request field named in errors; default "inputs.image". */
  field?: string;
  /** Decoded pixel cap (decompression-bomb guard); default 64 MP, 16× the 4 MP output cap. */
  maxPixels?: number;
  /** sharp's names of the formats accepted; default JPEG, PNG and WebP (what the provider documents). */
  formats?: ReadonlySet<string>;
};

const DEFAULT_MAX_PIXELS = 64 * 1024 * 1024;
const DOCUMENTED_FORMATS: ReadonlySet<string> = new Set(["jpeg", "png", "webp"]);
const UUID_PATTERN = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i;
const BASE64_PATTERN = /^[A-Za-z0-9+/_-]+={0,2}$/;

/** Accepts an http(s) URL, a data URI, plain base64 or an imageUUID, as `inputs.image` does. */
export async function decodeInputImage(input: string, options: DecodeOptions): Promise<DecodedImage> {
  const bytes = await readInputBytes(input, options);
  return decodeImageBytes(bytes, options);
}

export async function readInputBytes(input: string, options: DecodeOptions): Promise<Buffer> {
  const field = options.field ?? "inputs.image";
  const value = input.trim();
  if (/^https?:\/\//i.test(value)) return fetchWithCap(value, options, field);
  if (/^data:/i.test(value)) return capped(parseDataUri(value, field), options.maxBytes, field);
  if (UUID_PATTERN.test(value)) return resolveByUUID(value, options, field);
  const compact = value.replace(/\s+/g, "");
  if (compact.length === 0 || !BASE64_PATTERN.test(compact)) {
    throw new EngineInputError("invalidImage", field, "must be an http(s) URL, a data URI, base64 or a UUID");
  }
  if (Math.floor((compact.length * 3) / 4) > options.maxBytes + 2) {
    throw new EngineInputError("inputTooLarge", field, `image is larger than ${options.maxBytes} bytes`);
  }
  return Buffer.from(compact, "base64");
}

/** Rotates by EXIF orientation and returns 8-bit sRGB RGBA whatever the input colourspace. */
export async function decodeImageBytes(
  bytes: Buffer,
  options: Pick<DecodeOptions, "field" | "maxPixels" | "formats">,
): Promise<DecodedImage> {
  const field = options.field ?? "inputs.image";
  const limitInputPixels = options.maxPixels ?? DEFAULT_MAX_PIXELS;
  try {
    const meta = await sharp(bytes, { limitInputPixels }).metadata();
    const formats = options.formats ?? DOCUMENTED_FORMATS;
    if (!meta.format || !formats.has(meta.format)) {
      throw new EngineInputError(
        "invalidImage",
        field,
        `format ${meta.format ?? "unknown"} is not one of ${[...formats].join(", ")}`,
      );
    }
    const { data, info } = await sharp(bytes, { limitInputPixels })
      .rotate()
      .toColourspace("srgb")
      .ensureAlpha()
      .raw({ depth: "uchar" })
      .toBuffer({ resolveWithObject: true });
    return { data, width: info.width, height: info.height, hasAlpha: meta.hasAlpha === true };
  } catch (error) {
    if (error instanceof EngineInputError) throw error;
    const reason = error instanceof Error ? error.message : String(error);
    throw new EngineInputError("invalidImage", field, `cannot be decoded as an image (${reason})`, {
      cause: error,
    });
  }
}

function parseDataUri(value: string, field: string): Buffer {
  const comma = value.indexOf(",");
  if (comma < 0) throw new EngineInputError("invalidImage", field, "data URI has no ',' before its payload");
  const meta = value.slice(5, comma);
  const payload = value.slice(comma + 1);
  if (/;base64$/i.test(meta)) return Buffer.from(payload.replace(/\s+/g, ""), "base64");
  try {
    return Buffer.from(decodeURIComponent(payload), "latin1");
  } catch (error) {
    throw new EngineInputError("invalidImage", field, "data URI payload is not valid percent-encoding", {
      cause: error,
    });
  }
}

function capped(bytes: Buffer, maxBytes: number, field: string): Buffer {
  if (bytes.length > maxBytes) {
    throw new EngineInputError("inputTooLarge", field, `image is larger than ${maxBytes} bytes`);
  }
  return bytes;
}

async function resolveByUUID(imageUUID: string, options: DecodeOptions, field: string): Promise<Buffer> {
  const bytes = options.resolveUUID ? await options.resolveUUID(imageUUID) : undefined;
  if (!bytes) throw new EngineInputError("imageNotFound", field, `no stored image has UUID ${imageUUID}`);
  return capped(bytes, options.maxBytes, field);
}

/** Errors name the URL without its query: presigned URLs carry credentials there. */
function describeUrl(url: string): string {
  try {
    const parsed = new URL(url);
    return `${parsed.origin}${parsed.pathname}`;
  } catch {
    return "the URL";
  }
}

async function fetchWithCap(url: string, options: DecodeOptions, field: string): Promise<Buffer> {
  const where = describeUrl(url);
  const stop = new AbortController();
  const signal = AbortSignal.any([stop.signal, AbortSignal.timeout(options.fetchTimeoutMs)]);
  const failed = (cause: unknown): EngineInputError => {
    const timedOut = signal.reason instanceof DOMException && signal.reason.name === "TimeoutError";
    const reason = timedOut
      ? `timed out after ${options.fetchTimeoutMs} ms`
      : (connectionProblem(cause) ?? describeCause(cause));
    return new EngineInputError("downloadFailed", field, `download of ${where} failed: ${reason}`, { cause });
  };
  let response: Response;
  try {
    response = await fetch(url, { signal, redirect: "follow" });
  } catch (error) {
    throw failed(error);
  }
  if (!response.ok || !response.body) {
    stop.abort();
    throw new EngineInputError(
      "downloadFailed",
      field,
      `download of ${where} answered HTTP ${response.status}`,
    );
  }
  const tooLarge = () =>
    new EngineInputError("inputTooLarge", field, `${where} is larger than ${options.maxBytes} bytes`);
  if (Number(response.headers.get("content-length") ?? 0) > options.maxBytes) {
    stop.abort();
    throw tooLarge();
  }
  const chunks: Uint8Array[] = [];
  let total = 0;
  try {
    for await (const chunk of response.body) {
      total += chunk.byteLength;
      if (total > options.maxBytes) {
        stop.abort();
        throw tooLarge();
      }
      chunks.push(chunk);
    }
  } catch (error) {
    throw error instanceof EngineInputError ? error : failed(error);
  }
  return Buffer.concat(chunks);
}

function describeCause(cause: unknown): string {
  if (!(cause instanceof Error)) return String(cause);
  const inner = cause.cause instanceof Error ? `: ${cause.cause.message}` : "";
  return `${cause.message}${inner}`;
}
