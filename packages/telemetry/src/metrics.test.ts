import { describe, expect, it } from "vitest";
import { boundedLabel, createMetrics } from "./metrics.ts";
import { METRICS } from "./names.ts";

describe("createMetrics", () => {
  it("serves only the metrics the names map gives the process, with their help text", async () => {
    const webhooks = createMetrics({ process: "webhooks", defaultMetrics: false });
    webhooks.webhookDelivery("stored");
    webhooks.jobCompleted({ target: "16x9", plannedUsd: 0.1, billedUsd: 0.1, enqueueToCompletionMs: 5 });
    const text = await webhooks.registry.metrics();
    expect(text).toContain(`# HELP ${METRICS.webhookDeliveries.name} ${METRICS.webhookDeliveries.help}`);
    expect(text).toContain('reframe_webhook_deliveries_total{result="stored"} 1');
    expect(text).not.toContain("reframe_jobs_completed_total");
  });

  it("fills the queue gauges from one sample per scrape, with the pause reason as a label", async () => {
    let reads = 0;
    const metrics = createMetrics({
      process: "api",
      defaultMetrics: false,
      sampleQueues: async () => {
        reads += 1;
        return {
          queues: [
            {
              queue: "outpaint",
              counts: { waiting: 3, delayed: 2 },
              paused: true,
              pauseReason: "insufficientCredits",
            },
          ],
          parkedJobs: 2,
          pendingTasks: 2,
          reconcilerLag: 1.5,
        };
      },
    });
    const text = await metrics.registry.metrics();
    expect(text).toContain('reframe_queue_jobs{queue="outpaint",state="waiting"} 3');
    expect(text).toContain('reframe_queue_paused{queue="outpaint",reason="insufficientCredits"} 1');
    expect(text).toContain("reframe_reconciler_lag_seconds 1.5");
    expect(reads).toBeGreaterThan(0);
  });

  it("every metric's name carries its unit where Prometheus convention asks", () => {
    for (const spec of Object.values(METRICS)) {
      if (spec.kind === "counter") expect(spec.name).toMatch(/_total$/);
      if (spec.unit === "seconds") expect(spec.name).toMatch(/_seconds$/);
      if (spec.unit === "usd") expect(spec.name).toMatch(/_usd(_total)?$/);
      expect(spec.name).toMatch(/^reframe_[a-z_]+$/);
    }
  });
});

describe("boundedLabel", () => {
  it("keeps the first values up to the cap and names everything else other", () => {
    const label = boundedLabel(2);
    expect([label("a"), label("b"), label("a"), label("c"), label("bad value!")]).toEqual([
      "a",
      "b",
      "a",
      "other",
      "other",
    ]);
  });
});
