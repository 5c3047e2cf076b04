import type { S3Client } from "@aws-sdk/client-s3";
import type { GuardedFetch } from "@reframe/egress";
import type { ImageSlots, SourceLimits } from "@reframe/images";
import type { AlertPublisher, BatchStore, RouteQueues, SpendLedger, TaskStore } from "@reframe/jobs";
import type { WrittenObjects } from "@reframe/pipelines";
import type { RunwareClient } from "@reframe/runware";
import type { SourceInspection } from "@reframe/sources";
import type { Logger } from "@reframe/telemetry";
import type { Queue } from "bullmq";
import type { ProviderBreaker } from "./provider-breaker.ts";
import type { ServiceBreaker } from "./service-breaker.ts";
import type { SubmitBatcher } from "./submit-batcher.ts";
import type { WorkerMetrics } from "./worker-telemetry.ts";

interface WorkerSettings {
  /** How many generations a variant may go through (taskNotFound, expiry, provider failure). */
  maxGenerations: number;
  /** Generations a variant may have given back for an S3 outage, besides maxGenerations. */
  maxOutageGenerations: number;
  /** A parked job wakes by itself after this long, even with no webhook and no reconciler. */
  recheckMs: number;
  /** First reconciler poll after a submit; long with webhooks (they usually arrive first). */
  firstPollMs: number;
  /** Submit attempts for a task the provider never acknowledged, before the job fails. */
  maxSubmitAttempts: number;
  /** Where pre-scaled sources go; never under an output prefix. */
  scratchBucket: string;
  scratchPrefix: string;
  /** MAX_SOURCE_PIXELS, MAX_SOURCE_BYTES. */
  sourceLimits: SourceLimits;
  /** A local directory of this process for sources being decoded (removed at stop). */
  workDirectory: string;
}

export interface WebhookSettings {
  /** Public base URL of the webhook receivers, e.g. https://hooks.example.com. */
  baseUrl: string;
  secret: string;
}

/** What the outpaint processor needs; each collaborator is the narrowest that works. */
export interface OutpaintDeps {
  outpaintQueue: Pick<Queue, "pause" | "resume" | "isPaused" | "toKey" | "getBackend">;
  /** Where events go: downstream queues and outbound endpoints (publishEvent). */
  routes: Pick<RouteQueues, "queue" | "deliveries">;
  taskStore: TaskStore;
  /** Where jobs report their end to the batch that added them. */
  batches: BatchStore;
  batcher: Pick<SubmitBatcher, "submit">;
  provider: Pick<RunwareClient, "getResponses">;
  s3: S3Client;
  /** Reads URL sources through the egress guard (no private, loopback or metadata addresses). */
  sourceFetch: GuardedFetch["fetch"];
  /** At most IMAGE_CONCURRENCY decodes at once in this process. */
  imageSlots: ImageSlots;
  /** Sources inspected by jobs parked for want of a source slot, by job id (plan-step.ts). */
  inspections: Map<string, SourceInspection>;
  webhook: WebhookSettings | undefined;
  /** Records each key before it can be written (provider PUT, copy, scratch): the intake's loop guard. */
  written: Pick<WrittenObjects, "record">;
  /** SPEND_LIMIT_USD_PER_DAY, counted across workers; undefined when it is off. */
  spendCeiling: { ledger: SpendLedger; limitUsd: number } | undefined;
  settings: WorkerSettings;
  logger: Logger;
  now(): number;
  /** Counts and timings (reframe_*); absent in unit tests that do not look at them. */
  metrics?: WorkerMetrics;
  /** The alerts route (ALERTS_ROUTE): a paused queue, a batch that ended with failures. */
  alerts?: AlertPublisher;
  /** The provider breaker: while it is open no job submits or polls (provider-breaker.ts). */
  breaker?: Pick<ProviderBreaker, "openState" | "parkUntil">;
  /** S3's breaker: while it is open no job sends S3 a request, the jobs that need it wait parked. */
  storageBreaker?: Pick<ServiceBreaker, "openState" | "parkUntil">;
}
