import { loadConfigOrExit } from "@reframe/config";
import { runProcess } from "@reframe/lifecycle";
import { createLogger } from "@reframe/telemetry";
import { startOutpaintWorker } from "./outpaint-worker.ts";
import { workerConfigSchema } from "./worker-config.ts";

const config = loadConfigOrExit(workerConfigSchema);
const logger = createLogger({ name: "worker", level: config.LOG_LEVEL, format: config.LOG_FORMAT });
await runProcess({
  name: "worker",
  logger,
  start: () => startOutpaintWorker(config, { logger }),
  shutdownTimeoutMs: config.SHUTDOWN_TIMEOUT_MS,
  stoppingMessage: "no new jobs; active jobs finish or park",
});
