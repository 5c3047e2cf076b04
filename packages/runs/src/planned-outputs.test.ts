import { parseOutpaintJob } from "@reframe/jobs";
import type { JobEstimate } from "@reframe/sources";
import fc from "fast-check";
import { describe, expect, it } from "vitest";
import { startPlannedOutputs } from "./planned-outputs.ts";

const job = parseOutpaintJob({
  source: { kind: "s3", bucket: "library", key: "a.jpg" },
  target: { kind: "ratio", ratio: "1:1" },
  output: { bucket: "outputs" },
});

const estimateOf = (share: number): JobEstimate =>
  share < 0
    ? { kind: "copy", output: { width: 1, height: 1 }, sourceScale: 1 }
    : share > 1
      ? { kind: "refused", code: "x", message: "x" }
      : {
          kind: "outpaint",
          costUsd: 0.1,
          megapixels: 1,
          output: { width: 1, height: 1 },
          sourceScale: 1,
          generatedShare: share,
        };

const rank = (estimate: JobEstimate) =>
  estimate.kind === "outpaint" ? estimate.generatedShare : estimate.kind === "copy" ? -1 : 2;

describe("startPlannedOutputs", () => {
  it("keeps what sorting everything would list: all in order when few, else the most generated, earlier first among equals", () => {
    const share = fc.oneof(fc.constantFrom(-1, 2, 0.5), fc.double({ min: 0, max: 1, noNaN: true }));
    fc.assert(
      fc.property(fc.array(share, { maxLength: 60 }), fc.integer({ min: 1, max: 25 }), (shares, limit) => {
        const sample = startPlannedOutputs(limit);
        const estimates = shares.map(estimateOf);
        for (const estimate of estimates) sample.add(job, estimate);
        const expected =
          estimates.length <= limit
            ? estimates
            : [...estimates].sort((a, b) => rank(b) - rank(a)).slice(0, limit);
        const { total, listed } = sample.result();
        expect(total).toBe(estimates.length);
        expect(listed.map((entry) => entry.estimate)).toEqual(expected);
      }),
    );
  });
});
