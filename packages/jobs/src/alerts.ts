import { createHash } from "node:crypto";
import { z } from "zod";
import { EVENT_SOURCE } from "./events.ts";
import { publishEvent, type RouteQueues } from "./route-publisher.ts";

/**
 * Alerts that must reach a person, as CloudEvents 1.0 on the alerts route (ALERTS_ROUTE: queues a
 * notifier consumes, like any route), counted in the metrics and logged as well:
 *
 *   queuePaused         the provider refused the account (credits, key): the queue paused itself
 *   spendCeiling        spend reached a ceiling (the daily limit, a pipeline's trigger budget)
 *   batchFailures       a batch ended with failed jobs
 *   pipelineRunRefused  a pipeline run was refused over its budget: nothing was enqueued
 *   endpointDisabled    an outbound webhook endpoint was disabled (410 Gone, or failing too long)
 *   providerOutage      the provider breaker opened: jobs wait parked until the provider answers again
 *   storageOutage       S3's breaker opened: jobs wait parked until S3 answers again
 *
 * Each alert's id is derived from what it is about, so raising the same alert twice (two workers
 * pausing the queue at once, a retried job closing a batch again) adds it once.
 */

export const ALERT_KINDS = [
  "queuePaused",
  "spendCeiling",
  "batchFailures",
  "pipelineRunRefused",
  "endpointDisabled",
  "providerOutage",
  "storageOutage",
] as const;
export type AlertKind = (typeof ALERT_KINDS)[number];

const TYPE_NAMES: Record<AlertKind, string> = {
  queuePaused: "queue-paused",
  spendCeiling: "spend-ceiling",
  batchFailures: "batch-failures",
  pipelineRunRefused: "pipeline-run-refused",
  endpointDisabled: "endpoint-disabled",
  providerOutage: "provider-outage",
  storageOutage: "storage-outage",
};

export const alertEventType = (kind: AlertKind) => `reframe.alert.${TYPE_NAMES[kind]}.v1`;

/** Where alerts go unless ALERTS_ROUTE says otherwise. */
export const DEFAULT_ALERTS_ROUTE = ["alerts"] as const;

export const alertEventSchema = z.object({
  specversion: z.literal("1.0"),
  id: z.string().min(1),
  source: z.string().min(1),
  type: z.string().startsWith("reframe.alert."),
  subject: z.string().min(1),
  time: z.iso.datetime({ offset: true }),
  datacontenttype: z.literal("application/json"),
  data: z.looseObject({
    kind: z.enum(ALERT_KINDS),
    severity: z.enum(["critical", "warning"]),
    message: z.string().min(1),
  }),
});
export type AlertEvent = z.output<typeof alertEventSchema>;

export interface AlertInput {
  kind: AlertKind;
  /** What the alert is about: the queue, the ceiling, the batch or the run. */
  subject: string;
  message: string;
  /** Same kind and key, same alert: what makes a second raise a duplicate. */
  dedupeKey: string;
  /** Details a notifier may show (codes, counts, amounts); no secrets. */
  details?: Record<string, unknown>;
}

export interface AlertPublisher {
  /** ALERTS_ROUTE: queues, or webhook:<endpoint> entries (a Slack bridge, a pager). */
  route: readonly string[];
  routes: Pick<RouteQueues, "queue" | "deliveries">;
  logger: { error(object: object, message: string): void; warn(object: object, message: string): void };
  /** Counts the alert (the metrics' reframe_alerts_total). */
  onAlert?(kind: AlertKind): void;
  now(): number;
}

const SEVERITY: Record<AlertKind, "critical" | "warning"> = {
  queuePaused: "critical",
  spendCeiling: "critical",
  batchFailures: "warning",
  pipelineRunRefused: "warning",
  endpointDisabled: "critical",
  providerOutage: "critical",
  storageOutage: "critical",
};

export function makeAlertEvent(alert: AlertInput, time: number): AlertEvent {
  const type = alertEventType(alert.kind);
  const digest = createHash("sha256").update(`${type}\n${alert.dedupeKey}`).digest("hex");
  return alertEventSchema.parse({
    specversion: "1.0",
    id: `alert-${digest.slice(0, 32)}`,
    source: EVENT_SOURCE,
    type,
    subject: alert.subject,
    time: new Date(time).toISOString(),
    datacontenttype: "application/json",
    data: { ...alert.details, kind: alert.kind, severity: SEVERITY[alert.kind], message: alert.message },
  });
}

/**
 * Logs the alert, counts it and adds it to each queue of the alerts route (the event id is the
 * BullMQ job id there). A route that cannot be reached does not hide the alert: it was logged first.
 */
export async function publishAlert(publisher: AlertPublisher, alert: AlertInput): Promise<AlertEvent> {
  const event = makeAlertEvent(alert, publisher.now());
  const log = event.data.severity === "critical" ? publisher.logger.error : publisher.logger.warn;
  log.call(publisher.logger, { alert: alert.kind, subject: alert.subject, eventId: event.id }, alert.message);
  publisher.onAlert?.(alert.kind);
  await publishEvent(publisher.routes, publisher.route, event);
  return event;
}

/** The worker paused the queue: the provider refused the account. */
export function queuePausedAlert(input: {
  queue: string;
  code: string;
  message: string;
  pausedAt: number;
}): AlertInput {
  return {
    kind: "queuePaused",
    subject: input.queue,
    message: `paused the ${input.queue} queue: the provider refused the account (${input.code}: ${input.message}); resume with \`reframe queue resume\``,
    dedupeKey: `${input.queue}\n${input.code}\n${input.pausedAt}`,
    details: { queue: input.queue, code: input.code, pausedAt: input.pausedAt },
  };
}

/** Spend reached a ceiling (`day`, `pipeline:<name>`) in the period named (a date, a window). */
export function spendCeilingAlert(input: {
  ceiling: string;
  period: string;
  spentUsd: number;
  limitUsd: number;
}): AlertInput {
  return {
    kind: "spendCeiling",
    subject: input.ceiling,
    message: `spend reached the ${input.ceiling} ceiling: $${input.spentUsd.toFixed(2)} of $${input.limitUsd.toFixed(2)} (${input.period}); new work is refused until it resets`,
    dedupeKey: `${input.ceiling}\n${input.period}`,
    details: {
      ceiling: input.ceiling,
      period: input.period,
      spentUsd: input.spentUsd,
      limitUsd: input.limitUsd,
    },
  };
}

/** A batch closed with failed jobs. */
export function batchFailuresAlert(input: {
  batchId: string;
  kind: string;
  pipeline?: string | undefined;
  total: number;
  failed: number;
  failuresByReason: Record<string, number>;
  closedAt: number;
}): AlertInput {
  const reasons = Object.entries(input.failuresByReason)
    .sort((a, b) => b[1] - a[1])
    .map(([code, count]) => `${code} ${count}`)
    .join(", ");
  return {
    kind: "batchFailures",
    subject: input.batchId,
    message: `batch ${input.batchId} ended with ${input.failed} of ${input.total} jobs failed (${reasons || "no reason recorded"})`,
    dedupeKey: `${input.batchId}\n${input.closedAt}`,
    details: {
      batchId: input.batchId,
      batchKind: input.kind,
      ...(input.pipeline ? { pipeline: input.pipeline } : {}),
      total: input.total,
      failed: input.failed,
      failuresByReason: input.failuresByReason,
    },
  };
}

/** A pipeline run was refused over its budget. */
export function pipelineRunRefusedAlert(input: {
  pipeline: string;
  runId: string;
  reason: string;
  estimatedCostUsd?: number | undefined;
  budgetUsd?: number | undefined;
}): AlertInput {
  return {
    kind: "pipelineRunRefused",
    subject: input.runId,
    message: `pipeline ${input.pipeline}: run ${input.runId} refused, nothing enqueued (${input.reason})`,
    dedupeKey: input.runId,
    details: {
      pipeline: input.pipeline,
      runId: input.runId,
      reason: input.reason,
      ...(input.estimatedCostUsd === undefined ? {} : { estimatedCostUsd: input.estimatedCostUsd }),
      ...(input.budgetUsd === undefined ? {} : { budgetUsd: input.budgetUsd }),
    },
  };
}

/** An outbound webhook endpoint was disabled: its deliveries wait until `reframe endpoints enable`. */
export function endpointDisabledAlert(input: {
  endpoint: string;
  reason: string;
  disabledAt: number;
}): AlertInput {
  return {
    kind: "endpointDisabled",
    subject: input.endpoint,
    message: `endpoint ${input.endpoint} disabled: ${input.reason}; its deliveries wait (reframe endpoints enable ${input.endpoint}, then reframe deliveries retry)`,
    dedupeKey: `${input.endpoint}\n${input.disabledAt}`,
    details: { endpoint: input.endpoint, reason: input.reason, disabledAt: input.disabledAt },
  };
}

/** The provider breaker opened: submits and polls stop, jobs wait parked, one probe checks for its return. */
export function providerOutageAlert(input: {
  endpoint: string;
  failures: number;
  openedAt: number;
}): AlertInput {
  return {
    kind: "providerOutage",
    subject: input.endpoint,
    message: `the provider at ${input.endpoint} is unavailable (${input.failures} outage failures in a row): no job submits or polls, jobs wait parked and fail only at their own deadline; the breaker closes when a probe is answered`,
    dedupeKey: `${input.endpoint}\n${input.openedAt}`,
    details: { endpoint: input.endpoint, failures: input.failures, openedAt: input.openedAt },
  };
}

/** S3's breaker opened: no job asks S3 or sends to the provider, jobs wait parked, one probe checks for its return. */
export function storageOutageAlert(input: {
  endpoint: string;
  failures: number;
  openedAt: number;
}): AlertInput {
  return {
    kind: "storageOutage",
    subject: input.endpoint,
    message: `S3 at ${input.endpoint} is unavailable (${input.failures} outage failures in a row): no job asks S3 or sends to the provider (which could not fetch the source or upload the output), jobs wait parked and fail only at their own deadline; the breaker closes when a probe is answered`,
    dedupeKey: `${input.endpoint}\n${input.openedAt}`,
    details: { endpoint: input.endpoint, failures: input.failures, openedAt: input.openedAt },
  };
}
