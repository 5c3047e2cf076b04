import { createHash } from "node:crypto";
import { once } from "node:events";
import { createReadStream, createWriteStream } from "node:fs";
import { mkdtemp, rm, stat } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { createInterface } from "node:readline";
import { finished } from "node:stream/promises";
import type { S3Client } from "@aws-sdk/client-s3";
import { ManifestError, outputAreasOf, prefixItems, readManifest, type SourceItem } from "@reframe/sources";
import type { S3Area } from "@reframe/storage";
import { UsageError } from "../cli/usage-error.ts";
import type { BulkRequest } from "./bulk-request.ts";

/**
 * A bulk run's sources, read twice as streams: once to plan, once to enqueue. A manifest is read from
 * its file both times (refused the second time if it changed in between); a listing is spooled to a
 * temporary file as it is listed, so the run enqueues exactly the objects it planned and estimated,
 * whatever lands under the prefix meanwhile. Neither is ever held in memory.
 */
export interface BulkSources {
  /** The manifest's SHA-256 (it derives the batch id); absent for a listing. */
  manifestSha256: string | undefined;
  /** The first read, for the plan. Call once. */
  items(): AsyncIterable<SourceItem>;
  /** The same items again, for the enqueue; after `items()` was read to its end. */
  again(): AsyncIterable<SourceItem>;
  /** The share of the sources read so far, when it is known (a manifest's bytes). */
  fraction(): number | undefined;
  /** Removes the spool, if any. */
  close(): Promise<void>;
}

export interface SourceDeps {
  s3: S3Client;
  /** The scratch area: a listing leaves it out, with the run's own output areas. */
  scratch: S3Area[];
  signal?: AbortSignal;
}

export async function openSources(request: BulkRequest, deps: SourceDeps): Promise<BulkSources> {
  return request.sources.kind === "manifest"
    ? await openManifest(request.sources)
    : await openListing(request, deps);
}

async function openManifest(
  sources: Extract<BulkRequest["sources"], { kind: "manifest" }>,
): Promise<BulkSources> {
  const { path } = sources;
  const fileState = async () => {
    try {
      const { size, mtimeMs } = await stat(path);
      return { size, mtimeMs };
    } catch (error) {
      throw new UsageError(`--manifest ${path}: ${(error as Error).message}`);
    }
  };
  const planned = await fileState();
  const hash = createHash("sha256");
  for await (const chunk of createReadStream(path)) hash.update(chunk as Buffer);
  let reading: ReturnType<typeof createReadStream> | undefined;
  async function* read(): AsyncGenerator<SourceItem> {
    reading = createReadStream(path);
    try {
      yield* readManifest(reading, {
        name: path,
        format: sources.format,
        ...(sources.sourceBucket ? { defaultBucket: sources.sourceBucket } : {}),
      });
    } catch (error) {
      if (error instanceof ManifestError) throw new UsageError(error.message);
      throw error;
    } finally {
      reading.destroy();
    }
  }
  return {
    manifestSha256: hash.digest("hex"),
    items: read,
    async *again() {
      const now = await fileState();
      if (now.size !== planned.size || now.mtimeMs !== planned.mtimeMs)
        throw new UsageError(
          `--manifest ${path} changed while the run was planned; run the command again to plan what it holds now`,
        );
      yield* read();
    },
    fraction: () => (reading && planned.size > 0 ? reading.bytesRead / planned.size : undefined),
    close: async () => undefined,
  };
}

async function openListing(request: BulkRequest, deps: SourceDeps): Promise<BulkSources> {
  const sources = request.sources as Extract<BulkRequest["sources"], { kind: "prefix" }>;
  // Where this run writes (storage's outputAreaOf, as for pipelines): a listing leaves it out, so a
  // run over a bucket it also writes to never takes its own outputs for sources.
  const own = outputAreasOf(request.template);
  if (own.some((area) => area.bucket === sources.bucket && area.prefix === ""))
    throw new UsageError(
      `outputs would be written among the sources of s3://${sources.bucket}/: give --prefix, a --bucket of their own, or a --key-template that starts with a fixed folder`,
    );
  const directory = await mkdtemp(join(tmpdir(), "reframe-bulk-"));
  const spool = join(directory, "sources.jsonl");
  return {
    manifestSha256: undefined,
    async *items() {
      const out = createWriteStream(spool);
      try {
        for await (const item of prefixItems(deps.s3, sources, {
          neverSources: [...own, ...deps.scratch],
          ...(deps.signal ? { signal: deps.signal } : {}),
        })) {
          if (!out.write(`${JSON.stringify(item)}\n`)) await once(out, "drain");
          yield item;
        }
      } finally {
        out.end();
        await finished(out);
      }
    },
    async *again() {
      const input = createReadStream(spool);
      try {
        for await (const line of createInterface({ input, crlfDelay: Number.POSITIVE_INFINITY }))
          yield JSON.parse(line) as SourceItem;
      } finally {
        input.destroy();
      }
    },
    fraction: () => undefined,
    close: () => rm(directory, { recursive: true, force: true }),
  };
}
