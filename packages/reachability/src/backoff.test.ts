import fc from "fast-check";
import { describe, expect, it } from "vitest";
import { backoffMs } from "./backoff.ts";

describe("backoffMs", () => {
  it("doubles from the base at each retry and stops at the maximum", () => {
    const backoff = { baseMs: 100, maxMs: 2_000 };
    expect([0, 1, 2, 3, 4, 5, 19].map((retry) => backoffMs(backoff, retry))).toEqual([
      100, 200, 400, 800, 1_600, 2_000, 2_000,
    ]);
    expect(backoffMs(backoff, -1)).toBe(100);
  });

  it("draws the jitter's share of each wait at random, never above the wait without it", () => {
    fc.assert(
      fc.property(
        fc.integer({ min: 0, max: 40 }),
        fc.constantFrom(0.5, 1),
        fc.double({ min: 0, max: 1, maxExcluded: true, noNaN: true }),
        (retry, jitter, draw) => {
          const ceiling = backoffMs({ baseMs: 1_000, maxMs: 60_000 }, retry);
          const wait = backoffMs({ baseMs: 1_000, maxMs: 60_000, jitter }, retry, () => draw);
          expect(wait).toBeLessThanOrEqual(ceiling);
          expect(wait).toBeGreaterThanOrEqual(Math.floor(ceiling * (1 - jitter)));
        },
      ),
    );
    expect(backoffMs({ baseMs: 1_000, maxMs: 60_000, jitter: 0.5 }, 0, () => 0.5)).toBe(750);
  });
});
