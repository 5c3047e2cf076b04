import { GetObjectCommand, type S3Client } from "@aws-sdk/client-s3";
import { createGuardedFetch, type GuardedFetch } from "@reframe/egress";
import type { ByteRange, ReadRange, SourceLimits } from "@reframe/images";
import { spoolToFile } from "@reframe/images";
import type { OutpaintJob } from "@reframe/jobs";
import { asS3Unreachable, readObjectRange } from "@reframe/storage";
import { SourceHttpError } from "./source-problems.ts";

/** How a process reaches sources: S3, and URLs through the egress guard (its allow-list). */
export interface SourceAccess {
  s3: S3Client;
  /** The caller's guarded fetch; without one, a guard that allows no private address is made per use. */
  sourceFetch?: GuardedFetch["fetch"];
}

type Source = OutpaintJob["source"];

/**
 * Reads parts of a source: S3 with a ranged GET; a URL with a Range request, and when the server
 * ignores ranges (200 with the whole body), by reading the body only as far as needed and cancelling
 * the rest, so a header read never holds more than the bytes asked for.
 */
export async function withSourceRanges<T>(
  source: Source,
  access: SourceAccess,
  use: (read: ReadRange) => Promise<T>,
): Promise<T> {
  if (source.kind === "s3") {
    const where = { client: access.s3, bucket: source.bucket, key: source.key };
    return use((start, end) => readObjectRange(where, start, end));
  }
  return withFetch(access, (fetch) => use((start, end) => readUrlRange(source.url, fetch, start, end)));
}

/**
 * The whole source into a local file (for the worker to decode), stopping past MAX_SOURCE_BYTES
 * while the bytes arrive, whatever the Content-Length said. Returns the number of bytes written.
 */
export async function downloadSource(
  source: Source,
  access: SourceAccess,
  path: string,
  limits: SourceLimits,
): Promise<number> {
  if (source.kind === "s3") {
    const object = await access.s3.send(new GetObjectCommand({ Bucket: source.bucket, Key: source.key }));
    return spoolToFile(object.Body as AsyncIterable<Uint8Array>, path, limits).catch((error: unknown) => {
      throw asS3Unreachable(source.bucket, error);
    });
  }
  return withFetch(access, async (fetch) => {
    const response = await fetch(source.url);
    if (!response.ok || !response.body) {
      await response.body?.cancel();
      throw new SourceHttpError(source.url, response.status);
    }
    return spoolToFile(response.body, path, limits);
  });
}

async function withFetch<T>(
  access: SourceAccess,
  use: (fetch: GuardedFetch["fetch"]) => Promise<T>,
): Promise<T> {
  if (access.sourceFetch) return use(access.sourceFetch);
  const guard = createGuardedFetch();
  try {
    return await use(guard.fetch);
  } finally {
    await guard.close();
  }
}

async function readUrlRange(
  url: string,
  fetch: GuardedFetch["fetch"],
  start: number,
  end: number,
): Promise<ByteRange> {
  const response = await fetch(url, { headers: { Range: `bytes=${start}-${end}` } });
  if (response.status === 416) {
    await response.body?.cancel();
    return {
      bytes: new Uint8Array(),
      totalBytes: totalOf(response.headers.get("content-range")) ?? (start === 0 ? 0 : undefined),
    };
  }
  if (!response.ok || !response.body) {
    await response.body?.cancel();
    throw new SourceHttpError(url, response.status);
  }
  if (response.status === 206) {
    return {
      bytes: await readAtMost(response.body, 0, end - start + 1),
      totalBytes: totalOf(response.headers.get("content-range")),
    };
  }
  const length = response.headers.get("content-length");
  return {
    bytes: await readAtMost(response.body, start, end - start + 1),
    totalBytes: length === null ? undefined : Number(length),
  };
}

/** `count` bytes after skipping `skip`, then the body is cancelled. */
async function readAtMost(
  body: ReadableStream<Uint8Array>,
  skip: number,
  count: number,
): Promise<Uint8Array> {
  const out = new Uint8Array(count);
  let seen = 0;
  let filled = 0;
  const reader = body.getReader();
  try {
    while (filled < count) {
      const { done, value } = await reader.read();
      if (done) break;
      const from = Math.max(0, skip - seen);
      seen += value.length;
      if (from >= value.length) continue;
      const part = value.subarray(from, from + count - filled);
      out.set(part, filled);
      filled += part.length;
    }
  } finally {
    await reader.cancel().catch(() => undefined);
  }
  return out.subarray(0, filled);
}

/** "bytes 0-65535/1048576" → 1048576; "bytes *\/0" → 0; undefined when absent or "*". */
function totalOf(contentRange: string | null): number | undefined {
  const total = contentRange?.match(/\/(\d+)$/)?.[1];
  return total === undefined ? undefined : Number(total);
}
