export { PeriodicTask, type PeriodicTaskOptions } from "./periodic-task.ts";
export { type RunProcessOptions, runProcess, type Stoppable } from "./run-process.ts";
