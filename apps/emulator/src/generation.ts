import { randomUUID } from "node:crypto";
import { connectionProblem, publicUrl, unreachableMessage } from "@reframe/reachability";
import { type ImageInferenceResult, type ImageInferenceTask, OUTPUT_FORMAT_FILES } from "@reframe/runware";
import type { Logger } from "@reframe/telemetry";
import sharp from "sharp";
import {
  applyWatermark,
  blankImage,
  decodeImageBytes,
  decodeInputImage,
  EngineInputError,
  encodeOutput,
  outpaintImage,
  type RawImage,
  type ResolveImageUUID,
} from "./engine/index.ts";
import type { FaultSampler } from "./faults.ts";
import type { Generation, TaskRecord, TaskStore } from "./task-store.ts";
import type { CanvasCheck } from "./validation.ts";
import type { WebhookDispatcher } from "./webhook-dispatcher.ts";

interface GenerationSettings {
  latency: { min: number; max: number };
  /** "throughput" skips the engine: a flat image of the planned size and format is uploaded. */
  mode: "render" | "throughput";
  defaultTtlS: number;
  uploadRetries: number;
  fetchTimeoutMs: number;
  maxInputBytes: number;
  /** EMULATOR_INPUT_FORMATS: sharp's format names accepted as inputs.image. */
  inputFormats: ReadonlySet<string>;
  /** EMULATOR_INPUT_PIXELS. */
  inputPixels: "8bit-rgb" | "any";
  publicUrl: string;
  timeScale: number;
}

/** $0.10 per started megapixel (1,048,576 px) of output (docs/provider-protocol.md §2.1). */
const costOf = (width: number, height: number) => Math.ceil((width * height) / 1_048_576) / 10;

/** A small counting semaphore: image work runs at most `limit` at a time so requests stay answered. */
export class Semaphore {
  private active = 0;
  private readonly waiting: (() => void)[] = [];
  private readonly limit: number;
  constructor(limit: number) {
    this.limit = limit;
  }
  async run<T>(work: () => Promise<T>): Promise<T> {
    if (this.active >= this.limit) await new Promise<void>((resolve) => this.waiting.push(resolve));
    this.active += 1;
    try {
      return await work();
    } finally {
      this.active -= 1;
      this.waiting.shift()?.();
    }
  }
}

export interface GenerationDeps {
  settings: GenerationSettings;
  faults: FaultSampler;
  store: TaskStore;
  webhooks: WebhookDispatcher;
  semaphore: Semaphore;
  logger: Logger;
  now(): number;
}

/** Runs every generation of an accepted task; each ends in success or error, never throws. */
export async function runTask(
  record: TaskRecord,
  source: Buffer,
  canvas: Extract<CanvasCheck, { ok: true }>,
  deps: GenerationDeps,
): Promise<void> {
  await Promise.all(
    record.generations.map((generation) => runGeneration(record, generation, source, canvas, deps)),
  );
}

async function runGeneration(
  record: TaskRecord,
  generation: Generation,
  source: Buffer,
  canvas: Extract<CanvasCheck, { ok: true }>,
  deps: GenerationDeps,
): Promise<void> {
  const { task } = record;
  await sleep(deps.faults.between(deps.settings.latency));
  try {
    if (deps.faults.hits("terminalErrorRate")) {
      deps.store.count(task.taskUUID, "terminalFaults");
      throw new GenerationError(
        "contentPolicyViolation",
        "The generated content was blocked by the content policy (injected fault).",
      );
    }
    const seed = deps.faults.seed();
    const rendered =
      deps.settings.mode === "throughput"
        ? await blank(task, canvas)
        : await deps.semaphore.run(() => render(task, source, canvas, seed, deps));
    await upload(task, rendered, deps);
    generation.result = resultItem(task, rendered, seed, deps);
    generation.status = "success";
    if (task.webhookURL) deps.webhooks.deliver(task.webhookURL, task.taskUUID, { data: [generation.result] });
  } catch (error) {
    const failure = toGenerationError(error);
    generation.status = "error";
    generation.error = { code: failure.code, message: failure.message };
    deps.logger.debug({ taskUUID: task.taskUUID, code: failure.code }, "generation failed");
    if (task.webhookURL) {
      deps.webhooks.deliver(task.webhookURL, task.taskUUID, {
        errors: [
          {
            code: failure.code,
            message: failure.message,
            taskUUID: task.taskUUID,
            taskType: "imageInference",
          },
        ],
      });
    }
  }
}

class GenerationError extends Error {
  readonly code: string;
  constructor(code: string, message: string) {
    super(message);
    this.code = code;
  }
}

function toGenerationError(error: unknown): GenerationError {
  if (error instanceof GenerationError) return error;
  if (error instanceof EngineInputError) return new GenerationError(error.code, error.message);
  return new GenerationError("inferenceError", `The generation failed: ${(error as Error).message}`);
}

interface Rendered {
  bytes: Buffer;
  contentType: string;
  width: number;
  height: number;
}

async function render(
  task: ImageInferenceTask,
  source: Buffer,
  canvas: Extract<CanvasCheck, { ok: true }>,
  seed: number,
  deps: GenerationDeps,
): Promise<Rendered> {
  const decoded = await decodeImageBytes(source, { formats: deps.settings.inputFormats });
  const cropped: RawImage = canvas.crop ? await crop(decoded, canvas.crop) : decoded;
  const extended = await outpaintImage({
    source: cropped,
    margins: canvas.margins,
    mode: task.settings?.mode ?? "high",
    seed,
  });
  const watermark = task.advancedFeatures?.watermark;
  const finished = watermark
    ? await applyWatermark(extended, watermark, {
        resolveImage: (image) =>
          decodeInputImage(image, {
            fetchTimeoutMs: deps.settings.fetchTimeoutMs,
            maxBytes: deps.settings.maxInputBytes,
            field: "advancedFeatures.watermark.image",
            resolveUUID: resolveStored(deps),
          }),
      })
    : extended;
  const encoded = await encodeOutput(finished, {
    format: task.outputFormat ?? "JPG",
    quality: task.outputQuality ?? 95,
    alpha: decoded.hasAlpha,
  });
  return { ...encoded, width: finished.width, height: finished.height };
}

async function blank(
  task: ImageInferenceTask,
  canvas: Extract<CanvasCheck, { ok: true }>,
): Promise<Rendered> {
  const encoded = await blankImage(task.outputFormat ?? "JPG", canvas.width, canvas.height);
  return { ...encoded, width: canvas.width, height: canvas.height };
}

async function crop(
  image: RawImage,
  region: { left: number; top: number; width: number; height: number },
): Promise<RawImage> {
  const { data, info } = await sharp(image.data, {
    raw: { width: image.width, height: image.height, channels: 4 },
  })
    .extract(region)
    .raw()
    .toBuffer({ resolveWithObject: true });
  return { data, width: info.width, height: info.height };
}

export function resolveStored(deps: Pick<GenerationDeps, "store">): ResolveImageUUID {
  return (imageUUID) => deps.store.image(imageUUID)?.bytes;
}

/** PUT of the raw bytes with their Content-Type; a few quick retries, then the generation fails. */
async function upload(task: ImageInferenceTask, rendered: Rendered, deps: GenerationDeps): Promise<void> {
  if (!task.uploadEndpoint) return;
  if (deps.faults.hits("uploadFailureRate")) {
    deps.store.count(task.taskUUID, "uploadFaults");
    throw new GenerationError(
      "uploadFailed",
      "Uploading the result to uploadEndpoint failed (injected fault).",
    );
  }
  let lastStatus = "";
  for (let attempt = 0; attempt <= deps.settings.uploadRetries; attempt += 1) {
    deps.store.count(task.taskUUID, "uploads");
    try {
      const response = await fetch(task.uploadEndpoint, {
        method: "PUT",
        headers: { "content-type": rendered.contentType, "content-length": String(rendered.bytes.length) },
        body: rendered.bytes,
        signal: AbortSignal.timeout(deps.settings.fetchTimeoutMs),
      });
      await response.body?.cancel();
      if (response.ok) return;
      lastStatus = `HTTP ${response.status}`;
      // A refused signature or an expired URL will not get better by retrying.
      if (response.status === 403 || response.status === 400) break;
    } catch (error) {
      const problem = connectionProblem(error);
      lastStatus = problem
        ? unreachableMessage({ service: "S3", at: publicUrl(task.uploadEndpoint) }, problem)
        : (error as Error).message;
    }
  }
  throw new GenerationError("uploadFailed", `Uploading the result to uploadEndpoint failed (${lastStatus}).`);
}

function resultItem(
  task: ImageInferenceTask,
  rendered: Rendered,
  seed: number,
  deps: GenerationDeps,
): ImageInferenceResult {
  const imageUUID = randomUUID();
  const outputType = task.outputType ?? "URL";
  const item: ImageInferenceResult = { taskType: "imageInference", taskUUID: task.taskUUID, imageUUID, seed };
  const ttlS = task.ttl ?? deps.settings.defaultTtlS;
  // Every result can be referenced by imageUUID later (as inputs.image or a watermark image).
  deps.store.putImage(imageUUID, {
    bytes: rendered.bytes,
    contentType: rendered.contentType,
    expiresAt: deps.now() + ttlS * 1000 * deps.settings.timeScale,
  });
  if (outputType === "URL")
    item.imageURL = `${deps.settings.publicUrl}/images/${imageUUID}.${OUTPUT_FORMAT_FILES[task.outputFormat ?? "JPG"].extension}`;
  else if (outputType === "base64Data") item.imageBase64Data = rendered.bytes.toString("base64");
  else item.imageDataURI = `data:${rendered.contentType};base64,${rendered.bytes.toString("base64")}`;
  if (task.includeCost) item.cost = costOf(rendered.width, rendered.height);
  if (task.safety?.checkContent) item.NSFWContent = deps.faults.hits("nsfwRate");
  return item;
}

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));
