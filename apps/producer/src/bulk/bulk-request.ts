import { createHash } from "node:crypto";
import type { Anchor, Target } from "@reframe/geometry";
import { canonicalJson, type OutpaintJob } from "@reframe/jobs";
import type { RunRequest } from "@reframe/runs";
import { type ManifestFormat, manifestFormatOf } from "@reframe/sources";
import { UsageError } from "../cli/usage-error.ts";
import { anchorOf, JOB_FLAGS, jobFromFlags, outputBucketOf, targetOf } from "../job-flags.ts";

/**
 * `reframe bulk` flags → one normalised request. Every mistake is a UsageError naming the flag, found
 * before anything is read or written. The request (not the listing) derives the batch id, so the same
 * command resumes the same batch.
 */

export const BULK_FLAGS = {
  ...JOB_FLAGS,
  source: { type: "string" },
  manifest: { type: "string" },
  "source-bucket": { type: "string" },
  include: { type: "string", multiple: true },
  exclude: { type: "string", multiple: true },
  target: { type: "string", multiple: true },
  "dry-run": { type: "boolean" },
  "max-cost": { type: "string" },
  "no-estimate": { type: "boolean" },
  detach: { type: "boolean" },
  report: { type: "string" },
  "chunk-size": { type: "string" },
} as const;

export type BulkFlags = {
  [name in keyof typeof BULK_FLAGS]?: (typeof BULK_FLAGS)[name] extends { type: "boolean" }
    ? boolean
    : (typeof BULK_FLAGS)[name] extends { multiple: true }
      ? string[]
      : string;
};

type BulkSourceSpec =
  | { kind: "prefix"; bucket: string; prefix: string; include: string[]; exclude: string[] }
  | { kind: "manifest"; path: string; format: ManifestFormat; sourceBucket?: string };

/** What every job of the run shares (a manifest row may override targets, anchor, output and mode). */
interface BulkTemplate {
  targets: Target[];
  anchor?: Anchor;
  /** After the job schema's defaults, so spelling out a default derives the same batch id. */
  output: OutpaintJob["output"];
  options: OutpaintJob["options"];
  route: string[];
}

export interface BulkRequest {
  sources: BulkSourceSpec;
  template: BulkTemplate;
  /** --batch; otherwise derived from the request (deriveBatchId). */
  batchId?: string;
  dryRun: boolean;
  maxCostUsd?: number;
  estimate: boolean;
  detach: boolean;
  reportFile?: string;
  chunkSize: number;
}

export function parseBulkRequest(
  flags: BulkFlags,
  config: { OUTPUT_BUCKET?: string | undefined },
): BulkRequest {
  const sources = sourceSpecOf(flags);
  const targets = (flags.target ?? []).map(targetOf);
  if (targets.length === 0 && sources.kind === "prefix")
    throw new UsageError("bulk needs at least one --target");
  const anchor = anchorOf(flags.anchor);
  const bucket = outputBucketOf(flags, config.OUTPUT_BUCKET || undefined);
  if (flags["max-cost"] !== undefined && flags["no-estimate"])
    throw new UsageError("--max-cost needs the estimate: drop --no-estimate");
  // The run's settings through the job schema once, with a stand-in source: a bad flag is found
  // before anything is listed, in the flag's name.
  const probe = jobFromFlags(flags, {
    source: { kind: "s3", bucket: "probe-bucket", key: "probe.jpg" },
    target: targets[0] ?? { kind: "ratio", ratio: "1:1" },
    bucket,
    labels: {},
  });
  return {
    sources,
    template: {
      targets,
      ...(anchor === undefined ? {} : { anchor }),
      output: probe.output,
      options: probe.options,
      route: probe.route,
    },
    ...(flags.batch === undefined ? {} : { batchId: flags.batch }),
    dryRun: flags["dry-run"] ?? false,
    ...(flags["max-cost"] === undefined ? {} : { maxCostUsd: maxCostOf(flags["max-cost"]) }),
    estimate: !flags["no-estimate"],
    detach: flags.detach ?? false,
    ...(flags.report === undefined ? {} : { reportFile: flags.report }),
    chunkSize: chunkSizeOf(flags["chunk-size"]),
  };
}

function sourceSpecOf(flags: BulkFlags): BulkSourceSpec {
  if ((flags.source === undefined) === (flags.manifest === undefined))
    throw new UsageError("bulk needs exactly one of --source s3://bucket/prefix/ or --manifest FILE");
  if (flags.manifest !== undefined) {
    if (flags.include || flags.exclude)
      throw new UsageError("--include and --exclude filter a --source prefix, not a manifest");
    const format = manifestFormatOf(flags.manifest);
    if (!format)
      throw new UsageError(`--manifest ${flags.manifest}: expected a .csv, .jsonl or .ndjson file`);
    const sourceBucket = flags["source-bucket"];
    return {
      kind: "manifest",
      path: flags.manifest,
      format,
      ...(sourceBucket === undefined ? {} : { sourceBucket }),
    };
  }
  if (flags["source-bucket"] !== undefined)
    throw new UsageError("--source-bucket is for manifests of keys; --source already names its bucket");
  const match = /^s3:\/\/([^/]+)\/?(.*)$/.exec(flags.source!);
  if (!match) throw new UsageError(`--source ${flags.source}: expected s3://bucket/prefix/`);
  return {
    kind: "prefix",
    bucket: match[1]!,
    prefix: match[2]!,
    include: [...(flags.include ?? [])],
    exclude: [...(flags.exclude ?? [])],
  };
}

function maxCostOf(text: string): number {
  const value = Number(text);
  if (text.trim() === "" || !Number.isFinite(value) || value < 0)
    throw new UsageError(`--max-cost ${text}: must be an amount in US dollars, 0 or more`);
  return value;
}

function chunkSizeOf(text: string | undefined): number {
  if (text === undefined) return 500;
  const value = Number(text);
  if (!Number.isInteger(value) || value < 1 || value > 10_000)
    throw new UsageError(`--chunk-size ${text}: must be a whole number from 1 to 10000`);
  return value;
}

/**
 * `bulk-` + 12 hex digits of the SHA-256 of what the run asks for: the sources (a prefix and its
 * globs, or the SHA-256 of the manifest's content, not its path, which differs between machines), the targets, the
 * output, the options and the route. Order does not matter where it changes nothing.
 */
export function deriveBatchId(request: BulkRequest, manifestSha256?: string): string {
  const { sources, template } = request;
  const sourceIdentity =
    sources.kind === "prefix"
      ? {
          kind: "prefix",
          bucket: sources.bucket,
          prefix: sources.prefix,
          include: [...sources.include].sort(),
          exclude: [...sources.exclude].sort(),
        }
      : {
          kind: "manifest",
          sha256: manifestSha256 ?? createHash("sha256").digest("hex"),
          sourceBucket: sources.sourceBucket,
        };
  const identity = {
    sources: sourceIdentity,
    targets: template.targets.map((target) => canonicalJson(target)).sort(),
    anchor: template.anchor,
    output: template.output,
    options: template.options,
    route: [...template.route].sort(),
  };
  return `bulk-${createHash("sha256").update(canonicalJson(identity)).digest("hex").slice(0, 12)}`;
}

/** What the run engine is asked for: the request's jobs, in its batch (given, or derived). */
export function runRequestOf(request: BulkRequest, manifestSha256: string | undefined): RunRequest {
  const batchId = request.batchId ?? deriveBatchId(request, manifestSha256);
  return {
    batchId,
    template: { ...request.template, labels: { batchId, requester: "bulk" } },
    estimate: request.estimate,
  };
}
