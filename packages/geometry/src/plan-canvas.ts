import { outputCostUsd, type ProviderLimits } from "./limits.ts";
import { DEFAULT_PRESETS, type PresetTable } from "./presets.ts";
import { type Anchor, type AnchorName, parseRatio, type Target } from "./target.ts";

export interface Size {
  width: number;
  height: number;
}
export interface Margins {
  top: number;
  right: number;
  bottom: number;
  left: number;
}

export interface CanvasPlan {
  margins: Margins;
  output: Size;
  /** 1 = the source as it is; below 1 = pre-scaled so that the canvas fits the provider's limits. */
  sourceScale: number;
  scaledSource: Size;
  costUsd: number;
  /** False when an exact size (a preset's pixels) could not be met within the limits. */
  exactSizeMet: boolean;
  requested: Size | null;
  notes: string[];
}

export type PlanFailure = "over-limit" | "invalid-target" | "already-at-target" | "too-small";
export type PlanResult = { ok: true; plan: CanvasPlan } | { ok: false; reason: PlanFailure; message: string };

export interface PlanCanvasInput {
  source: Size;
  target: Target;
  /** Overrides the target's own anchor. */
  anchor?: Anchor;
  limits: ProviderLimits;
  /** When the canvas would break the limits: scale the source down, or refuse. */
  overLimit?: "prescale" | "fail";
  presets?: PresetTable;
}

const ANCHOR_FRACTIONS: Record<AnchorName, { x: number; y: number }> = {
  "top-left": { x: 0, y: 0 },
  top: { x: 0.5, y: 0 },
  "top-right": { x: 1, y: 0 },
  left: { x: 0, y: 0.5 },
  center: { x: 0.5, y: 0.5 },
  right: { x: 1, y: 0.5 },
  "bottom-left": { x: 0, y: 1 },
  bottom: { x: 0.5, y: 1 },
  "bottom-right": { x: 1, y: 1 },
};

/** What the canvas must be, before limits: a ratio to reach, an exact size, or fixed margins. */
type Goal =
  | { kind: "ratio"; ratio: number }
  | { kind: "size"; size: Size }
  | { kind: "margins"; margins: Margins };

/**
 * Plans an outpaint: the margins that take the source to the target, within the provider's limits.
 * Outpainting only adds: the source is never cropped. A ratio target gets the smallest canvas of
 * that ratio containing the source; an exact size pads to it (scaling the source down first if it
 * is larger); when the canvas breaks a limit the source is pre-scaled (or the plan refused).
 */
export function planCanvas(input: PlanCanvasInput): PlanResult {
  const goal = resolveGoal(input.target, input.presets ?? DEFAULT_PRESETS);
  if ("message" in goal) return { ok: false, reason: "invalid-target", message: goal.message };
  const anchor = fractionOf(
    input.anchor ?? ("anchor" in input.target ? input.target.anchor : undefined) ?? "center",
  );
  const overLimit = input.overLimit ?? "prescale";
  const notes: string[] = [];
  let scale = 1;
  let requested: Size | null = goal.kind === "size" ? goal.size : null;
  let sizeGoal = goal;
  if (
    goal.kind === "size" &&
    (input.source.width > goal.size.width || input.source.height > goal.size.height)
  ) {
    if (overLimit === "fail") {
      return {
        ok: false,
        reason: "over-limit",
        message: `the source ${fmt(input.source)} is larger than the target ${fmt(goal.size)}`,
      };
    }
    scale = Math.min(goal.size.width / input.source.width, goal.size.height / input.source.height);
    notes.push(`source scaled by ${scale.toFixed(4)} to fit inside ${fmt(goal.size)}`);
  }
  for (let attempt = 0; attempt < 8; attempt += 1) {
    const source = scaled(input.source, scale);
    const canvas = canvasFor(source, sizeGoal);
    if (canvas.width === source.width && canvas.height === source.height) {
      return {
        ok: false,
        reason: "already-at-target",
        message: `the source ${fmt(source)} is already at the target`,
      };
    }
    const excess = limitFactor(canvas, input.limits);
    if (excess >= 1) {
      if (Math.min(canvas.width, canvas.height) < input.limits.minSide) {
        return {
          ok: false,
          reason: "too-small",
          message: `the canvas ${fmt(canvas)} is below the provider's minimum side of ${input.limits.minSide} px`,
        };
      }
      const margins = place(source, canvas, sizeGoal, anchor);
      const exactSizeMet =
        requested === null || (canvas.width === requested.width && canvas.height === requested.height);
      if (!exactSizeMet)
        notes.push(
          `${fmt(requested!)} exceeds the provider's limits; planned ${fmt(canvas)} at the same ratio`,
        );
      return {
        ok: true,
        plan: {
          margins,
          output: canvas,
          sourceScale: scale,
          scaledSource: source,
          costUsd: outputCostUsd(canvas.width, canvas.height, input.limits),
          exactSizeMet,
          requested: exactSizeMet ? null : requested,
          notes,
        },
      };
    }
    if (overLimit === "fail") {
      return {
        ok: false,
        reason: "over-limit",
        message: `the canvas ${fmt(canvas)} breaks the provider's limits (each side ≤ ${input.limits.maxSide}, area ≤ ${input.limits.maxArea})`,
      };
    }
    scale *= excess * 0.9999;
    if (sizeGoal.kind === "size") {
      requested ??= sizeGoal.size;
      sizeGoal = { kind: "size", size: scaled(sizeGoal.size, excess * 0.9999) };
    }
    if (sizeGoal.kind === "margins")
      sizeGoal = { kind: "margins", margins: scaleMargins(sizeGoal.margins, excess * 0.9999) };
  }
  return { ok: false, reason: "over-limit", message: "no canvas within the provider's limits was found" };
}

function resolveGoal(target: Target, presets: PresetTable): Goal | { message: string } {
  switch (target.kind) {
    case "margins":
      return {
        kind: "margins",
        margins: { top: target.top, right: target.right, bottom: target.bottom, left: target.left },
      };
    case "ratio":
      return { kind: "ratio", ratio: parseRatio(target.ratio) };
    case "size":
      return { kind: "size", size: { width: target.width, height: target.height } };
    case "preset": {
      const preset = presets.get(target.name);
      if (!preset) return { message: `unknown preset ${target.name}` };
      if (preset.kind === "size")
        return { kind: "size", size: { width: preset.width!, height: preset.height! } };
      return { kind: "ratio", ratio: preset.ratio[0] / preset.ratio[1] };
    }
    default:
      throw new Error(`unknown target ${JSON.stringify(target satisfies never)}`);
  }
}

function canvasFor(source: Size, goal: Goal): Size {
  switch (goal.kind) {
    case "margins":
      return {
        width: source.width + goal.margins.left + goal.margins.right,
        height: source.height + goal.margins.top + goal.margins.bottom,
      };
    case "size":
      return goal.size;
    case "ratio":
      return source.width / source.height < goal.ratio
        ? { width: Math.max(source.width, Math.round(source.height * goal.ratio)), height: source.height }
        : { width: source.width, height: Math.max(source.height, Math.round(source.width / goal.ratio)) };
    default:
      throw new Error(`unknown goal ${JSON.stringify(goal satisfies never)}`);
  }
}

function place(source: Size, canvas: Size, goal: Goal, anchor: { x: number; y: number }): Margins {
  if (goal.kind === "margins") return goal.margins;
  const dx = canvas.width - source.width;
  const dy = canvas.height - source.height;
  const left = Math.floor(dx * anchor.x + 1e-9);
  const top = Math.floor(dy * anchor.y + 1e-9);
  return { top, right: dx - left, bottom: dy - top, left };
}

/** 1 or more when the canvas fits; otherwise the factor that would bring it within every limit. */
function limitFactor(canvas: Size, limits: ProviderLimits): number {
  return Math.min(
    limits.maxSide / canvas.width,
    limits.maxSide / canvas.height,
    Math.sqrt(limits.maxArea / (canvas.width * canvas.height)),
  );
}

function fractionOf(anchor: Anchor): { x: number; y: number } {
  return typeof anchor === "string" ? ANCHOR_FRACTIONS[anchor] : anchor;
}

function scaled(size: Size, factor: number): Size {
  return factor === 1
    ? size
    : {
        width: Math.max(1, Math.floor(size.width * factor)),
        height: Math.max(1, Math.floor(size.height * factor)),
      };
}

function scaleMargins(margins: Margins, factor: number): Margins {
  return {
    top: Math.floor(margins.top * factor),
    right: Math.floor(margins.right * factor),
    bottom: Math.floor(margins.bottom * factor),
    left: Math.floor(margins.left * factor),
  };
}

const fmt = (size: Size) => `${size.width}×${size.height}`;
