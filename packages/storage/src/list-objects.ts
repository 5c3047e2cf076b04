import { posix } from "node:path";
import { ListObjectsV2Command, type S3Client } from "@aws-sdk/client-s3";

export interface ListedObject {
  bucket: string;
  key: string;
  size: number;
  /** Unquoted, as in event notifications, so one object has one identity whichever way it was found. */
  etag: string | undefined;
  lastModified: Date | undefined;
}

export interface ListObjectsInput {
  client: S3Client;
  bucket: string;
  prefix?: string;
  /**
   * Globs over the key relative to `prefix` (`*.jpg` is directly under it, `**\/*.jpg` at any depth,
   * `{a,b}` alternatives); an object is listed when it matches one `include` (or there is none) and
   * no `exclude`.
   */
  include?: readonly string[];
  exclude?: readonly string[];
  /** Keys per ListObjectsV2 page (S3's maximum is 1,000). */
  pageSize?: number;
  signal?: AbortSignal;
}

/**
 * Every object under a prefix, page by page (ListObjectsV2 with continuation tokens), so a listing of
 * a million keys never sits in memory. "Folder" placeholder objects (keys ending in "/") are skipped.
 */
export async function* listObjects(input: ListObjectsInput): AsyncGenerator<ListedObject> {
  const prefix = input.prefix ?? "";
  const matches = keyFilter(input.include ?? [], input.exclude ?? []);
  let continuationToken: string | undefined;
  do {
    const page = await input.client.send(
      new ListObjectsV2Command({
        Bucket: input.bucket,
        Prefix: prefix || undefined,
        ContinuationToken: continuationToken,
        MaxKeys: input.pageSize ?? 1000,
      }),
      { abortSignal: input.signal },
    );
    for (const object of page.Contents ?? []) {
      const key = object.Key;
      if (!key || key.endsWith("/") || !matches(key.slice(prefix.length))) continue;
      yield {
        bucket: input.bucket,
        key,
        size: object.Size ?? 0,
        etag: object.ETag?.replace(/^"|"$/g, ""),
        lastModified: object.LastModified,
      };
    }
    continuationToken = page.IsTruncated ? page.NextContinuationToken : undefined;
  } while (continuationToken);
}

/** Include/exclude globs as one predicate over a relative key. */
export function keyFilter(
  include: readonly string[],
  exclude: readonly string[],
): (relativeKey: string) => boolean {
  return (relativeKey) =>
    (include.length === 0 || include.some((glob) => posix.matchesGlob(relativeKey, glob))) &&
    !exclude.some((glob) => posix.matchesGlob(relativeKey, glob));
}
