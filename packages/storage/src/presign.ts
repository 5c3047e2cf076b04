import { GetObjectCommand, PutObjectCommand, type S3Client } from "@aws-sdk/client-s3";
import { getSignedUrl } from "@aws-sdk/s3-request-presigner";

/** SigV4 allows presigned URLs for at most 7 days. */
const MAX_EXPIRY_SECONDS = 604_800;

export interface PresignInput {
  client: S3Client;
  bucket: string;
  key: string;
  expiresInSeconds: number;
  /** The signing time (epoch ms; now by default): the URL is valid from it for expiresInSeconds. */
  signedAt?: number;
}

/** The deadline has passed (or is under a second away): no URL may be made for it. */
export class PresignDeadlineError extends RangeError {
  readonly code = "presignDeadlinePassed";
  constructor(message: string) {
    super(message);
    this.name = "PresignDeadlineError";
  }
}

/**
 * How long a presigned URL may live so that it dies by `deadline` (epoch ms): whole seconds from the
 * signing time, at most `maxSeconds` (SigV4's 7 days unless smaller). SigV4 counts from X-Amz-Date,
 * the signing time cut to the second, so that is where the count starts; rounding down keeps the
 * expiry at or before the deadline, never after it.
 */
export function presignExpirySeconds({
  deadline,
  signedAt,
  maxSeconds = MAX_EXPIRY_SECONDS,
}: {
  deadline: number;
  signedAt: number;
  maxSeconds?: number;
}): number {
  const signedSecond = Math.floor(signedAt / 1000) * 1000;
  const seconds = Math.min(Math.floor((deadline - signedSecond) / 1000), maxSeconds, MAX_EXPIRY_SECONDS);
  if (seconds < 1) {
    throw new PresignDeadlineError(
      `the deadline ${new Date(deadline).toISOString()} leaves no whole second after ${new Date(signedSecond).toISOString()}`,
    );
  }
  return seconds;
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
    signingDate: new Date(input.signedAt ?? Date.now()),
  });
}

/** A GET URL through which the provider reads a source image. */
export async function presignSourceDownload(input: PresignInput): Promise<string> {
  checkExpiry(input.expiresInSeconds);
  return getSignedUrl(input.client, new GetObjectCommand({ Bucket: input.bucket, Key: input.key }), {
    expiresIn: input.expiresInSeconds,
    signingDate: new Date(input.signedAt ?? Date.now()),
  });
}
