import { describe, expect, it } from "vitest";
import { nextPollDelayMs } from "./poll-schedule.ts";

const bounds = { minMs: 1000, maxMs: 10_000 };

/** Ages at which a task is checked, from a first check at `firstMs`, until `untilMs`. */
function checkAges(firstMs: number, untilMs: number): number[] {
  const ages = [firstMs];
  while (ages.at(-1)! < untilMs) ages.push(ages.at(-1)! + nextPollDelayMs(ages.at(-1)!, bounds));
  return ages;
}

describe("nextPollDelayMs", () => {
  it("waits the minimum while the task is young", () => {
    expect(nextPollDelayMs(0, bounds)).toBe(1000);
    expect(nextPollDelayMs(3999, bounds)).toBe(1000);
  });

  it("waits a quarter of the task's age in between", () => {
    expect(nextPollDelayMs(8000, bounds)).toBe(2000);
    expect(nextPollDelayMs(20_000, bounds)).toBe(5000);
  });

  it("never waits longer than the maximum, however old the task", () => {
    expect(nextPollDelayMs(40_000, bounds)).toBe(10_000);
    expect(nextPollDelayMs(3_600_000, bounds)).toBe(10_000);
  });

  it("sees a result at most a quarter of its age late, and at most the maximum", () => {
    const ages = checkAges(1000, 600_000);
    for (const [index, age] of ages.entries()) {
      if (index === 0) continue;
      const gap = age - ages[index - 1]!;
      expect(gap).toBeLessThanOrEqual(Math.max(1000, Math.min(10_000, ages[index - 1]! / 4)) + 1);
    }
  });

  it("checks a 5-minute generation about 43 times where a fixed 1 s interval needs 300", () => {
    expect(checkAges(1000, 300_000).length).toBeLessThanOrEqual(45);
  });

  it("treats a clock that went backwards as a new task", () => {
    expect(nextPollDelayMs(-5000, bounds)).toBe(1000);
  });
});
