import { DEFAULT_MAX_UPSCALE, formatScale, formatShare, targetLabel } from "@reframe/geometry";
import type { OutpaintJob } from "@reframe/jobs";
import type { PlannedOutputs, RunPlan } from "@reframe/runs";
import { type JobEstimate, sourceLabel } from "@reframe/sources";
import type { BulkRequest } from "./bulk-request.ts";

const row = (label: string, value: string | number, note = "") =>
  `  ${label.padEnd(22)}${String(value).padStart(8)}${note ? `   ${note}` : ""}`;

export function formatUsd(usd: number): string {
  return `$${usd.toFixed(2)}`;
}

function sourcesNote(request: BulkRequest): string {
  const { sources } = request;
  if (sources.kind === "manifest") return sources.path;
  const filters = [
    ...sources.include.map((glob) => `include ${glob}`),
    ...sources.exclude.map((glob) => `exclude ${glob}`),
  ];
  return `s3://${sources.bucket}/${sources.prefix}${filters.length ? ` (${filters.join(", ")})` : ""}`;
}

/** The plan as people read it; every count on its own line, so a script can pick one with a regex. */
export function formatPlan(plan: RunPlan, request: BulkRequest): string {
  const batch = plan.existingBatch;
  const targets = request.template.targets.length;
  const expansion =
    request.sources.kind === "manifest"
      ? `from ${plan.sources} rows`
      : `${plan.sources} sources × ${targets} target${targets === 1 ? "" : "s"}`;
  const lines = [
    batch
      ? `resuming batch ${plan.batchId}: ${batch.total} jobs already in it (${batch.completed} completed, ${batch.failed} failed, ${batch.inFlight} in flight)`
      : `batch ${plan.batchId} (new)`,
    row("sources", plan.sources, sourcesNote(request)),
    row(
      "jobs",
      plan.jobs,
      `${expansion}${plan.duplicates ? `, ${plan.duplicates} repeated jobs counted once` : ""}`,
    ),
    row("already done", plan.done),
    row(
      "failed before",
      plan.failedBefore,
      plan.failedBefore ? "(not retried: reframe batch retry <id>)" : "",
    ),
    row("in flight, this batch", plan.inFlightInBatch),
    row(
      "in flight elsewhere",
      plan.inFlightElsewhere,
      plan.inFlightElsewhere ? "(awaited by another run)" : "",
    ),
    row("to run", plan.toRun),
  ];
  const estimate = plan.estimate;
  if (!estimate) {
    lines.push("  (no estimate: --no-estimate)");
    return lines.join("\n");
  }
  const reasons = Object.entries(estimate.problems)
    .sort(([a], [b]) => (a < b ? -1 : 1))
    .map(([code, count]) => `${code} ${count}`)
    .join(", ");
  lines.push(
    row("  outpaint", estimate.outpaint),
    row(
      "  pre-scaled",
      estimate.prescaled,
      "(scaled down first: over the provider's limits, or larger than an exact size)",
    ),
    row(
      "  scaled up",
      estimate.upscaled,
      request.template.options.fit === "down-only"
        ? "(--fit down-only: never, unless a manifest row asks)"
        : `(to fill an exact size, at most ${formatScale(request.template.options.maxUpscale ?? DEFAULT_MAX_UPSCALE)})`,
    ),
    row("  copies", estimate.copies, "(already at the target: no provider call)"),
    row("  refused", estimate.refused, estimate.refused ? "(will fail)" : ""),
    row("  unreadable", estimate.unreadable, estimate.unreadable ? "(will fail)" : ""),
    ...(reasons ? [`    reasons: ${reasons}`] : []),
    ...(estimate.generatedShare
      ? [
          `    generated share: ${formatShare(estimate.generatedShare.mean)} of an output on average, ${formatShare(estimate.generatedShare.max)} at most`,
        ]
      : []),
    row("estimated cost", formatUsd(estimate.costUsd), `${estimate.megapixels} megapixels`),
    ...(plan.planned ? plannedOutputLines(plan.planned) : []),
  );
  return lines.join("\n");
}

/**
 * Each planned output with its size, the scale of its source and its generated share (or why it will
 * fail): all of them for a small run, else the most generated ones.
 */
function plannedOutputLines({ total, listed }: PlannedOutputs): string[] {
  if (total === 0) return [];
  const heading =
    listed.length === total
      ? "planned outputs:"
      : `planned outputs, the ${listed.length} most generated of ${total}:`;
  return [heading, ...listed.map(({ job, estimate }) => `  ${outputLine(job, estimate)}`)];
}

function outputLine(job: OutpaintJob, estimate: JobEstimate): string {
  const what = `${sourceLabel(job.source)} → ${targetLabel(job.target)}`;
  switch (estimate.kind) {
    case "outpaint":
      return `${what}  ${estimate.output.width}×${estimate.output.height}  source ${formatScale(estimate.sourceScale)}  ${formatShare(estimate.generatedShare)} generated  ${formatUsd(estimate.costUsd)}`;
    case "copy":
      return `${what}  ${estimate.output.width}×${estimate.output.height}  source ${formatScale(estimate.sourceScale)}  copy, no provider call`;
    case "refused":
    case "unreadable":
      return `${what}  ${estimate.kind}: ${estimate.code}: ${estimate.message}`;
    default:
      throw new Error(`unknown estimate ${JSON.stringify(estimate satisfies never)}`);
  }
}
