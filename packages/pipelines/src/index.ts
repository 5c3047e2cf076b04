export { type AppliedChange, type ApplyChange, applyPipelines } from "./apply.ts";
export { jobTemplateOf, neverSourceAreas } from "./job-template.ts";
export {
  DEFAULT_UPLOADS_PER_DAY_USD,
  PIPELINE_NAME_PATTERN,
  type Pipeline,
  type PipelineInput,
  type PipelinesFile,
  PipelinesFileError,
  type PipelinesFileIssue,
  parsePipelinesFile,
  pipelineSchema,
  pipelinesFileSchema,
  type Trigger,
  triggerSchema,
} from "./pipeline-file.ts";
export {
  type AppliedPipeline,
  createPipelineStore,
  type PipelineStore,
  pipelineDigest,
  type RunRecord,
  runRecordSchema,
} from "./pipeline-store.ts";
export { executeRun, RunDefinitionError, type RunDeps } from "./run.ts";
export {
  BUDGET_EXCEEDED_EVENT_TYPE,
  type BudgetExceededEvent,
  budgetExceededEventSchema,
  makeBudgetExceededEvent,
  makeRunRefusedEvent,
  RUN_REFUSED_EVENT_TYPE,
  type RunRefusedEvent,
} from "./run-events.ts";
export {
  createPipelineRunQueue,
  PIPELINE_RUN_JOB_NAME,
  PIPELINE_RUN_JOB_OPTIONS,
  PIPELINE_RUNS_QUEUE,
  type PipelineRunData,
  pipelineRunDataSchema,
  runIdOf,
  schedulerIdOf,
} from "./run-queue.ts";
export {
  type IntakeDeps,
  type IntakeResult,
  ingestCreatedObjects,
  matchUpload,
  triggerMatches,
  type UploadMatch,
} from "./triggers.ts";
export {
  createUploadBudgets,
  type RefusalRecord,
  type UploadBudgets,
  type UploadCeilings,
  type UploadUsage,
  uploadCeilingsOf,
} from "./upload-budget.ts";
export { createWrittenObjects, WRITTEN_OBJECT_RETENTION_MS, type WrittenObjects } from "./written-objects.ts";
