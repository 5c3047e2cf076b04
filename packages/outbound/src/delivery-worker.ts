import type { GuardedFetch } from "@reframe/egress";
import {
  type AlertPublisher,
  DELIVERY_QUEUE,
  type DeliveryJobData,
  deliveryJobDataSchema,
  endpointDisabledAlert,
  publishAlert,
} from "@reframe/jobs";
import { isRedisOutage, type RedisClient } from "@reframe/redis";
import type { Logger, Metrics } from "@reframe/telemetry";
import { type Job, UnrecoverableError, Worker } from "bullmq";
import { z } from "zod";
import { type AttemptResult, attemptDelivery } from "./attempt.ts";
import { type EndpointStore, signingSecrets } from "./endpoint-store.ts";
import { retryDelay } from "./retry-schedule.ts";

export interface DeliverySettings {
  /** Waits before the 2nd, 3rd, … attempt (retry-schedule.ts); its length + 1 attempts in all. */
  schedule: readonly number[];
  /** A 2xx must arrive within this (default 15 s). */
  timeoutMs: number;
  /** An endpoint failing (no success) for this long is disabled, with an alert. */
  disableAfterMs: number;
}

export interface DeliveryDeps {
  endpoints: EndpointStore;
  /** POSTs through the egress guard (DELIVERY_ALLOW_HOSTS), redirects not followed. */
  fetch: GuardedFetch["fetch"];
  settings: DeliverySettings;
  logger: Logger;
  now(): number;
  random?: () => number;
  /** Where a disabled endpoint is announced (ALERTS_ROUTE); without it, the alert is only logged. */
  alerts?: AlertPublisher;
  /** Attempts by endpoint and result, and the lag from an event to its delivery (METRICS_PORT). */
  metrics?: Pick<Metrics, "endpointAttempt" | "endpointDelivered">;
}

/** One line of a delivery's attempt log (BullMQ job logs): written before the POST, then after. */
export interface AttemptLogLine {
  /** When the attempt was sent (epoch ms): pairs the two lines of one attempt. */
  sent: number;
  status?: number;
  ms?: number;
  error?: string;
  result?: AttemptResult["kind"];
}

/** What a finished delivery returns (BullMQ returnvalue): delivered, or skipped by its event types. */
export const deliveryResultSchema = z.discriminatedUnion("delivered", [
  z.object({
    delivered: z.literal(true),
    status: z.number().int(),
    ms: z.number(),
    attempts: z.number().int(),
    deliveredAt: z.number(),
  }),
  z.object({ delivered: z.literal(false), skipped: z.literal("eventType") }),
]);
export type DeliveryResult = z.output<typeof deliveryResultSchema>;

/** Ends a delivery without more attempts; the message starts with its code. */
function terminal(code: string, message: string): UnrecoverableError {
  return new UnrecoverableError(`${code}: ${message}`);
}

/**
 * Delivers one event to one endpoint per attempt; BullMQ keeps the delivery durable (a killed worker's
 * delivery comes back when its lock expires, Redis's AOF keeps it across a restart) and waits between
 * attempts by `settings.schedule`. This is the one place where an attempt's result decides what
 * happens next, and where per-endpoint metrics are counted.
 */
export function createDeliveryProcessor(deps: DeliveryDeps) {
  const { endpoints, settings, logger } = deps;
  return async (job: Job<DeliveryJobData>): Promise<DeliveryResult> => {
    const { endpoint: name, event } = deliveryJobDataSchema.parse(job.data);
    const endpoint = await endpoints.get(name);
    if (!endpoint)
      throw terminal(
        "endpointUnknown",
        `no endpoint ${name} is declared (reframe endpoints add ${name} URL)`,
      );
    if (endpoint.eventTypes && !endpoint.eventTypes.includes(event.type))
      return { delivered: false, skipped: "eventType" };
    // The last word before sending (endpoint-store.ts): a disable that came first is always seen.
    const gate = await endpoints.checkBeforeSend(name);
    if (gate.disabledAt !== undefined) {
      deps.metrics?.endpointAttempt(name, "disabled");
      await endpoints.recordFailedDelivery(name);
      throw terminal(
        "endpointDisabled",
        `endpoint ${name} is disabled (${endpoint.state.disabledReason ?? "see reframe endpoints list"}); after enabling it: reframe deliveries retry`,
      );
    }
    const sent = gate.now;
    await job.log(JSON.stringify({ sent } satisfies AttemptLogLine));
    const result = await attemptDelivery({
      fetch: deps.fetch,
      url: endpoint.url,
      id: event.id,
      body: JSON.stringify(event),
      secrets: signingSecrets(endpoint, sent),
      at: new Date(sent),
      timeoutMs: settings.timeoutMs,
      now: deps.now,
    });
    const line: AttemptLogLine = {
      sent,
      result: result.kind,
      ms: result.ms,
      ...("status" in result && result.status !== undefined ? { status: result.status } : {}),
      ...("error" in result ? { error: result.error } : {}),
    };
    await job.log(JSON.stringify(line));
    deps.metrics?.endpointAttempt(name, result.kind);
    if (result.kind === "delivered") {
      // From the event's time (CloudEvents `time`); an event without one, from its publication.
      const eventTime = typeof event.time === "string" ? Date.parse(event.time) : Number.NaN;
      deps.metrics?.endpointDelivered(
        name,
        deps.now() - (Number.isNaN(eventTime) ? job.timestamp : eventTime),
      );
    }
    const state = await endpoints.recordAttempt(
      name,
      result.kind === "delivered" ? "success" : "failure",
      sent,
    );
    const attempts = job.attemptsMade + 1;
    if (result.kind === "delivered")
      return { delivered: true, status: result.status, ms: result.ms, attempts, deliveredAt: deps.now() };
    if (result.kind === "gone") {
      await disable(name, `410 Gone from the endpoint at ${new Date(sent).toISOString()}`);
      await endpoints.recordFailedDelivery(name);
      throw terminal("endpointGone", `${result.error}: endpoint ${name} is disabled`);
    }
    if (result.kind === "refused") {
      await endpoints.recordFailedDelivery(name);
      throw terminal("egressRefused", result.error);
    }
    const failingFor = state.failingSince === undefined ? 0 : sent - state.failingSince;
    if (failingFor >= settings.disableAfterMs) {
      await disable(name, `failing since ${new Date(state.failingSince!).toISOString()} (${result.error})`);
      await endpoints.recordFailedDelivery(name);
      throw terminal(
        "endpointFailing",
        `${result.error}; endpoint ${name} failed for too long and is disabled`,
      );
    }
    if (retryDelay(settings.schedule, attempts) === undefined) {
      await endpoints.recordFailedDelivery(name);
      throw terminal("attemptsExhausted", `${result.error} (attempt ${attempts} of ${attempts})`);
    }
    throw new Error(result.error);
  };

  async function disable(name: string, reason: string): Promise<void> {
    if (!(await endpoints.disable(name, reason))) return; // disabled before: announced then
    const alert = endpointDisabledAlert({ endpoint: name, reason, disabledAt: deps.now() });
    if (deps.alerts) await publishAlert(deps.alerts, alert);
    else logger.error({ alert: alert.kind, subject: name }, alert.message);
  }
}

export interface DeliveryWorkerOptions extends DeliveryDeps {
  connection: RedisClient;
  prefix: string;
  concurrency: number;
}

/**
 * The BullMQ worker of the delivery queue: its own queue and concurrency, so a slow or dead endpoint
 * holds delivery slots only, never outpaint work. A job stalled by a killed worker runs again (at
 * least once): up to 10 stalls are allowed, since a delivery is safe to repeat and receivers drop
 * duplicates by `webhook-id`.
 */
export function startDeliveryWorker(options: DeliveryWorkerOptions): Worker<DeliveryJobData> {
  const random = options.random ?? Math.random;
  const worker = new Worker<DeliveryJobData>(DELIVERY_QUEUE, createDeliveryProcessor(options), {
    connection: options.connection,
    prefix: options.prefix,
    concurrency: options.concurrency,
    maxStalledCount: 10,
    // The lock outlives a request that runs to its timeout, with room to renew it.
    lockDuration: Math.max(30_000, options.settings.timeoutMs * 2),
    settings: {
      backoffStrategy: (attemptsMade: number) =>
        retryDelay(options.settings.schedule, attemptsMade, random) ?? 0,
    },
  });
  worker.on("failed", (job, error) => {
    if (job && (error instanceof UnrecoverableError || job.attemptsMade >= (job.opts.attempts ?? 1)))
      options.logger.warn(
        {
          deliveryId: job.id,
          endpoint: job.data.endpoint,
          eventId: job.data.event?.id,
          reason: error.message,
        },
        "delivery failed",
      );
  });
  worker.on("error", (error) => {
    // Redis away is reported once per reconnection attempt by the session's connection.
    if (isRedisOutage(options.connection, error)) return;
    options.logger.error({ err: error }, "delivery worker error");
  });
  return worker;
}
