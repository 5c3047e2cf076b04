import type { Target } from "@reframe/geometry";
import type { OutpaintJobData, OutpaintResult } from "@reframe/jobs";
import { ProviderError, type RunwareClient } from "@reframe/runware";
import { ATTRIBUTES, type Metrics, SPANS, withSpan } from "@reframe/telemetry";

/**
 * The worker's metrics and spans that sit around existing code rather than inside it: the provider
 * client, a job's completion, image work. The step machine's own files call these in one line each.
 */

/** What the worker's parts record; a narrow slice of the process's metrics. */
export type WorkerMetrics = Pick<
  Metrics,
  | "jobTaken"
  | "jobCompleted"
  | "jobFailed"
  | "providerRequest"
  | "imageWork"
  | "alert"
  | "setSpend"
  | "setBreaker"
  | "storageWait"
  | "endpointAttempt"
  | "endpointDelivered"
>;

/**
 * Every provider request counted by kind and outcome ("accepted", or the error's category: rateLimit,
 * serverError, connection, auth, quota, …), timed, and traced with the taskUUIDs it carries.
 */
export function instrumentProvider(client: RunwareClient, metrics: WorkerMetrics): RunwareClient {
  const observe = async <T>(
    kind: "submit" | "getResponse",
    taskUUIDs: readonly string[],
    send: () => Promise<T>,
  ): Promise<T> =>
    withSpan(
      SPANS.providerRequest,
      {
        [ATTRIBUTES.requestKind]: kind,
        [ATTRIBUTES.tasks]: taskUUIDs.length,
        [ATTRIBUTES.taskUUIDs]: [...taskUUIDs],
      },
      async (span) => {
        const started = performance.now();
        let outcome = "accepted";
        try {
          return await send();
        } catch (error) {
          outcome = error instanceof ProviderError ? error.category : "unknown";
          throw error;
        } finally {
          span?.setAttribute(ATTRIBUTES.outcome, outcome);
          metrics.providerRequest({
            kind,
            outcome,
            tasks: taskUUIDs.length,
            seconds: (performance.now() - started) / 1000,
          });
        }
      },
    );
  return {
    submit: (tasks, options) =>
      tasks.length === 0
        ? client.submit(tasks, options)
        : observe(
            "submit",
            tasks.map((task) => task.taskUUID),
            () => client.submit(tasks, options),
          ),
    getResponses: (taskUUIDs, options) =>
      taskUUIDs.length === 0
        ? client.getResponses(taskUUIDs, options)
        : observe("getResponse", taskUUIDs, () => client.getResponses(taskUUIDs, options)),
    close: () => client.close(),
  };
}

/**
 * A target as a metric label, from a bounded set: presets by name, ratios by their label (16x9),
 * exact sizes and explicit margins by kind only (their values are unbounded).
 */
export function metricTarget(target: Target): string {
  switch (target.kind) {
    case "preset":
      return target.name;
    case "ratio":
      return target.ratio.replace(":", "x");
    case "size":
      return "size";
    case "margins":
      return "margins";
    default:
      return "other";
  }
}

/** The `completed` listener's share: counts, cost planned and billed, the two latencies. */
export function recordCompletion(
  data: OutpaintJobData,
  result: OutpaintResult,
  metrics: WorkerMetrics,
): void {
  const { timings } = result;
  const plannedUsd = data.state?.plan?.costUsd ?? 0;
  metrics.jobCompleted({
    target: metricTarget(data.target),
    plannedUsd,
    billedUsd: result.costUsd,
    // A copy (no provider call, nothing planned) parks nowhere: its submittedAt is its plan time.
    ...(plannedUsd > 0 ? { parkToResultMs: timings.completedAt - timings.submittedAt } : {}),
    enqueueToCompletionMs: timings.totalMs,
  });
}

/** Image work (pre-scale, copy) timed into reframe_image_work_seconds and traced as its own span. */
export function imageWork<T>(
  metrics: Pick<WorkerMetrics, "imageWork"> | undefined,
  operation: "prescale" | "copy",
  attributes: Record<string, string>,
  work: () => Promise<T>,
): Promise<T> {
  return withSpan(operation === "prescale" ? SPANS.prescale : SPANS.copy, attributes, async () => {
    const started = performance.now();
    try {
      return await work();
    } finally {
      metrics?.imageWork(operation, (performance.now() - started) / 1000);
    }
  });
}
