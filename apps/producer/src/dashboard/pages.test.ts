import type { BatchStatus } from "@reframe/jobs";
import { describe, expect, it } from "vitest";
import { type PipelineView, pipelinesPage } from "./pages.ts";

const context = { base: "/dashboard", csrf: "token", actions: false };

function batch(over: Partial<BatchStatus>): BatchStatus {
  return {
    batchId: "nightly-1",
    info: { kind: "pipeline-run", createdAt: 0, route: [], pipeline: "nightly" },
    total: 40,
    completed: 0,
    failed: 0,
    inFlight: 0,
    waiting: 0,
    skipped: { done: 0, failed: 0, inFlight: 0 },
    failuresByReason: {},
    costUsd: 0,
    sealedAt: undefined,
    closedAt: undefined,
    ...over,
  };
}

function view(lastRuns: PipelineView["lastRuns"]): PipelineView {
  return {
    name: "nightly",
    schedule: "0 2 * * * (UTC)",
    nextRun: undefined,
    triggers: [],
    budgetPerRunUsd: 5,
    spentTodayUsd: 0,
    dailyLimitUsd: undefined,
    lastRuns,
  };
}

const recentRuns = (html: string) => html.slice(html.indexOf("<tbody>")).replace(/<[^>]+>/g, "");

describe("pipelinesPage", () => {
  it("shows how far each run's jobs are, from its batch, not the record's 'enqueued'", () => {
    const html = pipelinesPage(context, [
      view([
        {
          runId: "nightly-3",
          state: "enqueued",
          startedAt: 3,
          batch: batch({ completed: 38, failed: 2, closedAt: 9, sealedAt: 5 }),
        },
        { runId: "nightly-2", state: "enqueued", startedAt: 2, batch: batch({ completed: 10, sealedAt: 5 }) },
        { runId: "nightly-1", state: "enqueued", startedAt: 1, batch: batch({ completed: 1 }) },
        {
          runId: "nightly-0",
          state: "enqueued",
          startedAt: 0,
          batch: batch({ total: 0, closedAt: 2, sealedAt: 1, skipped: { done: 11, failed: 0, inFlight: 1 } }),
        },
      ]),
    ]);
    const text = recentRuns(html);
    expect(text).toContain("nightly-3 ended 40/40, 2 failed");
    expect(text).toContain("nightly-2 running 10/40");
    expect(text).toContain("nightly-1 adding jobs 1/40");
    expect(text).toContain("nightly-0 ended 0/0, 12 already done or queued");
    expect(text).not.toContain("enqueued");
  });

  it("says a refused run was refused, with why, and a run whose batch expired was enqueued", () => {
    const text = recentRuns(
      pipelinesPage(context, [
        view([
          {
            runId: "nightly-5",
            state: "refused",
            startedAt: 5,
            reason: "estimate $9.00 over the budget $5.00",
          },
          { runId: "nightly-4", state: "enqueued", startedAt: 4, batch: undefined },
        ]),
      ]),
    );
    expect(text).toContain("nightly-5 refused estimate $9.00 over the budget $5.00");
    expect(text).toContain("nightly-4 enqueued");
  });
});
