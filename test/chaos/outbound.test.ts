import { describe, expect, it } from "vitest";
import { formatOutboundReport, outboundViolations, runOutboundChaos } from "./outbound-run.ts";

/**
 * The short version of `pnpm test:chaos --outbound` (200 events instead of 2,000): the same
 * receivers' faults, SIGKILLs and Redis restart, and the same must-be-zero figures.
 */
describe("the outbound fault-injection run, short", () => {
  it("200 events to two endpoints through 500s, timeouts, closed connections, slowness, a 410, SIGKILLed workers and a Redis restart", async () => {
    const report = await runOutboundChaos({ events: 200, killEveryMs: { min: 2000, max: 4000 }, seed: 7 });
    const table = formatOutboundReport(report);
    expect(outboundViolations(report), table).toEqual([]);
    expect(report.steady.delivered, table).toBe(200);
    expect(report.workerKills, table).toBeGreaterThanOrEqual(2);
    expect(report.redisRestarts, table).toBe(1);
    expect(
      report.injected.error500! + report.injected.timeout! + report.injected.close!,
      table,
    ).toBeGreaterThan(0);
  }, 300_000);
});
