export { type ApiConfig, apiConfigSchema } from "./api-config.ts";
export { type ApiServerOptions, createApiServer } from "./api-server.ts";
export { type BulkConfig, bulkConfigSchema } from "./bulk/bulk-config.ts";
export { type BulkRequest, parseBulkRequest, runRequestOf } from "./bulk/bulk-request.ts";
export { type ProducerConfig, producerConfigSchema } from "./producer-config.ts";
