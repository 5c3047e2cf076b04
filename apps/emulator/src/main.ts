import { loadConfigOrExit } from "@reframe/config";
import { runProcess } from "@reframe/lifecycle";
import { createLogger } from "@reframe/telemetry";
import { emulatorConfigSchema } from "./emulator-config.ts";
import { startEmulatorServer } from "./server.ts";

const config = loadConfigOrExit(emulatorConfigSchema);
const logger = createLogger({ name: "emulator", level: config.LOG_LEVEL, format: config.LOG_FORMAT });
const emulator = await runProcess({
  name: "emulator",
  logger,
  start: () => startEmulatorServer(config, { logger }),
  shutdownTimeoutMs: 10_000,
  stoppingMessage: "no new requests; webhook retries stop",
});
logger.info({ url: emulator.url }, `emulator listening on ${emulator.url} (POST /v1)`);
