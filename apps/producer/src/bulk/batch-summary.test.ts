import type { BatchJobEnd, BatchStatus } from "@reframe/jobs";
import { describe, expect, it } from "vitest";
import { formatSummary, percentile, summarizeBatch } from "./batch-summary.ts";

const status = (overrides: Partial<BatchStatus> = {}): BatchStatus => ({
  batchId: "bulk-0123456789ab",
  info: { kind: "bulk", createdAt: 1_000, route: [], estimatedCostUsd: 0.6 },
  total: 4,
  completed: 3,
  failed: 1,
  inFlight: 0,
  waiting: 0,
  skipped: { done: 2, failed: 0, inFlight: 1 },
  failuresByReason: { sourceNotFound: 1 },
  costUsd: 0.5,
  sealedAt: 2_000,
  closedAt: 61_000,
  ...overrides,
});

const end = (source: string, target: string, durationMs: number, failed = false): BatchJobEnd => ({
  state: failed ? "failed" : "completed",
  source,
  target,
  costUsd: failed ? 0 : 0.2,
  durationMs,
  outputs: failed ? [] : [{ bucket: "out", key: `${target}/${source.slice(-5)}`, width: 10, height: 10 }],
  ...(failed ? { reason: { code: "sourceNotFound", message: "gone" } } : {}),
  endedAt: 0,
});

function storeOf(ends: BatchJobEnd[]) {
  return {
    async *results() {
      for (const [index, item] of ends.entries()) yield [`op-${index}`, item] as [string, BatchJobEnd];
    },
  };
}

describe("percentile", () => {
  it("is the nearest rank: the smallest value with at least p % of values at or below it", () => {
    const values = Array.from({ length: 100 }, (_, i) => i + 1);
    expect(percentile(values, 50)).toBe(50);
    expect(percentile(values, 95)).toBe(95);
    expect(percentile(values, 100)).toBe(100);
    expect(percentile([7], 95)).toBe(7);
    expect(percentile([1, 2, 3], 50)).toBe(2);
    expect(percentile([1, 2, 3, 4], 95)).toBe(4);
    expect(percentile([], 50)).toBeUndefined();
  });
});

describe("summarizeBatch", () => {
  it("groups ends by source, outputs by target, and times every job", async () => {
    const summary = await summarizeBatch(
      storeOf([
        end("s3://lib/b.jpg", "1x1", 4_000),
        end("s3://lib/a.jpg", "9x16", 1_000),
        end("s3://lib/a.jpg", "16x9", 2_000),
        end("s3://lib/c.jpg", "16x9", 3_000, true),
      ]),
      status(),
    );
    expect(summary.sources.map((source) => source.source)).toEqual([
      "s3://lib/a.jpg",
      "s3://lib/b.jpg",
      "s3://lib/c.jpg",
    ]);
    expect(summary.sources[0]!.outputs.map((output) => output.target)).toEqual(["16x9", "9x16"]);
    expect(summary.sources[2]!.failures).toEqual([
      { target: "16x9", code: "sourceNotFound", message: "gone" },
    ]);
    expect(summary).toMatchObject({ p50Ms: 2_000, p95Ms: 4_000, wallMs: 60_000 });
    const text = formatSummary(summary);
    expect(text).toMatch(/failed\s+1 \(sourceNotFound 1\)/);
    expect(text).toMatch(/skipped\s+3 \(done before 2, failed before 0, in flight elsewhere 1\)/);
    expect(text).toMatch(/cost\s+\$0\.50 \(estimated \$0\.60\)/);
    expect(text).toMatch(/time per job\s+p50 2\.0 s, p95 4\.0 s/);
    expect(text).toMatch(/wall time\s+1 min 0 s/);
  });

  it("measures a running batch's wall time up to now, and says how to resume one left open", async () => {
    const open = status({ sealedAt: undefined, closedAt: undefined, inFlight: 2 });
    const summary = await summarizeBatch(storeOf([]), open, 11_000);
    expect(summary).toMatchObject({ p50Ms: undefined, wallMs: 10_000 });
    expect(formatSummary(summary)).toMatch(
      /open \(still being enqueued, or interrupted: run the same bulk command again\)/,
    );
    expect(formatSummary(summary)).toMatch(/in flight\s+2/);
  });

  it("counts the jobs still waiting for the window among the batch's jobs", async () => {
    const admitting = status({ sealedAt: undefined, closedAt: undefined, inFlight: 2, waiting: 50 });
    const text = formatSummary(await summarizeBatch(storeOf([]), admitting, 11_000));
    expect(text).toMatch(/running \(admitting a window at a time\)/);
    expect(text).toMatch(/jobs\s+54 \(4 admitted, 50 waiting for room in the window\)/);
  });
});
