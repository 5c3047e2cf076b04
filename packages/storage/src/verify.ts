import {
  GetObjectCommand,
  HeadObjectCommand,
  type HeadObjectCommandOutput,
  type S3Client,
} from "@aws-sdk/client-s3";
import { type ImageHeader, parseImageHeader } from "./image-header.ts";

const HEADER_BYTES = 65_536;

export async function readImageDimensions(input: {
  client: S3Client;
  bucket: string;
  key: string;
}): Promise<ImageHeader> {
  const object = await input.client.send(
    new GetObjectCommand({ Bucket: input.bucket, Key: input.key, Range: `bytes=0-${HEADER_BYTES - 1}` }),
  );
  const bytes = await object.Body!.transformToByteArray();
  return parseImageHeader(bytes.subarray(0, HEADER_BYTES));
}

export type OutputVerification =
  | { ok: true; size: number; contentType: string; width: number; height: number; etag: string | undefined }
  | { ok: false; reason: "missing" | "empty" | "wrong-type" | "wrong-size"; detail: string };

/**
 * Checks what the provider says it uploaded: the object exists, is not empty, has the expected type,
 * and its stored width and height are the planned ones (a ranged GET of its header).
 */
export async function verifyOutputObject(input: {
  client: S3Client;
  bucket: string;
  key: string;
  expected: { contentType?: string; width?: number; height?: number };
}): Promise<OutputVerification> {
  let head: HeadObjectCommandOutput;
  try {
    head = await input.client.send(new HeadObjectCommand({ Bucket: input.bucket, Key: input.key }));
  } catch (error) {
    const status = (error as { $metadata?: { httpStatusCode?: number } }).$metadata?.httpStatusCode;
    if (status === 404 || (error as { name?: string }).name === "NotFound") {
      return { ok: false, reason: "missing", detail: `s3://${input.bucket}/${input.key} does not exist` };
    }
    throw error;
  }
  const size = head.ContentLength ?? 0;
  if (size === 0) return { ok: false, reason: "empty", detail: `s3://${input.bucket}/${input.key} is empty` };
  let header: ImageHeader;
  try {
    header = await readImageDimensions(input);
  } catch (error) {
    return { ok: false, reason: "wrong-type", detail: `not an image: ${(error as Error).message}` };
  }
  const contentType = head.ContentType ?? `image/${header.format}`;
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
  return { ok: true, size, contentType, width: header.width, height: header.height, etag: head.ETag };
}
