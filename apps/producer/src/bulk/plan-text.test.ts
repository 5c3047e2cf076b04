import { parseOutpaintJob } from "@reframe/jobs";
import { type RunPlan, startPlannedOutputs } from "@reframe/runs";
import { estimateJob, summarizeEstimates } from "@reframe/sources";
import { describe, expect, it } from "vitest";
import { parseBulkRequest } from "./bulk-request.ts";
import { formatPlan } from "./plan-text.ts";

const request = parseBulkRequest(
  { source: "s3://library/photos/", target: ["preset:instagram-story"], "dry-run": true },
  { OUTPUT_BUCKET: "outputs" },
);

function planOf(sizes: [number, number][]): RunPlan {
  const toRun = sizes.map(([width, height], index) => {
    const job = parseOutpaintJob({
      source: { kind: "s3", bucket: "library", key: `photos/${index}-${width}x${height}.jpg` },
      target: { kind: "preset", name: "instagram-story" },
      output: { bucket: "outputs" },
    });
    return { jobId: `op-${index}`, job };
  });
  const estimates = toRun.map(({ job }, index) => {
    const [width, height] = sizes[index]!;
    return estimateJob(job, { ok: true, size: { width, height } });
  });
  // The sample a streamed plan keeps, fed as planBulk feeds it.
  const planned = startPlannedOutputs();
  toRun.forEach(({ job }, index) => {
    planned.add(job, estimates[index]!);
  });
  return {
    batchId: "bulk-0123456789ab",
    existingBatch: undefined,
    sources: sizes.length,
    jobs: toRun.length,
    duplicates: 0,
    done: 0,
    failedBefore: 0,
    inFlightInBatch: 0,
    inFlightElsewhere: 0,
    toRun: toRun.length,
    estimate: summarizeEstimates(estimates),
    planned: planned.result(),
  };
}

describe("formatPlan", () => {
  it("counts scaled-up sources and shows each output's scale and generated share, or why it is refused", () => {
    const text = formatPlan(
      planOf([
        [512, 512],
        [32, 32],
        [2160, 3840],
        [3000, 3000],
      ]),
      request,
    );
    expect(text).toMatch(/^ {4}pre-scaled +1 {3}\(scaled down first/m);
    expect(text).toMatch(/^ {4}scaled up +1 {3}\(to fill an exact size, at most ×4\)$/m);
    expect(text).toMatch(/^ {4}copies +1 /m);
    expect(text).toMatch(/^ {4}refused +1 /m);
    expect(text).toContain("    reasons: generated-share-over-limit 1");
    expect(text).toContain("    generated share: 44% of an output on average, 44% at most");
    expect(text).toContain(
      [
        "planned outputs:",
        "  s3://library/photos/0-512x512.jpg → instagram-story  1080×1920  source ×2.11  44% generated  $0.20",
        "  s3://library/photos/1-32x32.jpg → instagram-story  refused: generated-share-over-limit: 99% of the canvas would be generated; the limit is 90% (the source 32×32 scaled ×4 to 128×128 on a 1080×1920 canvas)",
        "  s3://library/photos/2-2160x3840.jpg → instagram-story  1080×1920  source ×0.5  copy, no provider call",
        "  s3://library/photos/3-3000x3000.jpg → instagram-story  1080×1920  source ×0.36  44% generated  $0.20",
      ].join("\n"),
    );
  });

  it("says a down-only run scales nothing up", () => {
    const downOnly = parseBulkRequest(
      { source: "s3://library/photos/", target: ["preset:instagram-story"], fit: "down-only" },
      { OUTPUT_BUCKET: "outputs" },
    );
    expect(formatPlan(planOf([[3000, 3000]]), downOnly)).toMatch(
      /^ {4}scaled up +0 {3}\(--fit down-only: never, unless a manifest row asks\)$/m,
    );
  });

  it("lists the most generated outputs first when there are too many to list", () => {
    const sizes: [number, number][] = Array.from({ length: 30 }, (_, i) => [300 + i * 10, 300 + i * 10]);
    sizes.push([1080, 200]);
    const lines = formatPlan(planOf(sizes), request).split("\n");
    const heading = lines.indexOf("planned outputs, the 20 most generated of 31:");
    expect(heading).toBeGreaterThan(0);
    expect(lines.slice(heading + 1)).toHaveLength(20);
    // 1080×200 fills the width at ×1 and leaves 90% of the story to generate.
    expect(lines[heading + 1]).toContain(
      "30-1080x200.jpg → instagram-story  1080×1920  source ×1  90% generated",
    );
  });
});
