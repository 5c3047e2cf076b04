import { createHash } from "node:crypto";
import { DEFAULT_QUEUE_PREFIX, type RedisClient } from "@reframe/redis";
import { type DefaultJobOptions, Queue, type Telemetry } from "bullmq";
import { z } from "zod";
import { DELIVERY_QUEUE, QUEUE_NAME_PATTERN } from "./names.ts";
import { ROUTE_JOB_OPTIONS } from "./queues.ts";

/**
 * A route lists where a job's (or a batch's, or a run's) events go. Each entry is either
 * - the name of a downstream BullMQ queue (`cdn-purge`): the event is added to that queue, or
 * - `webhook:<endpoint>`: the event is POSTed to a declared outbound endpoint (Standard Webhooks),
 *   through the delivery queue.
 * A queue name never holds ':' (BullMQ joins keys with it), so the two kinds cannot be confused, and
 * routes written before endpoints existed (queue names only) keep their meaning and their job ids.
 */
export const WEBHOOK_ROUTE_PREFIX = "webhook:";

export type RouteDestination = { kind: "queue"; queue: string } | { kind: "webhook"; endpoint: string };

const ROUTE_ENTRY_RULE =
  "must be a queue name (letters, digits, '.', '_', '-') or webhook:<endpoint name> (no other ':')";

export const routeEntrySchema = z
  .string()
  .refine((entry) => parseRouteDestination(entry) !== undefined, ROUTE_ENTRY_RULE);

/** The destination an entry names, or undefined when it names none. */
export function parseRouteDestination(entry: string): RouteDestination | undefined {
  if (entry.startsWith(WEBHOOK_ROUTE_PREFIX)) {
    const endpoint = entry.slice(WEBHOOK_ROUTE_PREFIX.length);
    return QUEUE_NAME_PATTERN.test(endpoint) ? { kind: "webhook", endpoint } : undefined;
  }
  return QUEUE_NAME_PATTERN.test(entry) ? { kind: "queue", queue: entry } : undefined;
}

/** What every event of reframe has: a CloudEvents id (deterministic, see events.ts) and type. */
export type RoutedEvent = { id: string; type: string } & Record<string, unknown>;

/** One event to one endpoint: a job of the delivery queue. */
export const deliveryJobDataSchema = z.object({
  endpoint: z.string().regex(QUEUE_NAME_PATTERN),
  event: z.looseObject({ id: z.string().min(1), type: z.string().min(1) }),
});
export type DeliveryJobData = z.output<typeof deliveryJobDataSchema>;

/**
 * Deterministic from the endpoint and the event, so publishing one event twice (a retried finalize,
 * a second seal) makes one delivery; "dlv-" keeps it free of ':' and never all digits (BullMQ ids).
 */
export function deliveryId(endpoint: string, eventId: string): string {
  return `dlv-${createHash("sha256").update(`${endpoint}\n${eventId}`).digest("hex").slice(0, 32)}`;
}

const DAY_SECONDS = 24 * 60 * 60;

/**
 * Deliveries are retried by the delivery worker on its own schedule (about a day, see the outbound
 * package), which also decides when to give up; `attempts` is only a bound above any schedule.
 * Finished deliveries are the audit trail (`reframe deliveries list`): 30 days or the newest 100,000.
 * `keepLogs` bounds the attempt log kept with each delivery.
 */
export const DELIVERY_JOB_OPTIONS = {
  attempts: 100,
  backoff: { type: "webhook" },
  removeOnComplete: { age: 30 * DAY_SECONDS, count: 100_000 },
  removeOnFail: { age: 30 * DAY_SECONDS, count: 100_000 },
  keepLogs: 50,
} as const satisfies DefaultJobOptions;

/** The queues a process publishes events to, each opened once on first use; close it once. */
export interface RouteQueues {
  /** The downstream queue of that name. */
  queue(name: string): Pick<Queue, "add" | "getJob">;
  /** The outbound endpoints' delivery queue. */
  deliveries(): Pick<Queue, "add" | "getJob">;
  close(): Promise<void>;
}

export function openRouteQueues(options: {
  connection: RedisClient;
  prefix?: string;
  /** Replaces parts of ROUTE_JOB_OPTIONS for downstream queues. */
  defaultJobOptions?: DefaultJobOptions;
  /** bullmq-otel while tracing is on: events carry their trace context downstream. */
  telemetry?: Telemetry | undefined;
  /**
   * A queue's errors (a lost connection among them); without a listener BullMQ prints each one with
   * its stack. Ignored by default: the caller's own commands fail and say so.
   */
  onQueueError?: (error: Error, queue: Queue) => void;
}): RouteQueues {
  const prefix = options.prefix ?? DEFAULT_QUEUE_PREFIX;
  const queues = new Map<string, Queue>();
  const open = (name: string, defaultJobOptions: DefaultJobOptions) => {
    let queue = queues.get(name);
    if (!queue) {
      const opened = new Queue(name, {
        connection: options.connection,
        prefix,
        defaultJobOptions,
        ...(options.telemetry ? { telemetry: options.telemetry } : {}),
      });
      opened.on("error", (error) => options.onQueueError?.(error, opened));
      queues.set(name, opened);
      queue = opened;
    }
    return queue;
  };
  return {
    queue(name) {
      if (!QUEUE_NAME_PATTERN.test(name))
        throw new TypeError(`route queue "${name}": must be letters, digits, '.', '_', '-' (no ':')`);
      return open(name, { ...ROUTE_JOB_OPTIONS, ...options.defaultJobOptions });
    },
    deliveries: () => open(DELIVERY_QUEUE, DELIVERY_JOB_OPTIONS),
    async close() {
      const open = [...queues.values()];
      queues.clear();
      await Promise.all(open.map((queue) => queue.close()));
    },
  };
}

/**
 * Sends one event to every destination of a route: a downstream queue gets it with the event id as
 * its BullMQ job id, an endpoint gets a delivery whose id derives from the event id; either way
 * publishing the same event again adds nothing. An entry that names no destination (a route stored
 * before validation) is an error: the caller's retry or failure handling reports it.
 */
export async function publishEvent(
  routes: Pick<RouteQueues, "queue" | "deliveries">,
  route: readonly string[],
  event: RoutedEvent,
): Promise<void> {
  await Promise.all(
    route.map((entry) => {
      const destination = parseRouteDestination(entry);
      if (!destination) throw new TypeError(`route entry "${entry}": ${ROUTE_ENTRY_RULE}`);
      if (destination.kind === "queue")
        return routes.queue(destination.queue).add(event.type, event, { jobId: event.id });
      const data: DeliveryJobData = { endpoint: destination.endpoint, event };
      return routes.deliveries().add(event.type, data, { jobId: deliveryId(destination.endpoint, event.id) });
    }),
  );
}
