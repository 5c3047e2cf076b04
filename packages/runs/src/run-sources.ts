import { createHash } from "node:crypto";
import { once } from "node:events";
import { createReadStream, createWriteStream } from "node:fs";
import { mkdtemp, rm, stat } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { createInterface } from "node:readline";
import { finished } from "node:stream/promises";
import type { S3Client } from "@aws-sdk/client-s3";
import {
  ManifestError,
  type ManifestFormat,
  type PrefixSource,
  prefixItems,
  readManifest,
  type SourceItem,
} from "@reframe/sources";
import type { S3Area } from "@reframe/storage";
import { RunInputError } from "./run-input-error.ts";

/** Where a run's sources come from: a listing of a prefix, or a manifest file. */
export type RunSourceSpec =
  | ({ kind: "prefix" } & PrefixSource)
  | { kind: "manifest"; path: string; format: ManifestFormat; sourceBucket?: string };

/**
 * A run's sources, read twice as streams: once to plan, once to enqueue. A manifest is read from
 * its file both times (refused the second time if it changed in between); a listing is spooled to a
 * temporary file as it is listed, so the run enqueues exactly the objects it planned and estimated,
 * whatever lands under the prefix meanwhile. Neither is ever held in memory.
 */
export interface RunSources {
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
  /**
   * Areas a listing leaves out: where this run and its kind write (their output areas, storage's
   * outputAreaOf) and the scratch area, so a run over a bucket it also writes to never takes its own
   * outputs for sources.
   */
  neverSources: readonly S3Area[];
  signal?: AbortSignal;
}

export async function openSources(spec: RunSourceSpec, deps: SourceDeps): Promise<RunSources> {
  return spec.kind === "manifest" ? await openManifest(spec) : await openListing(spec, deps);
}

async function openManifest(sources: Extract<RunSourceSpec, { kind: "manifest" }>): Promise<RunSources> {
  const { path } = sources;
  const fileState = async () => {
    try {
      const { size, mtimeMs } = await stat(path);
      return { size, mtimeMs };
    } catch (error) {
      throw new RunInputError(`--manifest ${path}: ${(error as Error).message}`);
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
      if (error instanceof ManifestError) throw new RunInputError(error.message);
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
        throw new RunInputError(
          `--manifest ${path} changed while the run was planned; run the command again to plan what it holds now`,
        );
      yield* read();
    },
    fraction: () => (reading && planned.size > 0 ? reading.bytesRead / planned.size : undefined),
    close: async () => undefined,
  };
}

async function openListing(sources: PrefixSource, deps: SourceDeps): Promise<RunSources> {
  const directory = await mkdtemp(join(tmpdir(), "reframe-bulk-"));
  const spool = join(directory, "sources.jsonl");
  return {
    manifestSha256: undefined,
    async *items() {
      const out = createWriteStream(spool);
      try {
        for await (const item of prefixItems(deps.s3, sources, {
          neverSources: deps.neverSources,
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
