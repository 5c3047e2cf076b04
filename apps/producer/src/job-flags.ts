import { ANCHOR_NAMES, type Anchor, parseShare, parseTargetSpec, type Target } from "@reframe/geometry";
import {
  formatIssuePath,
  JobValidationError,
  type JobValidationIssue,
  type OutpaintJob,
  type OutpaintJobInput,
  parseOutpaintJob,
} from "@reframe/jobs";
import { UsageError } from "./cli/usage-error.ts";

/**
 * The command-line flags that shape a job, read the same way for `reframe enqueue` (one job) and
 * `reframe bulk` (the template of every job): one builder, and the job schema's verdict said in the
 * flag's name (`--quality: must be at least 20`) rather than the field's.
 */
export const JOB_FLAGS = {
  anchor: { type: "string" },
  bucket: { type: "string" },
  prefix: { type: "string" },
  "key-template": { type: "string" },
  format: { type: "string" },
  quality: { type: "string" },
  variants: { type: "string" },
  mode: { type: "string" },
  fit: { type: "string" },
  "max-upscale": { type: "string" },
  "max-generated-share": { type: "string" },
  route: { type: "string" },
  batch: { type: "string" },
} as const;

export type JobFlags = { [name in keyof typeof JOB_FLAGS]?: string | undefined };

/** The flag that sets each field of the job, by the field's path. */
const FLAG_OF_FIELD: Readonly<Record<string, string>> = {
  source: "--source",
  target: "--target",
  "target.anchor": "--anchor",
  "output.bucket": "--bucket (or OUTPUT_BUCKET)",
  "output.prefix": "--prefix",
  "output.keyTemplate": "--key-template",
  "output.format": "--format",
  "output.quality": "--quality",
  "options.mode": "--mode",
  "options.variants": "--variants",
  "options.fit": "--fit",
  "options.maxUpscale": "--max-upscale",
  "options.maxGeneratedShare": "--max-generated-share",
  route: "--route",
  "labels.batchId": "--batch",
};

function flagOf(path: JobValidationIssue["path"]): string {
  const [field, part] = path;
  return FLAG_OF_FIELD[`${field}.${part}`] ?? FLAG_OF_FIELD[String(field)] ?? formatIssuePath(path);
}

/**
 * --fit, --max-upscale and --max-generated-share (0.9 or 90%) as job options. A value that is not a
 * number is refused here; the job schema checks the rest, named by its flag.
 */
function canvasPolicyOptions(flags: JobFlags): {
  fit?: string;
  maxUpscale?: number;
  maxGeneratedShare?: number;
} {
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

export function targetOf(spec: string): Target {
  const parsed = parseTargetSpec(spec);
  if (!parsed.ok) throw new UsageError(`--target ${spec}: ${parsed.message}`);
  return parsed.target;
}

export function anchorOf(flag: string | undefined): Anchor | undefined {
  if (flag === undefined) return undefined;
  if (!(ANCHOR_NAMES as readonly string[]).includes(flag))
    throw new UsageError(`--anchor ${flag}: must be one of ${ANCHOR_NAMES.join(", ")}`);
  return flag as Anchor;
}

export function outputBucketOf(flags: JobFlags, defaultBucket: string | undefined): string {
  const bucket = flags.bucket ?? defaultBucket;
  if (!bucket) throw new UsageError("--bucket is required (or set OUTPUT_BUCKET)");
  return bucket;
}

/**
 * The job the flags describe for one source and target, validated by the job schema; every bad value
 * is a UsageError naming its flag and the rule. The anchor (for ratio, size and preset targets) goes
 * into the target.
 */
export function jobFromFlags(
  flags: JobFlags,
  parts: {
    source: OutpaintJobInput["source"];
    target: Target;
    bucket: string;
    labels: Record<string, string>;
  },
): OutpaintJob {
  const anchor = anchorOf(flags.anchor);
  const input = {
    source: parts.source,
    target: anchor && parts.target.kind !== "margins" ? { ...parts.target, anchor } : parts.target,
    output: {
      bucket: parts.bucket,
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
    labels: { ...parts.labels, ...(flags.batch === undefined ? {} : { batchId: flags.batch }) },
  } as OutpaintJobInput;
  try {
    return parseOutpaintJob(input);
  } catch (error) {
    if (!(error instanceof JobValidationError)) throw error;
    throw new UsageError(error.issues.map((issue) => `${flagOf(issue.path)}: ${issue.rule}`).join("; "));
  }
}
