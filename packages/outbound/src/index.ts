export { type AttemptResult, attemptDelivery } from "./attempt.ts";
export {
  attemptsFromLog,
  type DeliveryAttempt,
  type DeliveryRecord,
  type DeliveryState,
  deliveryRecord,
  type ListOptions,
  listDeliveries,
  type RetrySummary,
  retryDeliveries,
} from "./delivery-records.ts";
export {
  type AttemptLogLine,
  createDeliveryProcessor,
  type DeliveryDeps,
  type DeliveryResult,
  type DeliverySettings,
  type DeliveryWorkerOptions,
  startDeliveryWorker,
} from "./delivery-worker.ts";
export {
  createEndpointStore,
  describeEndpoint,
  type Endpoint,
  type EndpointDefinition,
  EndpointError,
  type EndpointState,
  type EndpointStore,
  generateSecret,
  SECRET_PATTERN,
  signingSecrets,
} from "./endpoint-store.ts";
export {
  DEFAULT_RETRY_SCHEDULE,
  parseDuration,
  parseRetrySchedule,
  RETRY_JITTER,
  retryDelay,
} from "./retry-schedule.ts";
export { CLOUDEVENTS_CONTENT_TYPE, signedHeaders } from "./signature.ts";
