export {
  type EnqueueFlags,
  enqueueCommand,
  type JobStatus,
  jobFromFlags,
  jobStatus,
  waitForJob,
} from "./commands.ts";
export { parseSourceSpec, UsageError } from "./source-spec.ts";
