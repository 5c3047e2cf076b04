import { loadConfigOrExit } from "@reframe/config";
import { createLogger } from "@reframe/telemetry";
import { startWebhookReceiver } from "./receiver.ts";
import { webhooksConfigSchema } from "./webhooks-config.ts";

async function main(): Promise<void> {
  const config = loadConfigOrExit(webhooksConfigSchema);
  const logger = createLogger({ name: "webhooks", level: config.LOG_LEVEL, format: config.LOG_FORMAT });
  let receiver: Awaited<ReturnType<typeof startWebhookReceiver>>;
  try {
    receiver = await startWebhookReceiver(config, { logger });
  } catch (error) {
    logger.fatal({ err: error }, `webhooks receiver could not start: ${(error as Error).message}`);
    process.exit(1);
  }
  let stopping = false;
  const shutdown = (signal: NodeJS.Signals) => {
    if (stopping) return;
    stopping = true;
    logger.info({ signal }, "stopping: finishing requests in flight");
    const forced = setTimeout(() => {
      logger.error({ timeoutMs: config.SHUTDOWN_TIMEOUT_MS }, "shutdown took too long; exiting");
      process.exit(1);
    }, config.SHUTDOWN_TIMEOUT_MS);
    forced.unref();
    receiver.close().then(
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
