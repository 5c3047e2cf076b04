import { loadConfigOrExit } from "@reframe/config";
import { createLogger } from "@reframe/telemetry";
import { emulatorConfigSchema } from "./emulator-config.ts";
import { startEmulatorServer } from "./server.ts";

async function main(): Promise<void> {
  const config = loadConfigOrExit(emulatorConfigSchema);
  const logger = createLogger({ name: "emulator", level: config.LOG_LEVEL, format: config.LOG_FORMAT });
  let emulator: Awaited<ReturnType<typeof startEmulatorServer>>;
  try {
    emulator = await startEmulatorServer(config, { logger });
  } catch (error) {
    logger.fatal({ err: error }, `emulator could not start: ${(error as Error).message}`);
    process.exit(1);
  }
  logger.info({ url: emulator.url }, `emulator listening on ${emulator.url} (POST /v1)`);
  const stop = () => {
    emulator.close().then(
      () => process.exit(0),
      () => process.exit(1),
    );
  };
  process.once("SIGTERM", stop);
  process.once("SIGINT", stop);
}

await main();
