import { describe, expect, it } from "vitest";
import { reframe } from "../reframe-cli.ts";
import { formatReport, violations } from "./chaos-report.ts";
import { runChaos } from "./chaos-run.ts";

/**
 * The short version of `pnpm test:chaos --provider-outage 3m --jobs 200`: 40 jobs, the provider down
 * for 25 s in the middle. No job fails for it, nothing is lost or duplicated, and the requests the
 * provider saw while down stay within the probe schedule's bound.
 */
describe("a provider outage, short", () => {
  it("40 jobs through a 25 s outage: the breaker opens, jobs wait parked, all complete; requests bounded", async () => {
    const shown: { json?: unknown; text?: string } = {};
    const report = await runChaos({
      jobs: 40,
      providerOutage: {
        durationMs: 25_000,
        atShare: 0.2,
        async whileDown(stack) {
          const [json, text] = await Promise.all([
            reframe(["queue", "counts", "--json"], stack.workerEnvironment),
            reframe(["queue", "counts"], stack.workerEnvironment),
          ]);
          shown.json = JSON.parse(json.stdout);
          shown.text = text.stdout;
        },
      },
    });
    const table = formatReport(report);
    expect(violations(report), table).toEqual([]);
    expect(report.providerOutage?.started, table).toBe(true);
    expect(report.providerOutage?.requests, table).toBeGreaterThan(0);
    expect(report.completed + Object.values(report.failedByReason).reduce((a, b) => a + b, 0)).toBe(40);
    // `reframe queue counts` showed the breaker open while the provider was down.
    expect(shown.json, table).toMatchObject({
      providerBreakers: [{ open: true, endpoint: expect.stringMatching(/^127\.0\.0\.1:\d+$/) }],
    });
    expect(shown.text, table).toMatch(/the provider at 127\.0\.0\.1:\d+ is unavailable for \d/);
    // Drained only after the outage ended: the jobs waited for it.
    expect(report.drainMs, table).toBeGreaterThan(25_000);
  }, 300_000);
});
