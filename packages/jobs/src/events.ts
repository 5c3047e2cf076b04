import { createHash } from "node:crypto";
import { OUTPUT_FORMATS } from "@reframe/runware";
import { z } from "zod";
import {
  type FailureReason,
  failureReasonSchema,
  type OutpaintResult,
  outpaintTimingsSchema,
} from "./job-result.ts";
import { labelsSchema, type OutpaintJob, sourceSchema } from "./outpaint-job.ts";
import { targetSchema } from "./upstream-schemas.ts";

/**
 * Completion and failure events as CloudEvents 1.0 JSON (structured mode: the whole event is the JSON body), added to each
 * downstream queue of a job's route with the event id as the BullMQ jobId, so a retried finalize adds
 * the event once. Event schemas are not strict: a consumer must accept fields added later to v1.
 */

export const COMPLETION_EVENT_TYPE = "reframe.outpaint.completed.v1";
export const FAILURE_EVENT_TYPE = "reframe.outpaint.failed.v1";
/** CloudEvents `source` (a URI-reference): the producer of the event. `source` + `id` is unique. */
export const EVENT_SOURCE = "/reframe/worker";

const nonNegative = z.number().min(0);
const pixels = z.int().min(1);

const envelope = {
  specversion: z.literal("1.0"),
  id: z.string().min(1),
  source: z.string().min(1),
  subject: z.string().min(1),
  time: z.iso.datetime({ offset: true }),
  datacontenttype: z.literal("application/json"),
};

export const completionVariantSchema = z.object({
  variant: z.int().min(0),
  key: z.string().min(1),
  width: pixels,
  height: pixels,
  size: z.int().min(1).optional(),
  etag: z.string().optional(),
  imageUUID: z.string(),
  seed: z.number().optional(),
  costUsd: nonNegative,
});

export const completionDataSchema = z.object({
  jobId: z.string().min(1),
  source: sourceSchema,
  target: targetSchema,
  /** The first variant's object; every variant is listed in `variants`. */
  output: z.object({
    bucket: z.string().min(1),
    key: z.string().min(1),
    width: pixels,
    height: pixels,
    format: z.enum(OUTPUT_FORMATS),
    contentType: z.string().min(1),
    size: z.int().min(1),
    etag: z.string().optional(),
  }),
  variants: z.array(completionVariantSchema).min(1),
  costUsd: nonNegative,
  timings: outpaintTimingsSchema,
  labels: labelsSchema,
  /** false when the provider's limits forced a smaller canvas than the exact size asked for. */
  exactSizeMet: z.boolean().optional(),
  requested: z.object({ width: pixels, height: pixels }).nullable().optional(),
  /** The factor the source was resized by before outpainting: above 1 scaled up to fit, below 1 down. */
  sourceScale: z.number().positive().optional(),
  /** The share (0 to 1) of each output's pixels that was generated rather than taken from the source. */
  generatedShare: z.number().min(0).max(1).optional(),
});

export const failureDataSchema = z.object({
  jobId: z.string().min(1),
  source: sourceSchema,
  target: targetSchema,
  reason: failureReasonSchema,
  labels: labelsSchema,
});

export const completionEventSchema = z.object({
  ...envelope,
  type: z.literal(COMPLETION_EVENT_TYPE),
  data: completionDataSchema,
});

export const failureEventSchema = z.object({
  ...envelope,
  type: z.literal(FAILURE_EVENT_TYPE),
  data: failureDataSchema,
});

export const outpaintEventSchema = z.discriminatedUnion("type", [completionEventSchema, failureEventSchema]);

export type CompletionEvent = z.output<typeof completionEventSchema>;
export type FailureEvent = z.output<typeof failureEventSchema>;
export type OutpaintEvent = z.output<typeof outpaintEventSchema>;

/**
 * Deterministic: a retry of the same job emits the same id, and the route queue drops the second add.
 * `enqueuedAt` (the job's timestamp) tells apart a job enqueued again after retention removed the
 * first one: that is new work and its downstream must hear about it again.
 */
export function outpaintEventId(type: OutpaintEvent["type"], jobId: string, enqueuedAt?: number): string {
  const digest = createHash("sha256")
    .update(`${type}\n${jobId}\n${enqueuedAt ?? ""}`)
    .digest("hex");
  return `evt-${digest.slice(0, 32)}`;
}

export function makeCompletionEvent(input: {
  jobId: string;
  job: OutpaintJob;
  result: OutpaintResult;
  time?: Date | number;
}): CompletionEvent {
  const { jobId, job, result } = input;
  const first = result.variants[0];
  if (!first) throw new Error(`completion event for ${jobId}: a completed job has at least one variant`);
  const event = {
    specversion: "1.0",
    id: outpaintEventId(COMPLETION_EVENT_TYPE, jobId, result.timings.enqueuedAt),
    source: EVENT_SOURCE,
    type: COMPLETION_EVENT_TYPE,
    subject: first.key,
    time: isoTime(input.time ?? result.timings.completedAt),
    datacontenttype: "application/json",
    data: {
      jobId,
      source: job.source,
      target: job.target,
      output: {
        bucket: job.output.bucket,
        key: first.key,
        width: first.width,
        height: first.height,
        format: job.output.format,
        contentType: first.contentType,
        size: first.size,
        etag: first.etag,
      },
      variants: result.variants.map((variant) => ({
        variant: variant.variant,
        key: variant.key,
        width: variant.width,
        height: variant.height,
        size: variant.size,
        etag: variant.etag,
        imageUUID: variant.imageUUID,
        seed: variant.seed,
        costUsd: variant.costUsd,
      })),
      costUsd: result.costUsd,
      timings: result.timings,
      labels: job.labels,
      exactSizeMet: result.exactSizeMet,
      requested: result.requested,
      sourceScale: result.sourceScale,
      generatedShare: result.generatedShare,
    },
  };
  return completionEventSchema.parse(event);
}

export function makeFailureEvent(input: {
  jobId: string;
  job: OutpaintJob;
  reason: FailureReason;
  /** The job's timestamp; see outpaintEventId. */
  enqueuedAt?: number;
  time?: Date | number;
}): FailureEvent {
  const { jobId, job, reason } = input;
  const event = {
    specversion: "1.0",
    id: outpaintEventId(FAILURE_EVENT_TYPE, jobId, input.enqueuedAt),
    source: EVENT_SOURCE,
    type: FAILURE_EVENT_TYPE,
    subject: job.source.kind === "s3" ? job.source.key : job.source.url,
    time: isoTime(input.time ?? Date.now()),
    datacontenttype: "application/json",
    data: {
      jobId,
      source: job.source,
      target: job.target,
      reason: { code: reason.code, message: reason.message, disposition: reason.disposition },
      labels: job.labels,
    },
  };
  return failureEventSchema.parse(event);
}

function isoTime(time: Date | number): string {
  return (typeof time === "number" ? new Date(time) : time).toISOString();
}
