export {
  type EstimateSummary,
  estimateJob,
  estimateJobs,
  type JobEstimate,
  readSourceDimensions,
  type SourceDimensions,
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
  manifestFormatOf,
  parseManifest,
} from "./manifest.ts";
export { type SourceItem, type SourceOverrides, sourceLabel } from "./source-item.ts";
export {
  SOURCE_PROBLEMS,
  SourceHttpError,
  type SourceProblem,
  type SourceProblemCode,
  sourceProblemOf,
} from "./source-problems.ts";
