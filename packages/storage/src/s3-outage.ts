import { HeadBucketCommand, type S3Client } from "@aws-sdk/client-s3";
import { asUnreachable, ServiceUnreachableError } from "@reframe/reachability";
import { S3_SERVICE } from "./client.ts";

/**
 * Whether an S3 request failed because S3 is out, in a few words ("connection refused", "timed out",
 * "answered 503"), or undefined when S3 answered (a missing object, a refusal, a bad request: those
 * are the request's own) or the error is not S3's (a URL source's origin, Redis). Decided once for
 * every S3 request of a job (the plan's header read and download, the scratch and copy uploads, the
 * output check): an outage makes the job wait, anything else keeps its own classification
 * (packages/sources `sourceProblemOf`, the output check's verdict). The SDK has retried the request
 * by then, and createS3Client turned a connection that could not be made into a
 * ServiceUnreachableError of S3.
 */
export function s3OutageOf(error: unknown): string | undefined {
  if (error instanceof ServiceUnreachableError)
    return error.target.service === S3_SERVICE ? error.problem : undefined;
  const status = (error as { $metadata?: { httpStatusCode?: unknown } } | undefined)?.$metadata
    ?.httpStatusCode;
  // 5xx: S3 (or what stands in front of it) is failing; SlowDown (503) too, it asks to come back later.
  return typeof status === "number" && status >= 500 ? `answered ${status}` : undefined;
}

/**
 * Asks S3 whether it answers at all, with one HeadBucket: the outage's problem, or undefined when S3
 * answered (a refusal or a missing bucket is an answer). For when someone else met a failure that S3
 * being out would explain: the provider, reading or writing through a presigned URL.
 */
export async function s3OutageNow(client: S3Client, bucket: string): Promise<string | undefined> {
  try {
    await client.send(new HeadBucketCommand({ Bucket: bucket }));
    return undefined;
  } catch (error) {
    return s3OutageOf(error);
  }
}

/**
 * A failure while an S3 answer's body streams in (the connection reset midway) as S3's: the client's
 * middleware (createS3Client) sees the request, not the body read after it, so `s3OutageOf` would
 * not know the connection problem was S3's.
 */
export function asS3Unreachable(bucket: string, error: unknown): unknown {
  return asUnreachable({ service: S3_SERVICE, at: `s3://${bucket}` }, error);
}
