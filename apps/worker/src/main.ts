import { loadConfigOrExit } from "@reframe/config";
import { createLogger } from "@reframe/telemetry";
import { startOutpaintWorker } from "./outpaint-worker.ts";
import { workerConfigSchema } from "./worker-config.ts";

async function main(): Promise<void> {
  const config = loadConfigOrExit(workerConfigSchema);
  const logger = createLogger({ name: "worker", level: config.LOG_LEVEL, format: config.LOG_FORMAT });
  let running: Awaited<ReturnType<typeof startOutpaintWorker>>;
  try {
    running = await startOutpaintWorker(config, { logger });
  } catch (error) {
    // Redis unreachable or evicting keys: one readable line (and the details in the log record).
    logger.fatal({ err: error }, `worker could not start: ${(error as Error).message}`);
    process.exit(1);
  }
  let stopping = false;
  const shutdown = (signal: NodeJS.Signals) => {
    if (stopping) return;
    stopping = true;
    logger.info({ signal }, "stopping: no new jobs; active jobs finish or park");
    const forced = setTimeout(() => {
      logger.error({ timeoutMs: config.SHUTDOWN_TIMEOUT_MS }, "shutdown took too long; exiting");
      process.exit(1);
    }, config.SHUTDOWN_TIMEOUT_MS);
    forced.unref();
    running.close().then(
      () => process.exit(0),
      (error: unknown) => {
        logger.error({ err: error }, "shutdown failed");
        process.exit(1);
      },
    );
  };
  process.on("SIGTERM", shutdown);
  process.on("SIGINT", shutdown);
}

await main();
