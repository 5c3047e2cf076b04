export { type RunningWorker, startOutpaintWorker } from "./outpaint-worker.ts";
export { taskUUIDFor } from "./task-uuid.ts";
export { type WorkerConfig, workerConfigSchema } from "./worker-config.ts";
