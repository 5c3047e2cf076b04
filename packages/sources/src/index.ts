export type { SourceLimits } from "@reframe/images";
export {
  type EstimateSummary,
  type EstimateTally,
  estimateJob,
  estimateJobs,
  inspectSource,
  type JobEstimate,
  type SourceDimensions,
  type SourceInspection,
  startEstimateTally,
  summarizeEstimates,
} from "./estimate.ts";
export {
  DEFAULT_IMAGE_GLOBS,
  expandJobs,
  type JobTemplate,
  outputAreasOf,
  type PrefixSource,
  prefixItems,
} from "./expand.ts";
export {
  MANIFEST_FORMATS,
  ManifestError,
  type ManifestFormat,
  type ManifestIssue,
  type ManifestOptions,
  manifestFormatOf,
  parseManifest,
  readManifest,
} from "./manifest.ts";
export { downloadSource, type SourceAccess, withSourceRanges } from "./source-bytes.ts";
export { type SourceItem, type SourceOverrides, sourceLabel } from "./source-item.ts";
export {
  SOURCE_PROBLEM_ESTIMATES,
  SOURCE_PROBLEMS,
  SourceHttpError,
  type SourceProblem,
  type SourceProblemCode,
  sourceProblemOf,
} from "./source-problems.ts";
