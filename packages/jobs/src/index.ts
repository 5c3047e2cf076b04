/** The output formats are the provider's (packages/runware); jobs name them in their schema. */
export { OUTPUT_FORMATS } from "@reframe/runware";
export { type Admission, type AdmitResult, createAdmission, type StreamWriter } from "./admission.ts";
export { DEFAULT_BULK_WINDOW, MAX_BULK_WINDOW } from "./admission-window.ts";
export { Admitter, type AdmitterOptions } from "./admitter.ts";
export {
  ALERT_KINDS,
  type AlertEvent,
  type AlertInput,
  type AlertKind,
  type AlertPublisher,
  alertEventSchema,
  alertEventType,
  batchFailuresAlert,
  DEFAULT_ALERTS_ROUTE,
  endpointDisabledAlert,
  makeAlertEvent,
  pipelineRunRefusedAlert,
  providerOutageAlert,
  publishAlert,
  queuePausedAlert,
  spendCeilingAlert,
  storageOutageAlert,
} from "./alerts.ts";
export {
  announceBatchCompleted,
  BATCH_COMPLETED_EVENT_TYPE,
  type BatchCompletedEvent,
  batchCompletedEventSchema,
  makeBatchCompletedEvent,
  RUN_COMPLETED_EVENT_TYPE,
} from "./batch-events.ts";
export { type BatchListEntry, listBatches } from "./batch-list.ts";
export { type BatchFailure, batchFailures, retryBatchFailures } from "./batch-retry.ts";
export {
  BATCH_ID_PATTERN,
  BATCH_INDEX_SIZE,
  BATCH_KINDS,
  BATCH_RETENTION_MS,
  type BatchInfo,
  type BatchInfoInput,
  type BatchJobEnd,
  type BatchJobEndInput,
  type BatchStatus,
  type BatchStore,
  batchIdSchema,
  batchInfoSchema,
  batchJobEndSchema,
  batchKeys,
  createBatchStore,
  type RecordEndResult,
  SKIP_REASONS,
  type SkipReason,
} from "./batch-store.ts";
export {
  BREAKER_SERVICE_NAMES,
  type BreakerService,
  type BreakerSettings,
  type BreakerState,
  type BreakerStore,
  breakerEndpointOf,
  breakerKey,
  createBreakerStore,
  DEFAULT_BREAKER_SETTINGS,
  describeBreaker,
  listBreakers,
  nextProbeDelayMs,
  probesWithin,
} from "./breaker.ts";
export {
  type EnqueueManyOptions,
  type EnqueueManyResult,
  type EnqueueOptions,
  type ExistingState,
  enqueueIntoLabelledBatches,
  enqueueMany,
  jobStates,
  jobStatesInChunks,
  parseOutpaintJob,
  parseOutpaintJobs,
} from "./enqueue.ts";
export {
  formatIssuePath,
  JobValidationError,
  type JobValidationIssue,
} from "./errors.ts";
export {
  COMPLETION_EVENT_TYPE,
  type CompletionEvent,
  completionDataSchema,
  completionEventSchema,
  completionVariantSchema,
  EVENT_SOURCE,
  FAILURE_EVENT_TYPE,
  type FailureEvent,
  failureDataSchema,
  failureEventSchema,
  makeCompletionEvent,
  makeFailureEvent,
  type OutpaintEvent,
  outpaintEventId,
  outpaintEventSchema,
} from "./events.ts";
export {
  initialState,
  type JobPlan,
  type OutpaintJobData,
  outpaintJobDataSchema,
  type PreparedSource,
  parseOutpaintJobData,
  retryState,
  type SourceRef,
  type StepState,
  type TaskState,
} from "./job-data.ts";
export {
  type FailureReason,
  failureReasonSchema,
  type OutpaintResult,
  type OutpaintVariantResult,
  outpaintResultSchema,
  readOutpaintResult,
} from "./job-result.ts";
export { jobTraceMetadata } from "./job-trace.ts";
export {
  DELIVERY_QUEUE,
  OUTPAINT_JOB_NAME,
  OUTPAINT_QUEUE,
  QUEUE_NAME_PATTERN,
  TASK_RETENTION_MS,
  type TaskStoreKeys,
  taskStoreKeys,
} from "./names.ts";
export {
  canonicalJson,
  labelsSchema,
  type OutpaintJob,
  type OutpaintJobInput,
  type OutpaintSource,
  optionsSchema,
  outpaintJobId,
  outpaintJobSchema,
  outputSchema,
  sourceIdentity,
  sourceSchema,
} from "./outpaint-job.ts";
export {
  type PauseReason,
  type PauseState,
  pauseQueueFor,
  pauseReasonSchema,
  readPauseState,
  resumeQueue,
} from "./queue-pause.ts";
export {
  createQueueSampler,
  type QueueSampleData,
  type QueueSamplerOptions,
  SAMPLED_STATES,
} from "./queue-sampler.ts";
export {
  createOutpaintQueue,
  OUTPAINT_JOB_OPTIONS,
  providerBackoffDelay,
  providerBackoffStrategy,
  type QueueFactoryOptions,
  ROUTE_JOB_OPTIONS,
} from "./queues.ts";
export {
  DELIVERY_JOB_OPTIONS,
  type DeliveryJobData,
  deliveryId,
  deliveryJobDataSchema,
  openRouteQueues,
  parseRouteDestination,
  publishEvent,
  type RouteDestination,
  type RoutedEvent,
  type RouteQueues,
  routeEntrySchema,
  WEBHOOK_ROUTE_PREFIX,
} from "./route-publisher.ts";
export {
  createSpendLedger,
  fromMicroUsd,
  type SpendCharge,
  type SpendLedger,
  type SpendPause,
  type SpendReservation,
  type SpendStatus,
  spendDayOf,
  spendPauseLifted,
  toMicroUsd,
} from "./spend-ledger.ts";
export {
  type AnswerReading,
  storedResultSchema,
  type TaskOutcomeRecord,
  taskOutcomeRecordSchema,
  toOutcomeRecord,
} from "./task-outcome.ts";
export {
  createTaskStore,
  type PromoteResult,
  promoteJob,
  type TaskRegistration,
  type TaskStore,
} from "./task-store.ts";
