import type { ImageInferenceResult, ImageInferenceTask, ProviderErrorObject } from "@reframe/runware";
import sharp from "sharp";
import { readInputBytes } from "./engine/index.ts";
import { type GenerationDeps, resolveStored, runTask } from "./generation.ts";
import type { TaskRecord } from "./task-store.ts";
import { type CanvasCheck, checkCanvas, checkTask, providerError, type TaskCheck } from "./validation.ts";

export interface EndpointSettings {
  apiKeys: ReadonlySet<string>;
  retentionS: number;
  retryAfterS: number;
  timeoutDelayMs: number;
}

export interface EndpointReply {
  status: number;
  body: { data?: unknown[]; errors?: ProviderErrorObject[] };
  headers?: Record<string, string>;
  /** Hold the answer this long (the timeout fault): the work is done, the client gives up first. */
  delayMs?: number;
}

type Accepted = {
  task: ImageInferenceTask;
  record: TaskRecord;
  source: Buffer;
  canvas: Extract<CanvasCheck, { ok: true }>;
};

/**
 * POST /v1: a JSON array of tasks. Auth is the Bearer header or an authentication task first in the
 * array (docs/provider-protocol.md §1.2). Every task is checked before any starts; answers and errors are per
 * task; the HTTP status is 200 when anything succeeded, else the worst error's status.
 */
export async function handleInference(
  body: unknown,
  authorization: string | undefined,
  settings: EndpointSettings,
  deps: GenerationDeps,
): Promise<EndpointReply> {
  deps.store.totals.requests += 1;
  if (!Array.isArray(body)) {
    return {
      status: 400,
      body: {
        errors: [providerError("invalidRequestBody", "The request body must be a JSON array of tasks.")],
      },
    };
  }
  const checks = body.map(checkTask);
  const auth = authenticate(authorization, checks, settings.apiKeys);
  if (auth) return auth;
  const fault = httpFault(settings, deps);
  if (fault) return fault;
  const data: unknown[] = [];
  const errors: ProviderErrorObject[] = [];
  let worst = 0;
  const fail = (status: number, error: ProviderErrorObject) => {
    errors.push(error);
    worst = Math.max(worst, status);
  };
  const accepted: (Accepted & { sync: boolean })[] = [];
  await Promise.all(
    checks.map(async (check) => {
      if (!check.ok) return fail(check.status, check.error);
      if (check.kind === "authentication") return;
      if (check.kind === "getResponse") return answerPoll(check.taskUUID, deps, data, fail);
      const admitted = await admit(check.task, settings, deps);
      if ("error" in admitted) return fail(admitted.status, admitted.error);
      accepted.push({ ...admitted, sync: (check.task.deliveryMethod ?? "sync") === "sync" });
    }),
  );
  const syncRuns: Promise<void>[] = [];
  for (const entry of accepted) {
    const run = runTask(entry.record, entry.source, entry.canvas, deps);
    if (entry.sync) syncRuns.push(run.then(() => collectSync(entry.record, data, fail)));
    else data.push({ taskType: "imageInference", taskUUID: entry.task.taskUUID });
  }
  await Promise.all(syncRuns);
  const status = data.length > 0 || errors.length === 0 ? 200 : worst;
  const reply: EndpointReply = {
    status,
    body: { ...(data.length ? { data } : {}), ...(errors.length ? { errors } : {}) },
  };
  if (deps.faults.hits("timeoutRate")) reply.delayMs = settings.timeoutDelayMs;
  return reply;
}

function authenticate(
  authorization: string | undefined,
  checks: TaskCheck[],
  keys: ReadonlySet<string>,
): EndpointReply | undefined {
  const bearer = authorization?.match(/^Bearer\s+(.+)$/i)?.[1]?.trim();
  const first = checks[0];
  const fromTask = first?.ok && first.kind === "authentication" ? first.apiKey : undefined;
  const key = bearer ?? fromTask;
  if (key !== undefined && keys.has(key)) return undefined;
  const code = key === undefined ? "missingApiKey" : "invalidApiKey";
  const message =
    key === undefined
      ? "No API key: send Authorization: Bearer <key> or an authentication task first."
      : "Invalid API key.";
  return {
    status: 401,
    body: { errors: [providerError(code, message, { parameter: "apiKey", taskType: "authentication" })] },
  };
}

/** 429 / 503 / 504 on the request as a whole, as the provider signals capacity (docs/provider-protocol.md §7). */
function httpFault(settings: EndpointSettings, deps: GenerationDeps): EndpointReply | undefined {
  if (deps.faults.hits("rate429")) {
    return {
      status: 429,
      headers: { "retry-after": String(settings.retryAfterS) },
      body: {
        errors: [
          providerError("rateLimitExceeded", "Queue capacity exceeded; retry with backoff (injected fault)."),
        ],
      },
    };
  }
  if (deps.faults.hits("rate503"))
    return {
      status: 503,
      body: {
        errors: [providerError("serviceUnavailable", "Temporary capacity constraint (injected fault).")],
      },
    };
  if (deps.faults.hits("rate504"))
    return {
      status: 504,
      body: {
        errors: [
          providerError("timeoutProvider", "The request exceeded the maximum queue wait (injected fault)."),
        ],
      },
    };
  return undefined;
}

async function admit(
  task: ImageInferenceTask,
  settings: EndpointSettings,
  deps: GenerationDeps,
): Promise<Omit<Accepted, "sync"> | { status: number; error: ProviderErrorObject }> {
  deps.store.count(task.taskUUID, "submits");
  if (!deps.store.claim(task.taskUUID)) {
    deps.store.count(task.taskUUID, "conflicts");
    return {
      status: 400,
      error: providerError("conflictTaskUUID", "A task with this taskUUID already exists.", {
        parameter: "taskUUID",
        taskUUID: task.taskUUID,
        taskType: "imageInference",
      }),
    };
  }
  try {
    return await admitClaimed(task, settings, deps);
  } finally {
    deps.store.unclaim(task.taskUUID);
  }
}

async function admitClaimed(
  task: ImageInferenceTask,
  settings: EndpointSettings,
  deps: GenerationDeps,
): Promise<Omit<Accepted, "sync"> | { status: number; error: ProviderErrorObject }> {
  const scope = { taskUUID: task.taskUUID, taskType: "imageInference" };
  let source: Buffer;
  let size: { width: number; height: number };
  try {
    source = await readInputBytes(task.inputs.image, {
      fetchTimeoutMs: deps.settings.fetchTimeoutMs,
      maxBytes: deps.settings.maxInputBytes,
      resolveUUID: resolveStored(deps),
    });
    size = await admittedSize(source, deps.settings);
  } catch (error) {
    const code = (error as { code?: string }).code ?? "invalidImage";
    return {
      status: 400,
      error: providerError(code, (error as Error).message, { parameter: "inputs.image", ...scope }),
    };
  }
  const canvas = checkCanvas(size, task.outpaint, task.settings?.autoCrop ?? false, task.taskUUID);
  if (!canvas.ok) return { status: 422, error: canvas.error };
  const now = deps.now();
  const record: TaskRecord = {
    taskUUID: task.taskUUID,
    task,
    createdAt: now,
    expiresAt: now + settings.retentionS * 1000 * deps.settings.timeScale,
    generations: Array.from({ length: task.numberResults ?? 1 }, () => ({ status: "processing" as const })),
  };
  deps.store.add(record);
  deps.store.count(task.taskUUID, "accepted");
  return { task, record, source, canvas };
}

/**
 * The input's size as displayed (EXIF orientation applied, as decoders do), once it is a format the
 * emulator accepts (EMULATOR_INPUT_FORMATS) with pixels it accepts (EMULATOR_INPUT_PIXELS).
 */
async function admittedSize(
  bytes: Buffer,
  settings: Pick<GenerationDeps["settings"], "inputFormats" | "inputPixels">,
): Promise<{ width: number; height: number }> {
  const refuse = (message: string) => Object.assign(new Error(message), { code: "invalidImage" });
  const meta = await sharp(bytes).metadata();
  if (!meta.width || !meta.height || !settings.inputFormats.has(meta.format ?? "")) {
    throw refuse(
      `inputs.image is ${meta.format ?? "no image"}, not one of ${[...settings.inputFormats].join(", ")}.`,
    );
  }
  if (settings.inputPixels === "8bit-rgb") {
    if (meta.depth && meta.depth !== "uchar")
      throw refuse(`inputs.image has ${meta.depth} samples, not 8-bit.`);
    if (meta.space === "cmyk") throw refuse("inputs.image is CMYK, not RGB.");
  }
  const swapped = (meta.orientation ?? 1) >= 5;
  return swapped ? { width: meta.height, height: meta.width } : { width: meta.width, height: meta.height };
}

function answerPoll(
  taskUUID: string,
  deps: GenerationDeps,
  data: unknown[],
  fail: (status: number, error: ProviderErrorObject) => void,
): void {
  deps.store.count(taskUUID, "polls");
  const record = deps.store.get(taskUUID);
  if (!record) {
    fail(
      400,
      providerError("taskNotFound", "No task with this taskUUID (unknown or expired).", {
        parameter: "taskUUID",
        taskUUID,
        taskType: "getResponse",
      }),
    );
    return;
  }
  for (const generation of record.generations) data.push(pollItem(record, generation));
}

function pollItem(record: TaskRecord, generation: TaskRecord["generations"][number]): ImageInferenceResult {
  const base = { taskType: "imageInference", taskUUID: record.taskUUID };
  if (generation.status === "success") return { ...generation.result!, status: "success" };
  if (generation.status === "error") return { ...base, status: "error", error: generation.error };
  return { ...base, status: "processing" };
}

function collectSync(
  record: TaskRecord,
  data: unknown[],
  fail: (status: number, error: ProviderErrorObject) => void,
): void {
  for (const generation of record.generations) {
    if (generation.status === "success") data.push(generation.result);
    else
      fail(
        400,
        providerError(generation.error?.code ?? "inferenceError", generation.error?.message ?? "failed", {
          taskUUID: record.taskUUID,
          taskType: "imageInference",
        }),
      );
  }
}
