import { describe, expect, it } from "vitest";
import { formatReport, violations } from "./chaos-report.ts";
import { runChaos } from "./chaos-run.ts";

/**
 * The short version of `pnpm test:chaos` (200 jobs instead of 2,000): the same stack, faults,
 * SIGKILLs and Redis restart, and the same must-be-zero figures.
 */
describe("the fault-injection run, short", () => {
  it("200 jobs through SIGKILLed workers, a Redis restart and the emulator's provider and webhook faults: nothing lost, duplicated, stuck or wrong", async () => {
    const report = await runChaos({ jobs: 200, killEveryMs: { min: 2000, max: 4000 } });
    const table = formatReport(report);
    expect(violations(report), table).toEqual([]);
    expect(report.completed + Object.values(report.failedByReason).reduce((a, b) => a + b, 0)).toBe(200);
    expect(report.failedByReason.contentPolicyViolation ?? 0, table).toBe(report.injectedTerminalJobs);
    expect(report.workerKills, table).toBeGreaterThanOrEqual(2);
    expect(report.redisFaults, table).toBe(1);
    expect(report.injected.webhookDropRate, table).toBeGreaterThan(0);
  }, 240_000);
});
