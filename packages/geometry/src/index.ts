export {
  type CanvasPlan,
  canvasPlanSchema,
  generatedShareOf,
  isCopyPlan,
  type Margins,
  marginsSchema,
  type Size,
  sizeSchema,
} from "./canvas-plan.ts";
export {
  type CanvasPolicy,
  canvasPolicyShape,
  DEFAULT_FIT,
  DEFAULT_MAX_GENERATED_SHARE,
  DEFAULT_MAX_UPSCALE,
  FIT_POLICIES,
  type FitPolicy,
  fitPolicySchema,
  formatScale,
  formatShare,
  MAX_UPSCALE_LIMIT,
  maxGeneratedShareSchema,
  maxUpscaleSchema,
  parseShare,
} from "./canvas-policy.ts";
export { OUTPAINT_LIMITS, outputCostUsd, PROVIDER_LIMITS, type ProviderLimits } from "./limits.ts";
export { type PlanCanvasInput, type PlanFailure, type PlanResult, planCanvas } from "./plan-canvas.ts";
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
