import type { OutpaintJob } from "@reframe/jobs";
import type { JobEstimate } from "@reframe/sources";

/** Outputs a plan lists one by one, up to this many; past it, the ones most generated (the ones to look at). */
const LISTED_OUTPUTS = 20;

interface PlannedOutput {
  job: OutpaintJob;
  estimate: JobEstimate;
}

/** The outputs a plan prints: all of them for a small run (in order), else the most generated. */
export interface PlannedOutputs {
  /** Every output the run would make (of the jobs to run). */
  total: number;
  listed: PlannedOutput[];
}

/**
 * Keeps the LISTED_OUTPUTS outputs to print while a plan streams past: a bounded sample, whatever
 * the run's size. The most generated win, and of equals the earlier one.
 */
export function startPlannedOutputs(limit = LISTED_OUTPUTS) {
  let total = 0;
  const kept: (PlannedOutput & { rank: number; order: number })[] = [];
  return {
    add(job: OutpaintJob, estimate: JobEstimate): void {
      const entry = { job, estimate, rank: generatedRank(estimate), order: total };
      total += 1;
      if (kept.length === limit) {
        if (entry.rank <= kept[limit - 1]!.rank) return;
        kept.pop();
      }
      let at = kept.length;
      while (at > 0 && kept[at - 1]!.rank < entry.rank) at -= 1;
      kept.splice(at, 0, entry);
    },
    result(): PlannedOutputs {
      const listed = total <= limit ? [...kept].sort((a, b) => a.order - b.order) : kept;
      return { total, listed: listed.map(({ job, estimate }) => ({ job, estimate })) };
    },
  };
}

/** Refusals first, then by generated share. */
function generatedRank(estimate: JobEstimate): number {
  if (estimate.kind === "outpaint") return estimate.generatedShare;
  return estimate.kind === "copy" ? -1 : 2;
}
