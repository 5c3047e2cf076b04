import { loadConfigOrExit } from "@reframe/config";
import { runProcess } from "@reframe/lifecycle";
import { createLogger } from "@reframe/telemetry";
import { startWebhookReceiver } from "./receiver.ts";
import { webhooksConfigSchema } from "./webhooks-config.ts";

const config = loadConfigOrExit(webhooksConfigSchema);
const logger = createLogger({ name: "webhooks", level: config.LOG_LEVEL, format: config.LOG_FORMAT });
await runProcess({
  name: "webhooks receiver",
  logger,
  start: () => startWebhookReceiver(config, { logger }),
  shutdownTimeoutMs: config.SHUTDOWN_TIMEOUT_MS,
  stoppingMessage: "finishing requests in flight",
});
