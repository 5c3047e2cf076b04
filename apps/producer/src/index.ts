export { type ApiConfig, apiConfigSchema } from "./api-config.ts";
export { type ApiServerOptions, createApiServer } from "./api-server.ts";
export { type BulkConfig, bulkConfigSchema } from "./bulk/bulk-config.ts";
export { type BulkPlan, type PlanDeps, planBulk } from "./bulk/bulk-plan.ts";
export { type BulkRequest, parseBulkRequest } from "./bulk/bulk-request.ts";
export { streamPlan } from "./bulk/bulk-run.ts";
export { type ProducerConfig, producerConfigSchema } from "./producer-config.ts";
