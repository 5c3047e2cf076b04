export { type RunProcessOptions, runProcess, type Stoppable } from "./run-process.ts";
