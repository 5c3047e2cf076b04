import { hash } from "node:crypto";
import { OUTPUT_FORMATS } from "@reframe/runware";
// The subpath, not the package: key templates import nothing, and the S3 client the package's index
// loads would cost the webhook receiver (which needs jobs, never S3) 40 MB and 0.35 s at start.
import { DEFAULT_KEY_TEMPLATE, keyTemplateProblems } from "@reframe/storage/key-template";
import { z } from "zod";
import { batchIdSchema } from "./batch-store.ts";
import { routeEntrySchema } from "./route-publisher.ts";
import { canvasPolicyShape, targetSchema, watermarkSchema } from "./upstream-schemas.ts";

/**
 * The outpaint job: one source image, one target, where the result goes and how it is made. Every
 * producer (CLI, HTTP API, pipelines, S3 events) builds one of these; every reader parses `job.data`
 * with this schema extended by the step state (job-data.ts). Objects are strict: a misspelt field is
 * an error naming it, not a silently ignored option.
 */

const text = (max: number) =>
  z.string().min(1, "must not be empty").max(max, `must be at most ${max} characters`);
const intRange = (min: number, max: number) =>
  z
    .int(`must be an integer from ${min} to ${max}`)
    .min(min, `must be at least ${min}`)
    .max(max, `must be at most ${max}`);

/** S3's own rules for new buckets: 3–63 lowercase letters, digits, dots and hyphens. */
const bucketName = z
  .string()
  .regex(
    /^[a-z0-9][a-z0-9.-]{1,61}[a-z0-9]$/,
    "must be an S3 bucket name (3-63 lowercase letters, digits, '.', '-')",
  );

/** S3 returns ETags quoted from HEAD and unquoted in event notifications; one object, one identity. */
const etag = z
  .string()
  .min(1, "must not be empty")
  .transform((value) => value.replace(/^"|"$/g, ""));

const s3SourceSchema = z.strictObject({
  kind: z.literal("s3"),
  bucket: bucketName,
  key: text(1024),
  etag: etag.optional(),
  versionId: text(1024).optional(),
  /** From an S3 event: orders the events of one key; identifies the object when no ETag or version is given. */
  sequencer: text(64).optional(),
  /** Known dimensions (from an event or a manifest) spare the worker a ranged GET of the header. */
  width: z.int().min(1).optional(),
  height: z.int().min(1).optional(),
});

const urlSourceSchema = z.strictObject({
  kind: z.literal("url"),
  url: z.string().refine((value) => /^https?:$/.test(safeProtocol(value)), "must be an absolute http(s) URL"),
});

export const sourceSchema = z.discriminatedUnion("kind", [s3SourceSchema, urlSourceSchema]);

const keyTemplate = z
  .string()
  .min(1, "must not be empty")
  .max(1024, "must be at most 1024 characters")
  .superRefine((template, context) => {
    for (const message of keyTemplateProblems(template)) context.addIssue({ code: "custom", message });
  });

export const outputSchema = z.strictObject({
  bucket: bucketName,
  keyTemplate: keyTemplate.default(DEFAULT_KEY_TEMPLATE),
  prefix: z
    .string()
    .max(512, "must be at most 512 characters")
    .refine((value) => !value.startsWith("/"), "must not start with '/'")
    .optional(),
  format: z.enum(OUTPUT_FORMATS, `must be one of ${OUTPUT_FORMATS.join(", ")}`).default("JPG"),
  quality: intRange(20, 99).default(90),
});

export const optionsSchema = z.strictObject({
  mode: z.enum(["high", "fast"], "must be high or fast").default("high"),
  /** false: an over-limit canvas is refused (422) instead of silently cropped (docs/provider-protocol.md §2.2). */
  autoCrop: z.boolean().default(false),
  /** One provider task per variant (a task has one uploadEndpoint); 8 caps the cost of one job. */
  variants: intRange(1, 8).default(1),
  watermark: watermarkSchema.optional(),
  safety: z.boolean().default(false),
  /** Seconds the provider keeps its copy; its API refuses less than 60. */
  ttl: z.int("must be an integer number of seconds").min(60, "must be at least 60 seconds").optional(),
  /** A canvas beyond the provider's limits: pre-scale the source to fit, or fail the job. */
  overLimit: z.enum(["prescale", "fail"], "must be prescale or fail").default("prescale"),
  /**
   * How a source is sized on an exact-size canvas (fit or down-only), the upscale cap, and the largest
   * generated share of the output. Absent when at their defaults, so jobs from before these options
   * keep their ids.
   */
  ...canvasPolicyShape,
  /** Per task: no result by then and the variant is redone under the next generation. */
  deadlineSeconds: intRange(60, 86_400).default(900),
});

export const labelsSchema = z.strictObject({
  /** The batch that added the job and awaits its end (batch-store.ts). */
  batchId: batchIdSchema.optional(),
  pipeline: text(200).optional(),
  requester: text(200).optional(),
});

export const outpaintJobSchema = z.strictObject({
  source: sourceSchema,
  target: targetSchema,
  output: outputSchema,
  options: optionsSchema.prefault({}),
  /** Downstream queues and endpoints (webhook:NAME) that receive the completion or failure event; once each. */
  route: z
    .array(routeEntrySchema)
    .max(20, "must list at most 20 queues")
    .default([])
    .transform((names) => [...new Set(names)]),
  labels: labelsSchema.prefault({}),
  /**
   * The job's processing version: bumped when the way a job is carried out changes, so that old work
   * is not mistaken for new. Saved before its rename as `pipelineVersion` (job-data.ts reads both).
   */
  processingVersion: text(50).default("1"),
});

export type OutpaintJobInput = z.input<typeof outpaintJobSchema>;
export type OutpaintJob = z.output<typeof outpaintJobSchema>;
export type OutpaintSource = OutpaintJob["source"];

/**
 * The job id is the idempotency key (docs/design.md): "op-" + SHA-256 of the canonical JSON (sorted keys)
 * of what determines the work and who is told about it.
 *
 * - Source identity: bucket + key + ETag (content) — or versionId, or an event's sequencer, when there
 *   is no ETag — or the URL.
 *   Known width/height are hints, not identity. A source given by key alone is the same job until
 *   it is removed from the queue; producers that want changed content reprocessed pass the ETag.
 * - Target, output and options after defaults, so `{}` and the spelled-out defaults are one job.
 * - The route IS included (sorted): the same work requested with a different downstream is a
 *   different job, because a duplicate would be dropped and its downstream would never get an event.
 *   The cost is that two pipelines asking for the same output with different routes pay twice.
 * - Labels are NOT included: a nightly run carries a new batchId every night and must still add
 *   nothing for an unchanged library.
 *
 * "op-" keeps the id free of ":" and never all digits, as BullMQ requires for custom ids.
 */
export function outpaintJobId(job: OutpaintJob): string {
  let jobId = jobIds.get(job);
  if (jobId === undefined) {
    jobId = computeJobId(job);
    jobIds.set(job, jobId);
  }
  return jobId;
}

/** A job's id by the job object: planning and enqueueing the same parsed jobs hash each once. */
const jobIds = new WeakMap<OutpaintJob, string>();

function computeJobId(job: OutpaintJob): string {
  return `op-${hash("sha256", jobIdentityJson(job), "hex")}`;
}

/**
 * canonicalJson of {source identity, target, output, options, route (sorted), processing version},
 * written out in its key order so that the parts a run's jobs share (target, output, options) are
 * made canonical once: the same string as canonicalJson of the whole, at a fraction of the cost.
 * The processing version is hashed under its first name, `pipelineVersion`, so that a job keeps the
 * id it had before the rename: work enqueued again after an upgrade is still a duplicate.
 */
export function jobIdentityJson(job: OutpaintJob): string {
  return `{"options":${sharedCanonicalJson(job.options)},"output":${sharedCanonicalJson(job.output)},"pipelineVersion":${JSON.stringify(job.processingVersion)},"route":${sortedRouteJson(job.route)},"source":${sourceIdentityJson(job.source)},"target":${sharedCanonicalJson(job.target)}}`;
}

/**
 * Canonical forms of values seen before: by the object (parsed jobs of one run share their parts),
 * else by its plain JSON (bounded: cleared when it grows).
 */
const canonicalByObject = new WeakMap<object, string>();
const canonicalByJson = new Map<string, string>();

function sharedCanonicalJson(value: object): string {
  let canonical = canonicalByObject.get(value);
  if (canonical !== undefined) return canonical;
  const plain = JSON.stringify(value);
  canonical = canonicalByJson.get(plain);
  if (canonical === undefined) {
    if (canonicalByJson.size >= 10_000) canonicalByJson.clear();
    canonical = canonicalJson(value);
    canonicalByJson.set(plain, canonical);
  }
  canonicalByObject.set(value, canonical);
  return canonical;
}

const routeJson = new WeakMap<readonly string[], string>();

/** canonicalJson of the route sorted, once per route array (a run's jobs share theirs). */
function sortedRouteJson(route: readonly string[]): string {
  let json = routeJson.get(route);
  if (json === undefined) {
    json = canonicalJson([...route].sort());
    routeJson.set(route, json);
  }
  return json;
}

/**
 * canonicalJson(sourceIdentity(source)) written out directly (its keys in sorted order: bucket, etag,
 * key, sequencer, versionId; url): every job's own part of its id, so built without an object.
 */
function sourceIdentityJson(source: OutpaintSource): string {
  if (source.kind === "url") return `{"url":${JSON.stringify(new URL(source.url).href)}}`;
  const bucket = `{"bucket":${JSON.stringify(source.bucket)}`;
  const key = `"key":${JSON.stringify(source.key)}`;
  if (source.etag) return `${bucket},"etag":${JSON.stringify(source.etag)},${key}}`;
  if (source.versionId) return `${bucket},${key},"versionId":${JSON.stringify(source.versionId)}}`;
  if (source.sequencer) return `${bucket},${key},"sequencer":${JSON.stringify(source.sequencer)}}`;
  return `${bucket},${key}}`;
}

export function sourceIdentity(source: OutpaintSource): Record<string, string> {
  if (source.kind === "url") return { url: new URL(source.url).href };
  const identity: Record<string, string> = { bucket: source.bucket, key: source.key };
  if (source.etag) identity.etag = source.etag;
  else if (source.versionId) identity.versionId = source.versionId;
  else if (source.sequencer) identity.sequencer = source.sequencer;
  return identity;
}

/** JSON with object keys sorted at every depth and undefined members left out; arrays keep order. */
export function canonicalJson(value: unknown): string {
  // Written as loops: every enqueue hashes its job, and a 100,000-row bulk run spent more time here
  // than in Redis with entries/filter/sort/map. The default sort compares UTF-16 code units, as the
  // ids already issued were made with, so no id changes.
  if (value === null || typeof value !== "object") return JSON.stringify(value) ?? "null";
  if (Array.isArray(value)) {
    let out = "[";
    for (let index = 0; index < value.length; index += 1) {
      if (index > 0) out += ",";
      out += canonicalJson(value[index] ?? null);
    }
    return `${out}]`;
  }
  const record = value as Record<string, unknown>;
  let out = "{";
  for (const key of Object.keys(record).sort()) {
    const item = record[key];
    if (item === undefined) continue;
    if (out.length > 1) out += ",";
    out += `${JSON.stringify(key)}:${canonicalJson(item)}`;
  }
  return `${out}}`;
}

function safeProtocol(value: string): string {
  try {
    return new URL(value).protocol;
  } catch {
    return "";
  }
}
