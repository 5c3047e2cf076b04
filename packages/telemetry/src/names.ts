/**
 * Every name reframe's telemetry uses, written once: Prometheus metrics (with their unit, help text,
 * labels and the processes that serve them), span names, and the attribute keys that spans and log
 * lines share (a log line's `jobId` and a span's `jobId` attribute are the same string, so a search in
 * either finds the other). The alert rules and the Grafana dashboard in infra/ use only these metric
 * names; a test holds them to it.
 */

export const TELEMETRY_PROCESSES = ["worker", "webhooks", "api"] as const;
export type TelemetryProcess = (typeof TELEMETRY_PROCESSES)[number];

type MetricKind = "counter" | "gauge" | "histogram";

interface MetricName {
  name: string;
  kind: MetricKind;
  /** What one unit of the value is; the name ends with it where Prometheus convention says so. */
  unit: "jobs" | "tasks" | "requests" | "seconds" | "usd" | "ratio" | "deliveries" | "alerts" | "boolean";
  help: string;
  labels: readonly string[];
  processes: readonly TelemetryProcess[];
  /** Histogram buckets, in the metric's unit. */
  buckets?: readonly number[];
}

/** Seconds to tens of minutes: a job waits seconds for a fast provider, minutes behind a backlog. */
const JOB_SECONDS = [0.25, 0.5, 1, 2, 5, 10, 20, 30, 60, 120, 300, 600, 1200, 1800, 3600] as const;
const WORK_SECONDS = [0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30] as const;

export const METRICS = {
  queueJobs: {
    name: "reframe_queue_jobs",
    kind: "gauge",
    unit: "jobs",
    help: "Jobs in a queue by state, from BullMQ's counts (read at most once per cache period, not per job)",
    labels: ["queue", "state"],
    processes: ["worker", "api"],
  },
  queuePaused: {
    name: "reframe_queue_paused",
    kind: "gauge",
    unit: "boolean",
    help: "1 while the queue is paused, labelled with the reason (a provider code such as insufficientCredits, or manual)",
    labels: ["queue", "reason"],
    processes: ["worker", "api"],
  },
  parkedJobs: {
    name: "reframe_parked_jobs",
    kind: "gauge",
    unit: "jobs",
    help: "Outpaint jobs parked (delayed) while the provider works or a retry waits; they hold no worker slot",
    labels: [],
    processes: ["worker", "api"],
  },
  pendingTasks: {
    name: "reframe_pending_tasks",
    kind: "gauge",
    unit: "tasks",
    help: "Provider tasks submitted and still waiting for their outcome (webhook or poll)",
    labels: [],
    processes: ["worker", "api"],
  },
  reconcilerLag: {
    name: "reframe_reconciler_lag_seconds",
    kind: "gauge",
    unit: "seconds",
    help: "Age of the oldest task whose poll is due: how far the reconciler is behind (0 when nothing is due)",
    labels: [],
    processes: ["worker", "api"],
  },
  jobsTaken: {
    name: "reframe_worker_jobs_taken_total",
    kind: "counter",
    unit: "jobs",
    help: "Times this worker took a job from the queue (each step of a job counts: plan and submit, then finalize)",
    labels: [],
    processes: ["worker"],
  },
  jobsCompleted: {
    name: "reframe_jobs_completed_total",
    kind: "counter",
    unit: "jobs",
    help: "Outpaint jobs completed, by target (presets and common ratios by name, others by kind)",
    labels: ["target"],
    processes: ["worker"],
  },
  jobsFailed: {
    name: "reframe_jobs_failed_total",
    kind: "counter",
    unit: "jobs",
    help: "Outpaint jobs that ended failed, by reason code and target",
    labels: ["reason", "target"],
    processes: ["worker"],
  },
  parkToResult: {
    name: "reframe_job_park_to_result_seconds",
    kind: "histogram",
    unit: "seconds",
    help: "From the park before a job's first submit to its result checked in the bucket",
    labels: [],
    processes: ["worker"],
    buckets: JOB_SECONDS,
  },
  enqueueToCompletion: {
    name: "reframe_job_enqueue_to_completion_seconds",
    kind: "histogram",
    unit: "seconds",
    help: "From a job's enqueue to its completion",
    labels: [],
    processes: ["worker"],
    buckets: JOB_SECONDS,
  },
  costUsd: {
    name: "reframe_cost_usd_total",
    kind: "counter",
    unit: "usd",
    help: "USD of completed jobs: planned (the estimate made at plan time) and billed (what the provider reported)",
    labels: ["kind"],
    processes: ["worker"],
  },
  providerRequests: {
    name: "reframe_provider_requests_total",
    kind: "counter",
    unit: "requests",
    help: "HTTP requests to the provider by kind (submit, getResponse) and outcome (answered, or the error's category)",
    labels: ["kind", "outcome"],
    processes: ["worker"],
  },
  providerRequestSeconds: {
    name: "reframe_provider_request_seconds",
    kind: "histogram",
    unit: "seconds",
    help: "Duration of one provider request, by kind",
    labels: ["kind"],
    processes: ["worker"],
    buckets: [0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60],
  },
  submitTasks: {
    name: "reframe_provider_submit_tasks",
    kind: "histogram",
    unit: "tasks",
    help: "Tasks carried by one submit request (concurrent jobs share a POST)",
    labels: [],
    processes: ["worker"],
    buckets: [1, 2, 5, 10, 20, 50, 100, 200, 500],
  },
  imageWork: {
    name: "reframe_image_work_seconds",
    kind: "histogram",
    unit: "seconds",
    help: "Image work in the worker, by operation (prescale: download, scale, upload to scratch; copy: re-encode a source already at the target)",
    labels: ["operation"],
    processes: ["worker"],
    buckets: WORK_SECONDS,
  },
  webhookDeliveries: {
    name: "reframe_webhook_deliveries_total",
    kind: "counter",
    unit: "deliveries",
    help: "Webhook deliveries by result: stored, duplicate (nothing changed), notFinal (the task still runs: nothing stored), refused (bad token or body), unavailable (Redis down: 503)",
    labels: ["result"],
    processes: ["webhooks"],
  },
  webhookVerificationsRefused: {
    name: "reframe_webhook_verifications_refused_total",
    kind: "counter",
    unit: "deliveries",
    help: "Webhook deliveries whose token did not verify (missing or wrong): nothing was read or stored",
    labels: [],
    processes: ["webhooks"],
  },
  endpointDeliveryAttempts: {
    name: "reframe_endpoint_delivery_attempts_total",
    kind: "counter",
    unit: "deliveries",
    help: "Outbound webhook attempts (reframe endpoints) by endpoint and result: delivered (2xx), retryable (another status, a timeout, a closed connection), gone (410: the endpoint is disabled), refused (the egress guard), disabled (not sent)",
    labels: ["endpoint", "result"],
    processes: ["worker"],
  },
  endpointDeliveryLag: {
    name: "reframe_endpoint_delivery_lag_seconds",
    kind: "histogram",
    unit: "seconds",
    help: "From an event's time to its delivery's 2xx, by endpoint: retries after failures count in it",
    labels: ["endpoint"],
    processes: ["worker"],
    buckets: [0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 300, 1800, 7200, 21600, 86400],
  },
  spendUsd: {
    name: "reframe_spend_usd",
    kind: "gauge",
    unit: "usd",
    help: "Spend counted against a ceiling in its current period: day (SPEND_LIMIT_USD_PER_DAY, from the workers), pipeline:<name> and pipeline:<name>:hour (upload budgets, from the API)",
    labels: ["ceiling"],
    processes: ["worker", "api"],
  },
  spendLimitUsd: {
    name: "reframe_spend_limit_usd",
    kind: "gauge",
    unit: "usd",
    help: "The ceiling itself, beside reframe_spend_usd",
    labels: ["ceiling"],
    processes: ["worker", "api"],
  },
  providerBreakerOpen: {
    name: "reframe_provider_breaker_open",
    kind: "gauge",
    unit: "boolean",
    help: "1 while the provider breaker of an endpoint is open (an outage: no job submits or polls, one probe at a time), 0 while closed",
    labels: ["endpoint"],
    processes: ["worker"],
  },
  storageBreakerOpen: {
    name: "reframe_storage_breaker_open",
    kind: "gauge",
    unit: "boolean",
    help: "1 while the S3 breaker of an endpoint is open (an outage: jobs that need S3 wait parked, one probe at a time), 0 while closed",
    labels: ["endpoint"],
    processes: ["worker"],
  },
  storageWaits: {
    name: "reframe_storage_waits_total",
    kind: "counter",
    unit: "jobs",
    help: "Times a job parked because S3 could not be reached (no connection, 5xx), by the step it waits at (plan, submit, await, finalize)",
    labels: ["step"],
    processes: ["worker"],
  },
  alerts: {
    name: "reframe_alerts_total",
    kind: "counter",
    unit: "alerts",
    help: "Alerts published to the alerts route, by kind",
    labels: ["kind"],
    processes: ["worker", "api"],
  },
  jobsAdded: {
    name: "reframe_api_jobs_added_total",
    kind: "counter",
    unit: "jobs",
    help: "Jobs the API added to the queue (posted jobs, S3 events), and those it found already there",
    labels: ["result"],
    processes: ["api"],
  },
  httpRequests: {
    name: "reframe_http_requests_total",
    kind: "counter",
    unit: "requests",
    help: "Requests the API answered, by route pattern and status class (2xx, 4xx, 5xx)",
    labels: ["route", "status"],
    processes: ["api"],
  },
} as const satisfies Record<string, MetricName>;

export type MetricKey = keyof typeof METRICS;

/**
 * Metrics every process serves from prom-client's default collectors, listed so that alert rules may
 * use them too (the event loop's lag among them).
 */
export const DEFAULT_PROCESS_METRICS = [
  "nodejs_eventloop_lag_seconds",
  "nodejs_eventloop_lag_p99_seconds",
  "process_cpu_seconds_total",
  "process_resident_memory_bytes",
  "nodejs_heap_size_used_bytes",
  "process_start_time_seconds",
  "up",
] as const;

/** Span names of reframe's own spans; BullMQ's (add, process) come from bullmq-otel. */
export const SPANS = {
  apiRequest: "api.request",
  cliCommand: "cli.command",
  plan: "outpaint.plan",
  prescale: "outpaint.prescale",
  copy: "outpaint.copy",
  providerRequest: "provider.request",
  outputCheck: "outpaint.output_check",
  eventPublish: "event.publish",
  webhookArrival: "webhook.arrival",
  webhookVerify: "webhook.verify",
  reconcilerPoll: "reconciler.poll",
  alertPublish: "alert.publish",
} as const;
export type SpanName = (typeof SPANS)[keyof typeof SPANS];

/** Keys shared by span attributes and log fields: the same string in both. */
export const ATTRIBUTES = {
  jobId: "jobId",
  taskUUID: "taskUUID",
  taskUUIDs: "taskUUIDs",
  tasks: "tasks",
  batchId: "batchId",
  pipeline: "pipeline",
  queue: "queue",
  requestKind: "kind",
  outcome: "outcome",
  code: "code",
  key: "key",
  eventType: "eventType",
  eventId: "eventId",
  route: "route",
  alert: "alert",
  operation: "operation",
  result: "result",
  httpMethod: "http.request.method",
  httpRoute: "http.route",
  httpStatus: "http.response.status_code",
} as const;
