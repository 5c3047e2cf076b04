import { GetObjectCommand, PutObjectCommand } from "@aws-sdk/client-s3";
import {
  type CanvasPlan,
  isCopyPlan,
  OUTPAINT_LIMITS,
  planCanvas,
  type Size,
  type Target,
  targetLabel,
} from "@reframe/geometry";
import type { OutpaintJob } from "@reframe/jobs";
import { readSourceDimensions, SourceHttpError, sourceLabel, sourceProblemOf } from "@reframe/sources";
import { renderKeyTemplate, splitKey } from "@reframe/storage";
import sharp from "sharp";
import type { JobPlan, SourceRef, StepState, TaskState } from "./step-state.ts";
import { taskUUIDFor } from "./task-uuid.ts";
import type { OutpaintDeps } from "./worker-deps.ts";

const CONTENT_TYPES = { JPG: "image/jpeg", PNG: "image/png", WEBP: "image/webp" } as const;
const EXTENSIONS = { JPG: "jpg", PNG: "png", WEBP: "webp" } as const;

/** A plan that cannot be made: the job fails with this code and message (terminal). */
export class PlanError extends Error {
  readonly code: string;
  constructor(code: string, message: string) {
    super(message);
    this.name = "PlanError";
    this.code = code;
  }
}

export async function planStep(
  jobId: string,
  job: OutpaintJob,
  state: StepState,
  deps: OutpaintDeps,
): Promise<StepState> {
  const now = deps.now();
  const dimensions = await readSourceDimensions(job.source, { s3: deps.s3, sourceFetch: deps.sourceFetch });
  if (!dimensions.ok) throw new PlanError(dimensions.code, dimensions.message);
  const source = dimensions.size;
  const planned = planCanvas({
    source,
    target: job.target as Target,
    limits: OUTPAINT_LIMITS,
    policy: job.options,
  });
  if (!planned.ok) throw new PlanError(planned.reason, planned.message);
  const canvas = planned.plan;
  if (isCopyPlan(canvas)) return copyStep(jobId, job, state, source, canvas, deps);
  // A source the plan scales, up (a fit) or down (a fit, or the provider's limits), is resized here
  // with sharp (Lanczos) into the scratch area, and the provider reads that copy. Upscaling is not
  // sent to the provider as an upscale task: that would be a second paid task per job (the dry run
  // would have to price it), a second wait with its own failures, and its fixed factors (2×, 4×)
  // would still need a resize to the planned pixels; the outpaint redraws around the source anyway.
  const sourceRef = resizes(source, canvas.scaledSource)
    ? await prescaleSource(jobId, job, canvas.scaledSource, deps)
    : originalSourceRef(job);
  const plan: JobPlan = {
    ...canvas,
    sourceRef,
    targetLabel: targetLabel(job.target as Target),
    contentType: CONTENT_TYPES[job.output.format],
  };
  const deadline = now + job.options.deadlineSeconds * 1000;
  // A failed job retried (`reframe batch retry`) is planned again with its earlier tasks kept in the
  // state: its new tasks come after them, since a taskUUID the provider has seen is answered
  // `conflictTaskUUID` and its old outcome is still stored.
  const generation = Math.max(-1, ...state.tasks.map((task) => task.generation)) + 1;
  const tasks: TaskState[] = Array.from({ length: job.options.variants }, (_, variant) => ({
    variant,
    generation,
    taskUUID: taskUUIDFor(jobId, variant, generation),
    key: outputKey(job, plan, variant),
    confirmed: false,
    submitAttempts: 0,
    deadline,
  }));
  return {
    ...state,
    step: "submit",
    plan,
    tasks,
    plannedAt: now,
    ...(generation > 0 ? { firstGeneration: generation } : {}),
  };
}

/** The planned scale changes the source's pixels (a scale that rounds back to its size does not). */
function resizes(source: Size, scaled: Size): boolean {
  return source.width !== scaled.width || source.height !== scaled.height;
}

function originalSourceRef(job: OutpaintJob): SourceRef {
  return job.source.kind === "s3"
    ? { kind: "s3", bucket: job.source.bucket, key: job.source.key }
    : { kind: "url", url: job.source.url };
}

/**
 * The canvas would break the provider's limits: a scaled copy of the source goes to the scratch
 * prefix and the provider reads that instead. This is the one place the worker touches image bytes.
 */
async function prescaleSource(
  jobId: string,
  job: OutpaintJob,
  size: { width: number; height: number },
  deps: OutpaintDeps,
): Promise<SourceRef> {
  const original = await downloadSource(job, deps);
  const scaled = await sharp(original)
    .rotate()
    .resize(size.width, size.height, { fit: "fill" })
    .png()
    .toBuffer();
  const key = `${deps.settings.scratchPrefix}${jobId}.png`;
  await deps.s3.send(
    new PutObjectCommand({
      Bucket: deps.settings.scratchBucket,
      Key: key,
      Body: scaled,
      ContentType: "image/png",
    }),
  );
  return { kind: "s3", bucket: deps.settings.scratchBucket, key };
}

/** The whole source, to pre-scale or copy it; URLs go through the egress guard (deps.sourceFetch). */
async function downloadSource(job: OutpaintJob, deps: OutpaintDeps): Promise<Buffer> {
  const { source } = job;
  try {
    if (source.kind === "url") {
      const response = await deps.sourceFetch(source.url);
      if (!response.ok) {
        await response.body?.cancel();
        throw new SourceHttpError(source.url, response.status);
      }
      return Buffer.from(await response.arrayBuffer());
    }
    const object = await deps.s3.send(new GetObjectCommand({ Bucket: source.bucket, Key: source.key }));
    return Buffer.from(await object.Body!.transformToByteArray());
  } catch (error) {
    const problem = sourceProblemOf(error, sourceLabel(source));
    if (problem) throw new PlanError(problem.code, problem.message);
    throw error;
  }
}

function outputKey(job: OutpaintJob, plan: JobPlan, variant: number): string {
  const sourceKey = job.source.kind === "s3" ? job.source.key : new URL(job.source.url).pathname.slice(1);
  const { dir, name } = splitKey(sourceKey);
  const ext = EXTENSIONS[job.output.format];
  const variantSuffix = job.options.variants > 1 ? `-v${variant + 1}` : "";
  const sizeSuffix = plan.exactSizeMet ? "" : `-${plan.output.width}x${plan.output.height}`;
  return renderKeyTemplate(job.output.keyTemplate, {
    prefix: job.output.prefix ?? "",
    target: plan.targetLabel,
    dir,
    name: `${name}${sizeSuffix}${variantSuffix}`,
    ext,
    variant: String(variant + 1),
  });
}

/**
 * The source already has the target's shape (at the planned scale): outpainting has nothing to add
 * (the provider needs one margin > 0), so the output is the source, resized to the plan, re-encoded
 * to the output format, without a provider call or its cost. A watermark needs the provider, so that
 * combination is refused instead.
 */
async function copyStep(
  jobId: string,
  job: OutpaintJob,
  state: StepState,
  source: Size,
  canvas: CanvasPlan,
  deps: OutpaintDeps,
): Promise<StepState> {
  if (job.options.watermark) {
    throw new PlanError(
      "already-at-target",
      "the source is already at the target and a watermark needs an outpaint",
    );
  }
  const now = deps.now();
  const plan: JobPlan = {
    ...canvas,
    sourceRef: originalSourceRef(job),
    targetLabel: targetLabel(job.target as Target),
    contentType: CONTENT_TYPES[job.output.format],
  };
  const key = outputKey(job, plan, 0);
  const decoded = sharp(await downloadSource(job, deps)).rotate();
  const encoder = resizes(source, plan.output)
    ? decoded.resize(plan.output.width, plan.output.height, { fit: "fill" })
    : decoded;
  const format = { JPG: "jpeg", PNG: "png", WEBP: "webp" } as const;
  const bytes = await encoder.toFormat(format[job.output.format], { quality: job.output.quality }).toBuffer();
  await deps.s3.send(
    new PutObjectCommand({ Bucket: job.output.bucket, Key: key, Body: bytes, ContentType: plan.contentType }),
  );
  deps.logger.info({ jobId, key }, "the source is already at the target: copied without a provider call");
  const copy: TaskState = {
    variant: 0,
    generation: 0,
    taskUUID: `copy-${jobId}`,
    key,
    confirmed: true,
    submitAttempts: 0,
    deadline: now,
  };
  return { ...state, step: "finalize", plan, tasks: [copy], plannedAt: now, submittedAt: now };
}
