import { GetObjectCommand, PutObjectCommand, type S3Client } from "@aws-sdk/client-s3";
import { getSignedUrl } from "@aws-sdk/s3-request-presigner";

/** SigV4 allows presigned URLs for at most 7 days. */
const MAX_EXPIRY_SECONDS = 604_800;

export interface PresignInput {
  client: S3Client;
  bucket: string;
  key: string;
  expiresInSeconds: number;
}

function checkExpiry(expiresInSeconds: number): void {
  if (!Number.isInteger(expiresInSeconds) || expiresInSeconds < 1 || expiresInSeconds > MAX_EXPIRY_SECONDS) {
    throw new RangeError(
      `expiresInSeconds must be an integer from 1 to ${MAX_EXPIRY_SECONDS}, got ${expiresInSeconds}`,
    );
  }
}

/**
 * A PUT URL for the provider's uploadEndpoint. Only `host` is signed: the provider sends its own
 * headers (Content-Type among them), and anything signed it would have to reproduce exactly.
 */
export async function presignOutputUpload(input: PresignInput): Promise<string> {
  checkExpiry(input.expiresInSeconds);
  return getSignedUrl(input.client, new PutObjectCommand({ Bucket: input.bucket, Key: input.key }), {
    expiresIn: input.expiresInSeconds,
  });
}

/** A GET URL through which the provider reads a source image. */
export async function presignSourceDownload(input: PresignInput): Promise<string> {
  checkExpiry(input.expiresInSeconds);
  return getSignedUrl(input.client, new GetObjectCommand({ Bucket: input.bucket, Key: input.key }), {
    expiresIn: input.expiresInSeconds,
  });
}
