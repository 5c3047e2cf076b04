export { type PlannedOutputs, startPlannedOutputs } from "./planned-outputs.ts";
export { runEnvFields } from "./run-config.ts";
export { RunInputError } from "./run-input-error.ts";
export {
  type BudgetRefusal,
  budgetRefusal,
  type PlanDeps,
  planRun,
  type RunPlan,
  type RunRequest,
  skippedJobs,
} from "./run-plan.ts";
export { openSources, type RunSourceSpec, type RunSources } from "./run-sources.ts";
export { runAdmitter, type StartDeps, startRun, streamPlan } from "./run-start.ts";
