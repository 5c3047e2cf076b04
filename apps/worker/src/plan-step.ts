import { createReadStream } from "node:fs";
import { rm } from "node:fs/promises";
import { join } from "node:path";
import { PutObjectCommand } from "@aws-sdk/client-s3";
import {
  type CanvasPlan,
  isCopyPlan,
  OUTPAINT_LIMITS,
  planCanvas,
  type Size,
  targetLabel,
} from "@reframe/geometry";
import {
  describeImageFile,
  type Encoding,
  type ImageFile,
  providerInputEncoding,
  renderImage,
} from "@reframe/images";
import type { JobPlan, OutpaintJob, PreparedSource, SourceRef, StepState, TaskState } from "@reframe/jobs";
import { OUTPUT_FORMAT_FILES } from "@reframe/runware";
import {
  downloadSource,
  inspectSource,
  type SourceInspection,
  sourceLabel,
  sourceProblemOf,
} from "@reframe/sources";
import { KeyTemplateError, renderKeyTemplate, splitKey } from "@reframe/storage";
import type { StepEvent } from "./step-machine.ts";
import { taskUUIDFor } from "./task-uuid.ts";
import type { OutpaintDeps } from "./worker-deps.ts";
import { imageWork } from "./worker-telemetry.ts";

/**
 * The source needs image work (conversion, scaling) and this process has no source slot free: the
 * processor parks the job for a moment instead of holding a worker slot while it waits.
 */
export class ImageWorkBusyError extends Error {
  /** How long the job should stay parked (the image slots' estimate of when one is free for it). */
  readonly retryInMs: number;
  constructor(retryInMs: number) {
    super("every source slot of this worker is taken");
    this.name = "ImageWorkBusyError";
    this.retryInMs = retryInMs;
  }
}

/** A plan that cannot be made: the job fails with this code and message (terminal). */
export class PlanError extends Error {
  readonly code: string;
  constructor(code: string, message: string) {
    super(message);
    this.name = "PlanError";
    this.code = code;
  }
}

/** What the plan step found: the machine's `planned` event (step-machine.ts), which decides the step. */
type PlannedEvent = Extract<StepEvent, { kind: "planned" }>;

export async function planStep(
  jobId: string,
  job: OutpaintJob,
  state: StepState,
  deps: OutpaintDeps,
): Promise<PlannedEvent> {
  const now = deps.now();
  // A job parked for want of a source slot comes back to this plan: its inspection is remembered
  // in this process (a few hundred bytes each) so that waiting costs no S3 reads.
  const inspected =
    deps.inspections.get(jobId) ??
    (await inspectSource(job.source, {
      s3: deps.s3,
      sourceFetch: deps.sourceFetch,
      limits: deps.settings.sourceLimits,
    }));
  if (!inspected.ok) throw new PlanError(inspected.code, inspected.message);
  const local = localSource(jobId, job, deps);
  let busy = false;
  try {
    // A source the provider cannot read as it is is planned from what its decoder sees (a HEIF's
    // rotation, a GIF's first frame), not from its header.
    const conversions = inspected.image?.conversions ?? [];
    const source = conversions.length > 0 ? await local.describe() : inspected.size;
    const planned = planCanvas({
      source,
      target: job.target,
      limits: OUTPAINT_LIMITS,
      policy: job.options,
    });
    if (!planned.ok) throw new PlanError(planned.reason, planned.message);
    const canvas = planned.plan;
    if (isCopyPlan(canvas)) return await copyStep(jobId, job, canvas, local, deps);
    // A source the plan scales, up (a fit) or down (a fit, or the provider's limits), is resized here
    // with sharp (Lanczos) into the scratch area, and the provider reads that copy. Upscaling is not
    // sent to the provider as an upscale task: that would be a second paid task per job (the dry run
    // would have to price it), a second wait with its own failures, and its fixed factors (2×, 4×)
    // would still need a resize to the planned pixels; the outpaint redraws around the source anyway.
    const prepared =
      conversions.length > 0 || resizes(source, canvas.scaledSource)
        ? await prepareSource(jobId, canvas.scaledSource, local, conversions, deps)
        : undefined;
    const plan: JobPlan = {
      ...canvas,
      sourceRef: prepared?.ref ?? originalSourceRef(job),
      ...(prepared ? { preparedSource: prepared.description } : {}),
      targetLabel: targetLabel(job.target),
      contentType: OUTPUT_FORMAT_FILES[job.output.format].contentType,
    };
    const deadline = now + job.options.deadlineSeconds * 1000;
    // A failed job retried (`reframe batch retry`) is planned again with its earlier tasks kept in
    // the state: its new tasks come after them, since a taskUUID the provider has seen is answered
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
    return { kind: "planned", plan, tasks, copied: false };
  } catch (error) {
    busy = error instanceof ImageWorkBusyError;
    if (busy) remember(deps.inspections, jobId, inspected);
    throw error;
  } finally {
    if (!busy) deps.inspections.delete(jobId);
    await local.remove();
  }
}

/** Inspections of parked jobs kept at most: the oldest go first (they are read again if needed). */
const REMEMBERED_INSPECTIONS = 10_000;

function remember(inspections: Map<string, SourceInspection>, jobId: string, inspected: SourceInspection) {
  inspections.delete(jobId);
  inspections.set(jobId, inspected);
  if (inspections.size > REMEMBERED_INSPECTIONS) inspections.delete(inspections.keys().next().value!);
}

function resizes(source: Size, scaled: Size): boolean {
  return source.width !== scaled.width || source.height !== scaled.height;
}

function originalSourceRef(job: OutpaintJob): SourceRef {
  return job.source.kind === "s3"
    ? { kind: "s3", bucket: job.source.bucket, key: job.source.key }
    : { kind: "url", url: job.source.url };
}

/**
 * The job's source as a local file, downloaded on first use (S3, or a URL through the egress guard,
 * stopping past MAX_SOURCE_BYTES) within a source slot, and removed when the plan is made. A file rather than a buffer:
 * libvips reads it itself, so the worker's memory does not follow the source's size.
 */
interface LocalSource {
  /** The source's name for messages: s3://bucket/key or the URL. */
  where: string;
  path(): Promise<string>;
  describe(): Promise<ImageFile>;
  remove(): Promise<void>;
}

function localSource(jobId: string, job: OutpaintJob, deps: OutpaintDeps): LocalSource {
  const file = join(deps.settings.workDirectory, `${jobId}-source`);
  const where = sourceLabel(job.source);
  let downloaded: Promise<string> | undefined;
  let described: Promise<ImageFile> | undefined;
  let release: (() => void) | undefined;
  const path = () => {
    if (!downloaded) {
      const hold = deps.imageSlots.tryHoldSource(jobId);
      if ("retryInMs" in hold) throw new ImageWorkBusyError(hold.retryInMs);
      downloaded = classified(where, async () => {
        // In the process's line for a source slot: handed one as soon as another job frees it.
        release = ("release" in hold ? hold : await hold.queued).release;
        await downloadSource(job.source, deps, file, deps.settings.sourceLimits);
        return file;
      });
    }
    return downloaded;
  };
  return {
    where,
    path,
    describe() {
      described ??= path().then((at) =>
        classified(where, () => describeImageFile(at, deps.settings.sourceLimits)),
      );
      return described;
    },
    async remove() {
      if (downloaded) {
        await downloaded.catch(() => undefined);
        await rm(file, { force: true });
      }
      release?.();
    },
  };
}

/** A problem retrying cannot fix becomes the job's terminal reason; anything else is thrown for retries. */
async function classified<T>(where: string, work: () => Promise<T>): Promise<T> {
  try {
    return await work();
  } catch (error) {
    const problem = sourceProblemOf(error, where);
    if (problem) throw new PlanError(problem.code, problem.message);
    throw error;
  }
}

/**
 * The provider is given a copy of the source in the scratch area instead of the original: scaled to
 * the plan (down to fit the provider's limits, or up to fit an exact size) and converted to an 8-bit
 * sRGB JPEG or PNG (see renderProviderInput), within an image slot (IMAGE_CONCURRENCY per process).
 * The copy is uploaded from its file, so no image buffer outlives the slot.
 */
async function prepareSource(
  jobId: string,
  size: { width: number; height: number },
  local: LocalSource,
  conversions: string[],
  deps: OutpaintDeps,
): Promise<{ ref: SourceRef; description: PreparedSource }> {
  const described = await local.describe();
  const encoding = providerInputEncoding(described);
  const rendered = await renderInSlot(jobId, "prescale", local, size, encoding, deps);
  try {
    const key = `${deps.settings.scratchPrefix}${jobId}.${encoding.format}`;
    await deps.written.record(deps.settings.scratchBucket, [key]);
    await uploadFile(deps, deps.settings.scratchBucket, key, rendered, encoding.contentType);
    return {
      ref: { kind: "s3", bucket: deps.settings.scratchBucket, key },
      description: { format: described.format, conversions, animated: described.animated },
    };
  } finally {
    await rm(rendered.file, { force: true });
  }
}

/**
 * Decodes, converts and scales the local source within an image slot (IMAGE_CONCURRENCY per
 * process); the time inside the slot is the image work measured (reframe_image_work_seconds).
 */
async function renderInSlot(
  jobId: string,
  operation: "prescale" | "copy",
  local: LocalSource,
  size: { width: number; height: number },
  encoding: Encoding,
  deps: OutpaintDeps,
): Promise<{ file: string; bytes: number }> {
  const source = await local.path();
  const described = await local.describe();
  const file = join(deps.settings.workDirectory, `${jobId}-rendered.${encoding.format}`);
  return deps.imageSlots.run(() =>
    imageWork(deps.metrics, operation, { jobId }, () =>
      classified(local.where, () =>
        renderImage({ source, described, size, file, encoding, limits: deps.settings.sourceLimits }),
      ),
    ),
  );
}

/** Uploads from the file: no image buffer outlives its slot. */
async function uploadFile(
  deps: OutpaintDeps,
  bucket: string,
  key: string,
  rendered: { file: string; bytes: number },
  contentType: string,
): Promise<void> {
  await deps.s3.send(
    new PutObjectCommand({
      Bucket: bucket,
      Key: key,
      Body: createReadStream(rendered.file),
      ContentLength: rendered.bytes,
      ContentType: contentType,
    }),
  );
}

function outputKey(job: OutpaintJob, plan: JobPlan, variant: number): string {
  const sourceKey = job.source.kind === "s3" ? job.source.key : new URL(job.source.url).pathname.slice(1);
  const { dir, name } = splitKey(sourceKey);
  const ext = OUTPUT_FORMAT_FILES[job.output.format].extension;
  const variantSuffix = job.options.variants > 1 ? `-v${variant + 1}` : "";
  const sizeSuffix = plan.exactSizeMet ? "" : `-${plan.output.width}x${plan.output.height}`;
  try {
    return renderKeyTemplate(job.output.keyTemplate, {
      prefix: job.output.prefix ?? "",
      target: plan.targetLabel,
      dir,
      name: `${name}${sizeSuffix}${variantSuffix}`,
      ext,
      variant: String(variant + 1),
    });
  } catch (error) {
    // A key without a file name (a source key ending in "/") would land outside the output area.
    if (error instanceof KeyTemplateError) throw new PlanError("outputKeyInvalid", error.message);
    throw error;
  }
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
  canvas: CanvasPlan,
  local: LocalSource,
  deps: OutpaintDeps,
): Promise<PlannedEvent> {
  if (job.options.watermark) {
    throw new PlanError(
      "already-at-target",
      "the source is already at the target and a watermark needs an outpaint",
    );
  }
  const now = deps.now();
  const output = OUTPUT_FORMAT_FILES[job.output.format];
  const plan: JobPlan = {
    ...canvas,
    sourceRef: originalSourceRef(job),
    targetLabel: targetLabel(job.target),
    contentType: output.contentType,
  };
  const key = outputKey(job, plan, 0);
  const encoding: Encoding = { format: output.extension, quality: job.output.quality, flatten: false };
  const rendered = await renderInSlot(jobId, "copy", local, plan.output, encoding, deps);
  try {
    await deps.written.record(job.output.bucket, [key]);
    await uploadFile(deps, job.output.bucket, key, rendered, output.contentType);
  } finally {
    await rm(rendered.file, { force: true });
  }
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
  return { kind: "planned", plan, tasks: [copy], copied: true };
}
