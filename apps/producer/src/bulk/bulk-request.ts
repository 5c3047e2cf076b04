import { createHash } from "node:crypto";
import { ANCHOR_NAMES, type Anchor, parseShare, parseTargetSpec, type Target } from "@reframe/geometry";
import {
  canonicalJson,
  JobValidationError,
  type OutpaintJob,
  type OutpaintJobInput,
  parseOutpaintJob,
} from "@reframe/jobs";
import { type ManifestFormat, manifestFormatOf } from "@reframe/sources";
import { UsageError } from "../source-spec.ts";

/**
 * `reframe bulk` flags → one normalised request. Every mistake is a UsageError naming the flag, found
 * before anything is read or written. The request (not the listing) derives the batch id, so the same
 * command resumes the same batch.
 */

/** Flags that shape a job, the same for `reframe enqueue` and `reframe bulk`. */
export const JOB_FLAGS = {
  anchor: { type: "string" },
  bucket: { type: "string" },
  prefix: { type: "string" },
  format: { type: "string" },
  quality: { type: "string" },
  variants: { type: "string" },
  mode: { type: "string" },
  fit: { type: "string" },
  "max-upscale": { type: "string" },
  "max-generated-share": { type: "string" },
  route: { type: "string" },
  batch: { type: "string" },
  help: { type: "boolean", short: "h" },
} as const;

/**
 * --fit, --max-upscale and --max-generated-share (0.9 or 90%) as job options, for `enqueue` and
 * `bulk` alike. A value that is not a number is refused here; the job schema checks the rest and the
 * caller names the flag.
 */
export function canvasPolicyOptions(flags: {
  fit?: string | undefined;
  "max-upscale"?: string | undefined;
  "max-generated-share"?: string | undefined;
}): { fit?: string; maxUpscale?: number; maxGeneratedShare?: number } {
  const number = (flag: string, value: number) => {
    if (Number.isNaN(value)) throw new UsageError(`--${flag}: must be a number`);
    return value;
  };
  const upscale = flags["max-upscale"];
  const share = flags["max-generated-share"];
  return {
    ...(flags.fit === undefined ? {} : { fit: flags.fit }),
    ...(upscale === undefined
      ? {}
      : { maxUpscale: number("max-upscale", upscale.trim() === "" ? Number.NaN : Number(upscale)) }),
    ...(share === undefined ? {} : { maxGeneratedShare: number("max-generated-share", parseShare(share)) }),
  };
}

export const BULK_FLAGS = {
  ...JOB_FLAGS,
  source: { type: "string" },
  manifest: { type: "string" },
  "source-bucket": { type: "string" },
  include: { type: "string", multiple: true },
  exclude: { type: "string", multiple: true },
  target: { type: "string", multiple: true },
  "key-template": { type: "string" },
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

export type BulkSourceSpec =
  | { kind: "prefix"; bucket: string; prefix: string; include: string[]; exclude: string[] }
  | { kind: "manifest"; path: string; format: ManifestFormat; sourceBucket?: string };

/** What every job of the run shares (a manifest row may override targets, anchor, output and mode). */
export interface BulkTemplate {
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

const FIELD_FLAGS: [RegExp, string][] = [
  [/^output\.bucket/, "--bucket (or OUTPUT_BUCKET)"],
  [/^output\.prefix/, "--prefix"],
  [/^output\.keyTemplate/, "--key-template"],
  [/^output\.format/, "--format"],
  [/^output\.quality/, "--quality"],
  [/^options\.mode/, "--mode"],
  [/^options\.variants/, "--variants"],
  [/^options\.fit/, "--fit"],
  [/^options\.maxUpscale/, "--max-upscale"],
  [/^options\.maxGeneratedShare/, "--max-generated-share"],
  [/^route/, "--route"],
  [/^labels\.batchId/, "--batch"],
];

export function parseBulkRequest(flags: BulkFlags, env: { OUTPUT_BUCKET?: string | undefined }): BulkRequest {
  const sources = sourceSpecOf(flags);
  const targets = (flags.target ?? []).map((spec) => {
    const parsed = parseTargetSpec(spec);
    if (!parsed.ok) throw new UsageError(`--target ${spec}: ${parsed.message}`);
    return parsed.target;
  });
  if (targets.length === 0 && sources.kind === "prefix")
    throw new UsageError("bulk needs at least one --target");
  const anchor = flags.anchor;
  if (anchor !== undefined && !(ANCHOR_NAMES as readonly string[]).includes(anchor))
    throw new UsageError(`--anchor ${anchor}: must be one of ${ANCHOR_NAMES.join(", ")}`);
  const bucket = flags.bucket ?? env.OUTPUT_BUCKET;
  if (!bucket) throw new UsageError("--bucket is required (or set OUTPUT_BUCKET)");
  if (flags["max-cost"] !== undefined && flags["no-estimate"])
    throw new UsageError("--max-cost needs the estimate: drop --no-estimate");
  const probe = templateProbe(flags, bucket, targets[0]);
  return {
    sources,
    template: {
      targets,
      ...(anchor === undefined ? {} : { anchor: anchor as Anchor }),
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

/** The run's settings through the job schema once, so a bad flag is one message naming the flag. */
function templateProbe(flags: BulkFlags, bucket: string, target: Target | undefined): OutpaintJob {
  const input = {
    source: { kind: "s3", bucket: "probe-bucket", key: "probe.jpg" },
    target: target ?? { kind: "ratio", ratio: "1:1" },
    output: {
      bucket,
      ...(flags.prefix === undefined ? {} : { prefix: flags.prefix }),
      ...(flags["key-template"] === undefined ? {} : { keyTemplate: flags["key-template"] }),
      ...(flags.format === undefined ? {} : { format: flags.format.toUpperCase() }),
      ...(flags.quality === undefined ? {} : { quality: Number(flags.quality) }),
    },
    options: {
      ...(flags.variants === undefined ? {} : { variants: Number(flags.variants) }),
      ...(flags.mode === undefined ? {} : { mode: flags.mode }),
      ...canvasPolicyOptions(flags),
    },
    route: (flags.route ?? "")
      .split(",")
      .map((name) => name.trim())
      .filter(Boolean),
    labels: flags.batch === undefined ? {} : { batchId: flags.batch },
  } as OutpaintJobInput;
  try {
    return parseOutpaintJob(input);
  } catch (error) {
    if (!(error instanceof JobValidationError)) throw error;
    const issue = error.issues[0]!;
    const flag = FIELD_FLAGS.find(([pattern]) => pattern.test(issue.path))?.[1] ?? issue.path;
    throw new UsageError(`${flag}: ${issue.rule}`);
  }
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
 * globs, or the manifest's content, not its path, which differs between machines), the targets, the
 * output, the options and the route. Order does not matter where it changes nothing.
 */
export function deriveBatchId(request: BulkRequest, manifestText?: string): string {
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
          sha256: createHash("sha256")
            .update(manifestText ?? "")
            .digest("hex"),
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
