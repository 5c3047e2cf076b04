import { enqueueMany, type OutpaintJobInput } from "@reframe/jobs";
import { type LocalStack, startLocalStack } from "@reframe/local-stack";
import { afterAll, describe, expect, it } from "vitest";
import { job, type StackClients, stackClients, uploadSource } from "../outpaint-flow/stack-fixture.ts";
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
        // Early: most jobs are still to submit, so the outage meets their submits and polls alike.
        atShare: 0.05,
        async whileDown(stack) {
          // The breaker opens at the threshold's failures: how soon depends on what was in flight.
          for (let tries = 0; tries < 12; tries += 1) {
            const json = await reframe(["queue", "counts", "--json"], stack.workerEnvironment);
            shown.json = JSON.parse(json.stdout);
            if ((shown.json as { breakers: { open: boolean }[] }).breakers[0]?.open) break;
            await new Promise((resolve) => setTimeout(resolve, 1000));
          }
          shown.text = (await reframe(["queue", "counts"], stack.workerEnvironment)).stdout;
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
      breakers: [{ service: "provider", open: true, endpoint: expect.stringMatching(/^127\.0\.0\.1:\d+$/) }],
    });
    expect(shown.text, table).toMatch(/the provider at 127\.0\.0\.1:\d+ is unavailable for \d/);
    // Drained only after the outage ended: the jobs waited for it.
    expect(report.drainMs, table).toBeGreaterThan(25_000);
  }, 300_000);
});

describe("a provider outage longer than a job's deadline", () => {
  let stack: LocalStack | undefined;
  let clients: StackClients | undefined;
  afterAll(async () => {
    await clients?.close();
    await stack?.stop();
  });

  it("the job waits without spending its submit attempts, then fails as providerUnavailable saying how long", async () => {
    // Two submit attempts only: spent on the outage, the job would fail as submitAttemptsExhausted
    // before the breaker (5 failures) even opened.
    stack = await startLocalStack({ workers: 1, workerEnv: { TASK_MAX_SUBMIT_ATTEMPTS: "2" } });
    clients = stackClients(stack);
    const outage = await fetch(`${stack.emulatorUrl}/admin/outage`, {
      method: "POST",
      body: JSON.stringify({ seconds: 600 }),
    });
    expect(outage.status).toBe(200);
    await uploadSource(clients.s3, "outage/a.jpg");
    const input = { ...job("outage/a.jpg", "16:9"), options: { deadlineSeconds: 60 } };
    const { jobIds } = await enqueueMany(clients.queue, [input as OutpaintJobInput]);
    await expect
      .poll(async () => (await clients!.queue.getJob(jobIds[0]!))?.getState(), {
        timeout: 150_000,
        interval: 1000,
      })
      .toBe("failed");
    const failed = await clients.queue.getJob(jobIds[0]!);
    expect(failed?.failedReason).toMatch(
      /^providerUnavailable: the provider has been unavailable for \d+(\.\d)? s \(since .+\) and the job's deadline \(deadlineSeconds 60\) passed while it waited$/,
    );
    const counters = (await (await fetch(`${stack.emulatorUrl}/admin/outage`)).json()) as {
      requests: number;
    };
    // The threshold's failures, then probes only: nowhere near one request per second for a minute.
    expect(counters.requests).toBeLessThan(20);
  }, 240_000);
});
