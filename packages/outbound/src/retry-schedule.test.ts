import fc from "fast-check";
import { describe, expect, it } from "vitest";
import {
  DEFAULT_RETRY_SCHEDULE,
  parseDuration,
  parseRetrySchedule,
  RETRY_JITTER,
  retryDelay,
} from "./retry-schedule.ts";

describe("retry schedule", () => {
  it("is Standard Webhooks' suggestion by default: 8 attempts over about 27.6 hours", () => {
    const schedule = parseRetrySchedule(DEFAULT_RETRY_SCHEDULE);
    expect(schedule).toEqual([5_000, 300_000, 1_800_000, 7_200_000, 18_000_000, 36_000_000, 36_000_000]);
    expect(schedule.reduce((sum, ms) => sum + ms, 0) / 3_600_000).toBeCloseTo(27.58, 1);
  });

  it("reads durations with units and names what it cannot read", () => {
    expect(parseDuration("1500ms")).toBe(1_500);
    expect(parseDuration("1.5s")).toBe(1_500);
    expect(parseDuration("1d")).toBe(86_400_000);
    expect(parseDuration("5")).toBeUndefined();
    expect(() => parseRetrySchedule("5s, soon")).toThrow('"soon" is not a duration');
  });

  it("jitters each wait within ±20 % and ends after the last one", () => {
    const schedule = parseRetrySchedule(DEFAULT_RETRY_SCHEDULE);
    fc.assert(
      fc.property(
        fc.integer({ min: 1, max: schedule.length }),
        fc.double({ min: 0, max: 1, noNaN: true }),
        (n, r) => {
          const delay = retryDelay(schedule, n, () => r)!;
          const base = schedule[n - 1]!;
          expect(delay).toBeGreaterThanOrEqual(Math.floor(base * (1 - RETRY_JITTER)));
          expect(delay).toBeLessThanOrEqual(Math.ceil(base * (1 + RETRY_JITTER)));
        },
      ),
    );
    expect(retryDelay(schedule, schedule.length + 1)).toBeUndefined();
  });
});
