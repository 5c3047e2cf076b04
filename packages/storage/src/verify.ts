import { GetObjectCommand, type GetObjectCommandOutput, type S3Client } from "@aws-sdk/client-s3";
import { type ByteRange, type ImageHeader, readImageHeader } from "@reframe/images";
import { asS3Unreachable } from "./s3-outage.ts";

const HEADER_BYTES = 65_536;

/** An object's format and displayed size from the first 64 KiB (one ranged GET). */
export async function readImageDimensions(input: {
  client: S3Client;
  bucket: string;
  key: string;
}): Promise<ImageHeader> {
  const { bytes } = await readObjectRange(input, 0, HEADER_BYTES - 1);
  return readImageHeader(bytes);
}

/**
 * Bytes [start, end] of an object and its whole size (from Content-Range). A range past the end of
 * the object (S3 answers 416, an empty object included) is an empty answer, with the size when known.
 */
export async function readObjectRange(
  input: { client: S3Client; bucket: string; key: string },
  start: number,
  end: number,
): Promise<ByteRange> {
  let object: GetObjectCommandOutput;
  try {
    object = await input.client.send(
      new GetObjectCommand({ Bucket: input.bucket, Key: input.key, Range: `bytes=${start}-${end}` }),
    );
  } catch (error) {
    if (isUnsatisfiableRange(error)) {
      const total = fullSize(
        (error as { $response?: { headers?: Record<string, string> } }).$response?.headers?.["content-range"],
      );
      return { bytes: new Uint8Array(), totalBytes: total ?? (start === 0 ? 0 : undefined) };
    }
    throw error;
  }
  const bytes = await bodyBytes(object, input.bucket);
  return {
    bytes: bytes.subarray(0, end - start + 1),
    totalBytes: fullSize(object.ContentRange) ?? object.ContentLength,
  };
}

async function bodyBytes(object: GetObjectCommandOutput, bucket: string): Promise<Uint8Array> {
  try {
    return (await object.Body?.transformToByteArray()) ?? new Uint8Array();
  } catch (error) {
    throw asS3Unreachable(bucket, error);
  }
}

function isUnsatisfiableRange(error: unknown): boolean {
  const status = (error as { $metadata?: { httpStatusCode?: number } }).$metadata?.httpStatusCode;
  return status === 416 || (error as { name?: string }).name === "InvalidRange";
}

export type OutputVerification =
  | { ok: true; size: number; contentType: string; width: number; height: number; etag: string | undefined }
  | { ok: false; reason: "missing" | "empty" | "wrong-type" | "wrong-size"; detail: string };

/**
 * Checks what the provider says it uploaded: the object exists, is not empty, has the expected type,
 * and its stored width and height are the planned ones. One ranged GET of the header answers all of
 * it (its Content-Range carries the object's full size), so a finalize costs one S3 request, not a
 * HEAD and a GET.
 */
export async function verifyOutputObject(input: {
  client: S3Client;
  bucket: string;
  key: string;
  expected: { contentType?: string; width?: number; height?: number };
}): Promise<OutputVerification> {
  const where = `s3://${input.bucket}/${input.key}`;
  let object: GetObjectCommandOutput;
  try {
    object = await input.client.send(
      new GetObjectCommand({ Bucket: input.bucket, Key: input.key, Range: `bytes=0-${HEADER_BYTES - 1}` }),
    );
  } catch (error) {
    const status = (error as { $metadata?: { httpStatusCode?: number } }).$metadata?.httpStatusCode;
    const name = (error as { name?: string }).name;
    if (status === 404 || name === "NoSuchKey" || name === "NotFound") {
      return { ok: false, reason: "missing", detail: `${where} does not exist` };
    }
    // S3 answers a range on a zero-length object with 416: there is no first byte to return.
    if (isUnsatisfiableRange(error)) return { ok: false, reason: "empty", detail: `${where} is empty` };
    throw error;
  }
  const bytes = await bodyBytes(object, input.bucket);
  const size = fullSize(object.ContentRange) ?? object.ContentLength ?? bytes.length;
  if (size === 0) return { ok: false, reason: "empty", detail: `${where} is empty` };
  let header: ImageHeader;
  try {
    header = readImageHeader(bytes.subarray(0, HEADER_BYTES));
  } catch (error) {
    return { ok: false, reason: "wrong-type", detail: `not an image: ${(error as Error).message}` };
  }
  const contentType = object.ContentType ?? `image/${header.format}`;
  const { expected } = input;
  if (
    expected.contentType &&
    contentType !== expected.contentType &&
    `image/${header.format}` !== expected.contentType
  ) {
    return {
      ok: false,
      reason: "wrong-type",
      detail: `content type ${contentType}, expected ${expected.contentType}`,
    };
  }
  if (
    (expected.width !== undefined && header.width !== expected.width) ||
    (expected.height !== undefined && header.height !== expected.height)
  ) {
    return {
      ok: false,
      reason: "wrong-size",
      detail: `${header.width}×${header.height}, expected ${expected.width}×${expected.height}`,
    };
  }
  return { ok: true, size, contentType, width: header.width, height: header.height, etag: object.ETag };
}

/** "bytes 0-65535/1048576" → 1048576 (undefined when absent or "*"). */
function fullSize(contentRange: string | undefined): number | undefined {
  const total = contentRange?.match(/\/(\d+)$/)?.[1];
  return total === undefined ? undefined : Number(total);
}
