export { type RunningReceiver, startWebhookReceiver } from "./receiver.ts";
export { createWebhookServer, type WebhookServerOptions } from "./server.ts";
export { type WebhooksConfig, webhooksConfigSchema } from "./webhooks-config.ts";
