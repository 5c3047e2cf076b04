export { OUTPAINT_LIMITS, outputCostUsd, PROVIDER_LIMITS, type ProviderLimits } from "./limits.ts";
export {
  type CanvasPlan,
  type Margins,
  type PlanCanvasInput,
  type PlanFailure,
  type PlanResult,
  planCanvas,
  type Size,
} from "./plan-canvas.ts";
export {
  BUILTIN_PRESETS,
  DEFAULT_PRESETS,
  loadPresets,
  PRESETS_VERSION,
  type Preset,
  type PresetTable,
  presetSchema,
} from "./presets.ts";
export {
  ANCHOR_NAMES,
  type Anchor,
  type AnchorName,
  anchorSchema,
  parseRatio,
  parseTargetSpec,
  ratioStringSchema,
  type Target,
  type TargetSpecResult,
  targetLabel,
  targetSchema,
} from "./target.ts";
