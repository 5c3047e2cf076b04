import { type CanvasPlan, generatedShareOf, type Margins, type Size } from "./canvas-plan.ts";
import {
  type CanvasPolicy,
  DEFAULT_FIT,
  DEFAULT_MAX_GENERATED_SHARE,
  DEFAULT_MAX_UPSCALE,
  formatScale,
  formatShare,
} from "./canvas-policy.ts";
import { outputCostUsd, type ProviderLimits } from "./limits.ts";
import { DEFAULT_PRESETS, type PresetTable } from "./presets.ts";
import { type Anchor, type AnchorName, parseRatio, type Target } from "./target.ts";

export type PlanFailure = "over-limit" | "invalid-target" | "too-small" | "generated-share-over-limit";
export type PlanResult = { ok: true; plan: CanvasPlan } | { ok: false; reason: PlanFailure; message: string };

export interface PlanCanvasInput {
  source: Size;
  target: Target;
  /** Overrides the target's own anchor. */
  anchor?: Anchor;
  limits: ProviderLimits;
  /** The job's options: fit policy, upscale cap, generated-share limit, what to do over the limits. */
  policy?: CanvasPolicy;
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
 * Plans an outpaint: the scale of the source and the margins that take it to the target, within the
 * provider's limits. Outpainting only adds: the source is never cropped.
 *
 * - A ratio target gets the smallest canvas of that ratio containing the source; margins are added
 *   as given. The source keeps its size.
 * - An exact size (a `WxH` target or a size preset) is filled by the policy: `fit` scales the source,
 *   up (at most `maxUpscale`) or down, until it fills the canvas in one dimension; `down-only` only
 *   scales a source larger than the canvas down. The source is placed at its anchor.
 * - A canvas beyond the provider's limits is scaled down with its source (or refused, `overLimit:
 *   "fail"`); an exact size then keeps its ratio and says it was not met.
 * - A plan whose output would be more than `maxGeneratedShare` generated is refused.
 * - A source already at the target (after scaling) is a plan with no margins: a copy, at no cost.
 */
export function planCanvas(input: PlanCanvasInput): PlanResult {
  const goal = resolveGoal(input.target, input.presets ?? DEFAULT_PRESETS);
  if ("message" in goal) return { ok: false, reason: "invalid-target", message: goal.message };
  const anchor = fractionOf(
    input.anchor ?? ("anchor" in input.target ? input.target.anchor : undefined) ?? "center",
  );
  const policy = input.policy ?? {};
  const overLimit = policy.overLimit ?? "prescale";
  const fit = policy.fit ?? DEFAULT_FIT;
  const maxUpscale = fit === "fit" ? (policy.maxUpscale ?? DEFAULT_MAX_UPSCALE) : 1;
  const maxGeneratedShare = policy.maxGeneratedShare ?? DEFAULT_MAX_GENERATED_SHARE;
  const notes: string[] = [];
  let scale = 1;
  let requested: Size | null = goal.kind === "size" ? goal.size : null;
  let sizeGoal = goal;
  if (goal.kind === "size") {
    const fillScale = Math.min(goal.size.width / input.source.width, goal.size.height / input.source.height);
    if (fillScale < 1 && overLimit === "fail") {
      return {
        ok: false,
        reason: "over-limit",
        message: `the source ${fmt(input.source)} is larger than the target ${fmt(goal.size)}`,
      };
    }
    scale = Math.min(fillScale, maxUpscale);
    if (scale > 1)
      notes.push(
        `source scaled up ${formatScale(scale)} to ${scale < fillScale ? `the upscale cap (filling it needs ${formatScale(fillScale)})` : `fill ${fmt(goal.size)}`}`,
      );
    else if (scale < 1)
      notes.push(`source scaled down ${formatScale(scale)} to fit inside ${fmt(goal.size)}`);
  }
  for (let attempt = 0; attempt < 8; attempt += 1) {
    const source =
      sizeGoal.kind === "size" ? fitted(input.source, scale, sizeGoal.size) : scaled(input.source, scale);
    const canvas = canvasFor(source, sizeGoal);
    const exactSizeMet =
      requested === null || (canvas.width === requested.width && canvas.height === requested.height);
    if (canvas.width === source.width && canvas.height === source.height) {
      // Nothing to add: no provider call, so its limits do not apply.
      notes.push(`the source at ${fmt(source)} is already at the target: copied`);
      return {
        ok: true,
        plan: {
          margins: { top: 0, right: 0, bottom: 0, left: 0 },
          output: canvas,
          sourceScale: scale,
          scaledSource: source,
          generatedShare: 0,
          costUsd: 0,
          exactSizeMet,
          requested: exactSizeMet ? null : requested,
          notes,
        },
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
      const generatedShare = generatedShareOf(source, canvas);
      if (generatedShare > maxGeneratedShare) {
        return {
          ok: false,
          reason: "generated-share-over-limit",
          message: `${formatShare(generatedShare, maxGeneratedShare)} of the canvas would be generated; the limit is ${formatShare(maxGeneratedShare, generatedShare)} (the source ${fmt(input.source)}${scale === 1 ? "" : ` scaled ${formatScale(scale)} to ${fmt(source)}`} on a ${fmt(canvas)} canvas)`,
        };
      }
      if (!exactSizeMet)
        notes.push(
          `${fmt(requested!)} exceeds the provider's limits; planned ${fmt(canvas)} at the same ratio`,
        );
      return {
        ok: true,
        plan: {
          margins: place(source, canvas, sizeGoal, anchor),
          output: canvas,
          sourceScale: scale,
          scaledSource: source,
          generatedShare,
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

/**
 * The source at `factor` on an exact-size canvas: rounded, so that a fit fills its dimension to the
 * pixel (1080 / 700 × 700 is 1079.9999…), and never larger than the canvas.
 */
function fitted(size: Size, factor: number, canvas: Size): Size {
  return {
    width: Math.min(canvas.width, Math.max(1, Math.round(size.width * factor))),
    height: Math.min(canvas.height, Math.max(1, Math.round(size.height * factor))),
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
