import { open } from "node:fs/promises";
import { checkBytes, type SourceLimits } from "./source-limits.ts";

/** Chunks written to the file at once: a download arrives in pieces of up to 64 KiB. */
const WRITE_BATCH_BYTES = 1024 * 1024;

/**
 * Writes a download to a local file and says how many bytes it had, stopping with "tooLarge" as soon
 * as it passes MAX_SOURCE_BYTES (a URL need not say its length, or may say it wrongly). A file, not a
 * buffer: sharp collects a piped stream into one Buffer before decoding, while libvips reads a file
 * itself, so a 200 MB source costs disk, not memory. The chunks are written a mebibyte at a time (one
 * writev), not one by one: each write is a round trip to libuv's threadpool, which the decodes share,
 * and a write a chunk (170 for an 11 MB photo) was the largest item of the worker's main thread in a
 * CPU profile of `npm run bench -- images`.
 */
export async function spoolToFile(
  body: AsyncIterable<Uint8Array>,
  path: string,
  limits: SourceLimits,
): Promise<number> {
  const file = await open(path, "w");
  let received = 0;
  let batch: Uint8Array[] = [];
  let batched = 0;
  const flush = async () => {
    const { bytesWritten } = await file.writev(batch);
    // A regular file takes the whole writev but for a signal or a full disk (which throws): the rest, if any.
    if (bytesWritten < batched) await file.writeFile(Buffer.concat(batch, batched).subarray(bytesWritten));
    batch = [];
    batched = 0;
  };
  try {
    for await (const chunk of body) {
      received += chunk.byteLength;
      checkBytes(received, limits, true);
      batch.push(chunk);
      batched += chunk.byteLength;
      if (batched >= WRITE_BATCH_BYTES) await flush();
    }
    if (batched > 0) await flush();
  } finally {
    await file.close();
  }
  return received;
}
