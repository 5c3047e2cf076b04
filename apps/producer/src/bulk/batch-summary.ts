import type { BatchJobEnd, BatchStatus, BatchStore } from "@reframe/jobs";
import type { ReportSource } from "@reframe/report";
import { formatUsd } from "./plan-text.ts";
import { formatDuration } from "./progress-line.ts";

/**
 * A batch's end as numbers (completed, failed by reason, skipped, cost, p50/p95 time, wall time) and
 * as report rows (each source with its outputs and failures). Percentiles come from each job's time
 * from enqueue to end, as the worker recorded it.
 */

export interface BatchSummary {
  status: BatchStatus;
  p50Ms: number | undefined;
  p95Ms: number | undefined;
  /** From the batch's creation to its close (or to now while it runs). */
  wallMs: number;
  sources: ReportSource[];
}

/** Nearest-rank percentile (p in 0..100) of ascending values; undefined when there are none. */
export function percentile(ascending: readonly number[], p: number): number | undefined {
  if (ascending.length === 0) return undefined;
  const rank = Math.ceil((p / 100) * ascending.length);
  return ascending[Math.min(ascending.length, Math.max(1, rank)) - 1];
}

export async function summarizeBatch(
  store: Pick<BatchStore, "results">,
  status: BatchStatus,
  now = Date.now(),
): Promise<BatchSummary> {
  const durations: number[] = [];
  const bySource = new Map<string, ReportSource>();
  for await (const [, end] of store.results(status.batchId)) {
    durations.push(end.durationMs);
    addToSource(bySource, end);
  }
  durations.sort((a, b) => a - b);
  const sources = [...bySource.values()].sort((a, b) =>
    a.source < b.source ? -1 : a.source > b.source ? 1 : 0,
  );
  for (const source of sources) {
    source.outputs.sort((a, b) => (a.target < b.target ? -1 : a.target > b.target ? 1 : 0));
  }
  return {
    status,
    p50Ms: percentile(durations, 50),
    p95Ms: percentile(durations, 95),
    wallMs: (status.closedAt ?? now) - status.info.createdAt,
    sources,
  };
}

function addToSource(bySource: Map<string, ReportSource>, end: BatchJobEnd): void {
  let source = bySource.get(end.source);
  if (!source) {
    source = { source: end.source, outputs: [], failures: [] };
    bySource.set(end.source, source);
  }
  if (end.state === "completed") {
    for (const output of end.outputs)
      source.outputs.push({
        target: end.target,
        ...output,
        sourceScale: end.sourceScale,
        generatedShare: end.generatedShare,
      });
  } else {
    source.failures.push({
      target: end.target,
      code: end.reason?.code ?? "unknown",
      message: end.reason?.message ?? "",
    });
  }
}

const byCount = (counts: Record<string, number>) =>
  Object.entries(counts)
    .filter(([, count]) => count > 0)
    .sort(([a, x], [b, y]) => y - x || (a < b ? -1 : 1))
    .map(([code, count]) => `${code} ${count}`)
    .join(", ");

/** Label/value lines shared by the terminal summary and the report's header. */
export function summaryLines(summary: BatchSummary): { label: string; value: string }[] {
  const { status } = summary;
  const skipped = status.skipped.done + status.skipped.failed + status.skipped.inFlight;
  const state = status.closedAt
    ? "closed"
    : status.sealedAt
      ? "running (every job enqueued)"
      : status.waiting
        ? "running (admitting a window at a time)"
        : status.info.kind === "bulk"
          ? "open (still being enqueued, or interrupted: run the same bulk command again)"
          : "open (more jobs may join it)";
  const estimated = status.info.estimatedCostUsd;
  return [
    { label: "batch", value: `${status.batchId} (${status.info.kind}, ${state})` },
    ...(status.info.description ? [{ label: "started by", value: status.info.description }] : []),
    {
      label: "jobs",
      value: status.waiting
        ? `${status.total + status.waiting} (${status.total} admitted, ${status.waiting} waiting for room in the window)`
        : String(status.total),
    },
    { label: "completed", value: String(status.completed) },
    {
      label: "failed",
      value: `${status.failed}${status.failed ? ` (${byCount(status.failuresByReason)})` : ""}`,
    },
    ...(status.inFlight ? [{ label: "in flight", value: String(status.inFlight) }] : []),
    {
      label: "skipped",
      value: `${skipped}${skipped ? ` (done before ${status.skipped.done}, failed before ${status.skipped.failed}, in flight elsewhere ${status.skipped.inFlight})` : ""}`,
    },
    {
      label: "cost",
      value: `${formatUsd(status.costUsd)}${estimated === undefined ? "" : ` (estimated ${formatUsd(estimated)})`}`,
    },
    {
      label: "time per job",
      value:
        summary.p50Ms === undefined
          ? "—"
          : `p50 ${formatDuration(summary.p50Ms)}, p95 ${formatDuration(summary.p95Ms!)} (enqueue to end)`,
    },
    { label: "wall time", value: formatDuration(summary.wallMs) },
  ];
}

export function formatSummary(summary: BatchSummary): string {
  return summaryLines(summary)
    .map(({ label, value }) => `  ${label.padEnd(14)}${value}`)
    .join("\n");
}
