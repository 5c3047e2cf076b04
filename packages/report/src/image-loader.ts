import { GetObjectCommand, type S3Client } from "@aws-sdk/client-s3";
import type { GuardedFetch } from "@reframe/egress";
import type { ImageLoader } from "./report-writer.ts";

/** Pictures of larger images are not worth the download in a review page. */
const MAX_IMAGE_BYTES = 64 * 1024 * 1024;

/**
 * Reads s3://bucket/key through the S3 client and http(s) URLs through the egress guard (a report
 * is made on an operator's machine: a source URL must not reach its private network either).
 */
export function createImageLoader({
  s3,
  sourceFetch,
}: {
  s3: S3Client;
  sourceFetch: GuardedFetch["fetch"];
}): ImageLoader {
  return async (ref) => {
    const s3Ref = /^s3:\/\/([^/]+)\/(.+)$/.exec(ref);
    if (s3Ref) {
      const object = await s3.send(new GetObjectCommand({ Bucket: s3Ref[1], Key: s3Ref[2] }));
      if ((object.ContentLength ?? 0) > MAX_IMAGE_BYTES) {
        await object.Body?.transformToWebStream().cancel();
        throw new Error(`${object.ContentLength} bytes, over ${MAX_IMAGE_BYTES}`);
      }
      return object.Body!.transformToByteArray();
    }
    const response = await sourceFetch(ref);
    if (!response.ok) {
      await response.body?.cancel();
      throw new Error(`GET answered ${response.status}`);
    }
    const length = Number(response.headers.get("content-length") ?? 0);
    if (length > MAX_IMAGE_BYTES) {
      await response.body?.cancel();
      throw new Error(`${length} bytes, over ${MAX_IMAGE_BYTES}`);
    }
    return new Uint8Array(await response.arrayBuffer());
  };
}
