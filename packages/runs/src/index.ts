export { type PlannedOutputs } from "./planned-outputs.ts";
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
export { type RunSourceSpec, type RunSources, openSources } from "./run-sources.ts";
export { runAdmission, runAdmitter, type StartDeps, startRun, streamPlan } from "./run-start.ts";
