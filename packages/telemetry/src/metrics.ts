import { Counter, collectDefaultMetrics, Gauge, Histogram, Registry } from "prom-client";
import { METRICS, type MetricKey, type TelemetryProcess } from "./names.ts";

/**
 * One process's Prometheus metrics: a registry of its own (never prom-client's global one, so tests
 * and several stacks in one process do not mix), the metrics the names map gives this process, and
 * the standard process metrics (CPU, memory, event-loop lag).
 */

/** What a queue looks like now; read by the caller (it knows BullMQ), cached, once per scrape at most. */
export interface QueueSample {
  queues: {
    queue: string;
    counts: Record<string, number>;
    paused: boolean;
    /** Why it is paused: the provider's code, or "manual". */
    pauseReason?: string;
  }[];
  parkedJobs: number;
  pendingTasks: number;
  /** Seconds. */
  reconcilerLag: number;
}

export interface MetricsOptions {
  process: TelemetryProcess;
  /** The queues' state, read when Prometheus scrapes; it must cache (several gauges ask per scrape). */
  sampleQueues?: () => Promise<QueueSample>;
  /** Off in unit tests that count only their own metrics. */
  defaultMetrics?: boolean;
}

type Instrument<K extends MetricKey> = (typeof METRICS)[K]["kind"] extends "counter"
  ? Counter<string>
  : (typeof METRICS)[K]["kind"] extends "gauge"
    ? Gauge<string>
    : Histogram<string>;

type Instruments = { [K in MetricKey]?: Instrument<K> };

/**
 * The narrow interface callers use: named recordings, each a no-op where the process does not serve
 * that metric. Labels that could grow without bound (targets, reasons) go through `boundedLabel`.
 */
export interface Metrics {
  registry: Registry;
  jobTaken(): void;
  jobCompleted(input: {
    target: string;
    plannedUsd: number;
    billedUsd: number;
    parkToResultMs?: number;
    enqueueToCompletionMs: number;
  }): void;
  jobFailed(input: { reason: string; target: string }): void;
  providerRequest(input: {
    kind: "submit" | "getResponse";
    outcome: string;
    tasks: number;
    seconds: number;
  }): void;
  imageWork(operation: "prescale" | "copy" | "thumbnail", seconds: number): void;
  webhookDelivery(result: "stored" | "duplicate" | "notFinal" | "refused" | "unavailable"): void;
  webhookVerificationRefused(): void;
  /** One outbound webhook attempt to a declared endpoint (packages/outbound's delivery worker). */
  endpointAttempt(endpoint: string, result: string): void;
  /** An outbound delivery's 2xx, `lagMs` after its event's time. */
  endpointDelivered(endpoint: string, lagMs: number): void;
  /** Spend against one ceiling: `day` (the workers' spend watch), `pipeline:<name>[:hour]` (the intake). */
  setSpend(ceiling: string, spentUsd: number, limitUsd: number): void;
  /** The breaker of a service's endpoint (its host), as this worker last read it. */
  setBreaker(service: "provider" | "s3", endpoint: string, open: boolean): void;
  /** A job parked because S3 could not be reached, at this step. */
  storageWait(step: "plan" | "submit" | "await" | "finalize"): void;
  alert(kind: string): void;
  jobsAdded(added: number, existing: number): void;
  httpRequest(route: string, status: number): void;
}

export function createMetrics(options: MetricsOptions): Metrics {
  const registry = new Registry();
  const instruments: Instruments = {};
  const make = (key: MetricKey) => {
    const spec = METRICS[key];
    if (!(spec.processes as readonly string[]).includes(options.process)) return;
    const base = { name: spec.name, help: spec.help, labelNames: [...spec.labels], registers: [registry] };
    const instrument =
      spec.kind === "counter"
        ? new Counter(base)
        : spec.kind === "gauge"
          ? new Gauge(base)
          : new Histogram({ ...base, buckets: [...("buckets" in spec ? spec.buckets : [])] });
    (instruments as Record<string, unknown>)[key] = instrument;
  };
  for (const key of Object.keys(METRICS) as MetricKey[]) make(key);
  if (options.sampleQueues) registerQueueCollector(instruments, options.sampleQueues);
  if (options.defaultMetrics ?? true) collectDefaultMetrics({ register: registry });
  const targets = boundedLabel(40);
  const reasons = boundedLabel(60);
  const outcomes = boundedLabel(20);
  const ceilings = boundedLabel(100);
  const routes = boundedLabel(30);
  const endpoints = boundedLabel(100);
  return {
    registry,
    jobTaken: () => instruments.jobsTaken?.inc(),
    jobCompleted(input) {
      instruments.jobsCompleted?.inc({ target: targets(input.target) });
      instruments.costUsd?.inc({ kind: "planned" }, input.plannedUsd);
      instruments.costUsd?.inc({ kind: "billed" }, input.billedUsd);
      if (input.parkToResultMs !== undefined)
        instruments.parkToResult?.observe(Math.max(0, input.parkToResultMs) / 1000);
      instruments.enqueueToCompletion?.observe(Math.max(0, input.enqueueToCompletionMs) / 1000);
    },
    jobFailed: ({ reason, target }) =>
      instruments.jobsFailed?.inc({ reason: reasons(reason), target: targets(target) }),
    providerRequest({ kind, outcome, tasks, seconds }) {
      instruments.providerRequests?.inc({ kind, outcome: outcomes(outcome) });
      instruments.providerRequestSeconds?.observe({ kind }, seconds);
      if (kind === "submit") instruments.submitTasks?.observe(tasks);
    },
    imageWork: (operation, seconds) => instruments.imageWork?.observe({ operation }, seconds),
    webhookDelivery: (result) => instruments.webhookDeliveries?.inc({ result }),
    webhookVerificationRefused: () => instruments.webhookVerificationsRefused?.inc(),
    endpointAttempt: (endpoint, result) =>
      instruments.endpointDeliveryAttempts?.inc({ endpoint: endpoints(endpoint), result: outcomes(result) }),
    endpointDelivered: (endpoint, lagMs) =>
      instruments.endpointDeliveryLag?.observe({ endpoint: endpoints(endpoint) }, Math.max(0, lagMs) / 1000),
    setSpend(ceiling, spentUsd, limitUsd) {
      const label = ceilings(ceiling);
      instruments.spendUsd?.set({ ceiling: label }, spentUsd);
      instruments.spendLimitUsd?.set({ ceiling: label }, limitUsd);
    },
    setBreaker: (service, endpoint, open) =>
      (service === "provider" ? instruments.providerBreakerOpen : instruments.storageBreakerOpen)?.set(
        { endpoint: endpoints(endpoint) },
        open ? 1 : 0,
      ),
    storageWait: (step) => instruments.storageWaits?.inc({ step }),
    alert: (kind) => instruments.alerts?.inc({ kind }),
    jobsAdded(added, existing) {
      instruments.jobsAdded?.inc({ result: "added" }, added);
      instruments.jobsAdded?.inc({ result: "existing" }, existing);
    },
    httpRequest: (route, status) =>
      instruments.httpRequests?.inc({ route: routes(route), status: `${Math.floor(status / 100)}xx` }),
  };
}

/**
 * Prometheus keeps one series per label value, so a label fed from data (a provider's error code, a
 * target spec) must not grow without bound: the first `cap` distinct values that look like names are
 * kept, anything else is "other".
 */
export function boundedLabel(cap: number): (value: string) => string {
  const seen = new Set<string>();
  return (value) => {
    if (seen.has(value)) return value;
    if (seen.size >= cap || !/^[A-Za-z0-9/][A-Za-z0-9._:/-]{0,63}$/.test(value)) return "other";
    seen.add(value);
    return value;
  };
}

/** The queue gauges are set from one sample when Prometheus collects any of them. */
function registerQueueCollector(instruments: Instruments, sample: () => Promise<QueueSample>): void {
  // The sampler caches (a scrape collects each gauge in turn, and each asks for the sample); a
  // failed read (Redis away) keeps the last values rather than failing the whole scrape.
  const refresh = () =>
    sample()
      .then((now) => {
        const { queueJobs, queuePaused } = instruments;
        queueJobs?.reset();
        queuePaused?.reset();
        for (const queue of now.queues) {
          for (const [state, count] of Object.entries(queue.counts))
            queueJobs?.set({ queue: queue.queue, state }, count);
          queuePaused?.set(
            { queue: queue.queue, reason: queue.paused ? (queue.pauseReason ?? "manual") : "" },
            queue.paused ? 1 : 0,
          );
        }
        instruments.parkedJobs?.set(now.parkedJobs);
        instruments.pendingTasks?.set(now.pendingTasks);
        instruments.reconcilerLag?.set(now.reconcilerLag);
      })
      .catch(() => undefined);
  for (const gauge of [
    instruments.queueJobs,
    instruments.queuePaused,
    instruments.parkedJobs,
    instruments.pendingTasks,
    instruments.reconcilerLag,
  ]) {
    if (gauge) (gauge as unknown as { collect: () => Promise<void> }).collect = refresh;
  }
}
