import { createWriteStream } from "node:fs";
import { pipeline } from "node:stream/promises";
import { checkBytes, type SourceLimits } from "./source-limits.ts";

/**
 * Writes a download to a local file and says how many bytes it had, stopping with "tooLarge" as soon
 * as it passes MAX_SOURCE_BYTES (a URL need not say its length, or may say it wrongly). A file, not a
 * buffer: sharp collects a piped stream into one Buffer before decoding, while libvips reads a file
 * itself, so a 200 MB source costs disk, not memory.
 */
export async function spoolToFile(
  body: AsyncIterable<Uint8Array>,
  path: string,
  limits: SourceLimits,
): Promise<number> {
  let received = 0;
  await pipeline(
    body,
    async function* count(chunks: AsyncIterable<Uint8Array>) {
      for await (const chunk of chunks) {
        received += chunk.byteLength;
        checkBytes(received, limits, true);
        yield chunk;
      }
    },
    createWriteStream(path),
  );
  return received;
}
