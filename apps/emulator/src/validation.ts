import {
  authenticationTaskSchema,
  getResponseTaskSchema,
  type ImageInferenceTask,
  imageInferenceTaskSchema,
  type ProviderErrorObject,
  RUNWARE_OUTPAINTING_MODEL,
} from "@reframe/runware";
import type { z } from "zod";

/**
 * Request validation with the provider's envelope, codes and parameter names
 * (docs/provider-protocol.md §1.6, §1.7, §10). Where the real API's exact code is undocumented the
 * emulator follows the SDK's families (README "Choices"):
 *   a key the model does not declare   → unsupportedParameter, parameter = its path (width, height, positivePrompt, …)
 *   a required parameter that is absent → missing<Path>, e.g. missingInputsImage
 *   a value that breaks a rule          → invalid<Path>, e.g. invalidOutputQuality
 * All are HTTP 400; the canvas limits (checked once the input's size is known) are HTTP 422.
 */

export type TaskCheck =
  | { ok: true; kind: "imageInference"; task: ImageInferenceTask }
  | { ok: true; kind: "getResponse"; taskUUID: string }
  | { ok: true; kind: "authentication"; apiKey: string }
  | { ok: false; status: number; error: ProviderErrorObject };

const DOCS = "https://runware.ai/docs/models/bfl-flux-outpainting";

const pascal = (path: readonly PropertyKey[]) =>
  path
    .filter((segment) => typeof segment === "string")
    .map((segment) => String(segment).charAt(0).toUpperCase() + String(segment).slice(1))
    .join("");

export function providerError(
  code: string,
  message: string,
  extra: Partial<ProviderErrorObject> = {},
): ProviderErrorObject {
  return { code, message, ...extra };
}

export function checkTask(raw: unknown): TaskCheck {
  if (raw === null || typeof raw !== "object" || Array.isArray(raw)) {
    return invalid(400, providerError("invalidTask", "Each task must be a JSON object."));
  }
  const candidate = raw as Record<string, unknown>;
  const taskUUID = typeof candidate.taskUUID === "string" ? candidate.taskUUID : undefined;
  const taskType = candidate.taskType;
  const scope = { ...(taskUUID ? { taskUUID } : {}), ...(typeof taskType === "string" ? { taskType } : {}) };
  switch (taskType) {
    case "authentication": {
      const parsed = authenticationTaskSchema.safeParse(raw);
      return parsed.success
        ? { ok: true, kind: "authentication", apiKey: parsed.data.apiKey }
        : issueError(parsed.error, scope);
    }
    case "getResponse": {
      const parsed = getResponseTaskSchema.safeParse(raw);
      return parsed.success
        ? { ok: true, kind: "getResponse", taskUUID: parsed.data.taskUUID }
        : issueError(parsed.error, scope);
    }
    case "imageInference": {
      if (candidate.model !== undefined && candidate.model !== RUNWARE_OUTPAINTING_MODEL) {
        return invalid(
          400,
          providerError("unsupportedModel", `The emulator serves only ${RUNWARE_OUTPAINTING_MODEL}.`, {
            parameter: "model",
            ...scope,
          }),
        );
      }
      const parsed = imageInferenceTaskSchema.safeParse(raw);
      return parsed.success
        ? { ok: true, kind: "imageInference", task: parsed.data }
        : issueError(parsed.error, scope);
    }
    case undefined:
      return invalid(
        400,
        providerError("missingTaskType", "The taskType parameter is required.", {
          parameter: "taskType",
          ...scope,
        }),
      );
    default:
      return invalid(
        400,
        providerError("unsupportedTaskType", `The task type ${String(taskType)} is not supported.`, {
          parameter: "taskType",
          ...scope,
        }),
      );
  }
}

function invalid(status: number, error: ProviderErrorObject): TaskCheck {
  return { ok: false, status, error };
}

/** The first zod issue, in the provider's words. Unknown keys come first: they are the commonest mistake. */
function issueError(error: z.ZodError, scope: Partial<ProviderErrorObject>): TaskCheck {
  const issues = [...error.issues].sort(
    (a, b) => Number(b.code === "unrecognized_keys") - Number(a.code === "unrecognized_keys"),
  );
  const issue = issues[0]!;
  if (issue.code === "unrecognized_keys") {
    const key = issue.keys[0]!;
    const parameter = [...issue.path.map(String), key].join(".");
    return invalid(
      400,
      providerError(
        "unsupportedParameter",
        `The parameter ${parameter} is not supported by ${RUNWARE_OUTPAINTING_MODEL}.`,
        {
          parameter,
          documentation: `${DOCS}#request-${key}`,
          ...scope,
        },
      ),
    );
  }
  const parameter = issue.path.map(String).join(".") || "task";
  const missing = issue.code === "invalid_type" && issue.input === undefined;
  const code = `${missing ? "missing" : "invalid"}${pascal(issue.path) || "Task"}`;
  const message = missing
    ? `The parameter ${parameter} is required.`
    : `Invalid value for ${parameter}: ${issue.message}.`;
  const allowed = issue.code === "invalid_value" ? { allowedValues: issue.values as unknown[] } : {};
  return invalid(
    400,
    providerError(code, message, {
      parameter,
      documentation: `${DOCS}#request-${parameter.split(".").at(-1)}`,
      ...allowed,
      ...scope,
    }),
  );
}

const CANVAS_LIMITS = { maxSide: 2048, maxArea: 4_194_304, minSide: 64 } as const;

export interface Margins {
  top: number;
  right: number;
  bottom: number;
  left: number;
}

export type CanvasCheck =
  | {
      ok: true;
      margins: Margins;
      width: number;
      height: number;
      crop?: { left: number; top: number; width: number; height: number };
    }
  | { ok: false; error: ProviderErrorObject };

/**
 * The canvas is the source plus the margins. Over the limits (each side ≤ 2048, area ≤ 4,194,304,
 * sides ≥ 64) it is an HTTP 422 — unless settings.autoCrop, which shrinks the canvas to fit: each
 * axis's margins shrink in proportion, and a source larger than the canvas is cropped around its centre.
 */
export function checkCanvas(
  source: { width: number; height: number },
  outpaint: Partial<Margins>,
  autoCrop: boolean,
  taskUUID: string,
): CanvasCheck {
  const margins = {
    top: outpaint.top ?? 0,
    right: outpaint.right ?? 0,
    bottom: outpaint.bottom ?? 0,
    left: outpaint.left ?? 0,
  };
  const width = source.width + margins.left + margins.right;
  const height = source.height + margins.top + margins.bottom;
  const { maxSide, maxArea, minSide } = CANVAS_LIMITS;
  if (width < minSide || height < minSide) {
    return {
      ok: false,
      error: providerError(
        "invalidOutpaint",
        `The canvas ${width}×${height} is below the minimum of ${minSide} px per side.`,
        { parameter: "outpaint", taskUUID, taskType: "imageInference" },
      ),
    };
  }
  if (width <= maxSide && height <= maxSide && width * height <= maxArea)
    return { ok: true, margins, width, height };
  if (!autoCrop) {
    return {
      ok: false,
      error: providerError(
        "invalidOutpaint",
        `The canvas ${width}×${height} exceeds the limits (each side ≤ ${maxSide} px, area ≤ ${maxArea} px); reduce outpaint or set settings.autoCrop.`,
        { parameter: ["outpaint", "settings.autoCrop"], taskUUID, taskType: "imageInference" },
      ),
    };
  }
  const factor = Math.min(1, maxSide / width, maxSide / height, Math.sqrt(maxArea / (width * height)));
  const fitW = Math.min(maxSide, Math.floor(width * factor));
  const fitH = Math.min(maxSide, Math.floor(height * factor));
  const [left, right, cropX, keptW] = shrinkAxis(source.width, margins.left, margins.right, fitW);
  const [top, bottom, cropY, keptH] = shrinkAxis(source.height, margins.top, margins.bottom, fitH);
  const cropped = keptW < source.width || keptH < source.height;
  return {
    ok: true,
    margins: { top, right, bottom, left },
    width: fitW,
    height: fitH,
    ...(cropped ? { crop: { left: cropX, top: cropY, width: keptW, height: keptH } } : {}),
  };
}

/** [before, after, crop offset, kept source length] for one axis shrunk to `target`. */
function shrinkAxis(
  sourceLength: number,
  before: number,
  after: number,
  target: number,
): [number, number, number, number] {
  if (target >= sourceLength) {
    const extra = target - sourceLength;
    const total = before + after;
    const newBefore = total === 0 ? 0 : Math.floor((extra * before) / total);
    return [newBefore, extra - newBefore, 0, sourceLength];
  }
  return [0, 0, Math.floor((sourceLength - target) / 2), target];
}
