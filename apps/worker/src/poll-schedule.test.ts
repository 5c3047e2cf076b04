import { describe, expect, it } from "vitest";
import { nextPollDelayMs } from "./poll-schedule.ts";

const bounds = { minMs: 2000, maxMs: 10_000 };

describe("nextPollDelayMs", () => {
  it("waits the minimum while the task is young", () => {
    expect(nextPollDelayMs(0, bounds)).toBe(2000);
    expect(nextPollDelayMs(3999, bounds)).toBe(2000);
  });

  it("waits half the task's age in between, so each check is 1.5× the previous age", () => {
    expect(nextPollDelayMs(6000, bounds)).toBe(3000);
    expect(nextPollDelayMs(9000, bounds)).toBe(4500);
  });

  it("never waits longer than the maximum, however old the task", () => {
    expect(nextPollDelayMs(20_000, bounds)).toBe(10_000);
    expect(nextPollDelayMs(3_600_000, bounds)).toBe(10_000);
  });

  it("checks a 60 s generation about 11 times from a first check at 2 s, where a fixed 2 s interval needs 30", () => {
    let age = 2000;
    let checks = 1;
    while (age < 60_000) {
      age += nextPollDelayMs(age, bounds);
      checks += 1;
    }
    expect(checks).toBeLessThanOrEqual(12);
    expect(checks).toBeGreaterThanOrEqual(9);
  });

  it("treats a clock that went backwards as a new task", () => {
    expect(nextPollDelayMs(-5000, bounds)).toBe(2000);
  });
});
