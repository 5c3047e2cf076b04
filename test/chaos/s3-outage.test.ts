import {
  alertEventType,
  DEFAULT_ALERTS_ROUTE,
  enqueueMany,
  type OutpaintJobInput,
  outpaintJobDataSchema,
  parseOutpaintJobData,
  readOutpaintResult,
} from "@reframe/jobs";
import { type LocalStack, startLocalStack } from "@reframe/local-stack";
import { afterEach, describe, expect, it } from "vitest";
import {
  job,
  jobStates,
  providerSubmits,
  type StackClients,
  stackClients,
  uploadSource,
} from "../outpaint-flow/stack-fixture.ts";
import { reframe } from "../reframe-cli.ts";

/**
 * S3 going away under a running worker: the workers (and the provider's presigned URLs) reach the
 * embedded S3 through a TCP proxy that the test cuts, so every S3 request is refused as with S3 down.
 * The short version of the 10-minute S3 outage run (`pnpm test:chaos --s3-outage 10m`).
 */
let stack: LocalStack | undefined;
let clients: StackClients | undefined;
afterEach(async () => {
  await clients?.close();
  await stack?.stop();
  clients = undefined;
  stack = undefined;
});

const OUTAGE_MS = 20_000;
const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

/** Whether the worker's gauge says S3's breaker is open. */
async function storageBreakerOpen(stack: LocalStack): Promise<boolean> {
  const metrics = await (await fetch(stack.metricsUrls.get("worker-1")!)).text();
  return /^reframe_storage_breaker_open\{endpoint="[^"]+"\} 1$/m.test(metrics);
}

/** Jobs parked now for S3, by their saved step (plan, await, finalize). */
async function waitingForS3(clients: StackClients): Promise<string[]> {
  const delayed = await clients.queue.getDelayed();
  return delayed.flatMap((found) => {
    const parsed = outpaintJobDataSchema.safeParse(found.data);
    return parsed.success && parsed.data.state?.storageOutage ? [parsed.data.state.step] : [];
  });
}

describe("an S3 outage in the middle of a run", () => {
  it("20 jobs through a 20 s outage: they wait parked, none fails, no attempt is spent, nothing is submitted while S3's breaker is open", async () => {
    stack = await startLocalStack({
      workers: 1,
      s3Proxy: true,
      // Slow enough that the outage meets plans, generations (the provider's uploads) and output checks.
      emulatorEnv: { EMULATOR_LATENCY_MS: "1500-4000" },
    });
    clients = stackClients(stack);
    const keys = Array.from({ length: 20 }, (_, i) => `s3-outage/${i}.jpg`);
    for (const key of keys) await uploadSource(clients.s3, key);
    const inputs = keys.map((key) => job(key, "16:9"));
    // Four sources of known size (96 × 64, sent as they are): planned without S3, so they reach their
    // submit while S3 is down; the provider cannot fetch them, and they must not be sent again until
    // S3's breaker has closed.
    for (const input of inputs.slice(16)) Object.assign(input.source, { width: 96, height: 64 });
    const before = await enqueueMany(clients.queue, inputs.slice(0, 8));
    await expect
      .poll(async () => (await jobStates(clients!.queue, before.jobIds)).completed ?? 0, {
        timeout: 60_000,
        interval: 250,
      })
      .toBeGreaterThan(0);
    await stack.s3Proxy!.cut();
    const cutAt = Date.now();
    const submitsAtCut = await providerSubmits(stack.emulatorUrl);
    // Submitted while S3 is down (their plans need no S3), then planned while it is down (their
    // header reads cannot be made).
    const submitting = await enqueueMany(clients.queue, inputs.slice(16));
    const during = await enqueueMany(clients.queue, inputs.slice(8, 16));
    const seen = new Set<string>();
    const shown: { json?: { breakers: unknown[] }; text?: string } = {};
    // The provider's submits from a little after S3's breaker was seen open (a worker reads it within
    // its 500 ms tick; a request already on its way still arrives) until just before S3 is back.
    let openSeenAt: number | undefined;
    let submitsWhileOpen: { from: number; until?: number } | undefined;
    while (Date.now() - cutAt < OUTAGE_MS) {
      if (openSeenAt === undefined && (await storageBreakerOpen(stack))) openSeenAt = Date.now();
      if (openSeenAt !== undefined && !submitsWhileOpen && Date.now() - openSeenAt > 2_000)
        submitsWhileOpen = { from: await providerSubmits(stack.emulatorUrl) };
      for (const step of await waitingForS3(clients)) seen.add(step);
      // S3's breaker, as an operator sees it, once the jobs' failures have opened it.
      if (Date.now() - cutAt > 10_000 && !shown.json) {
        shown.json = JSON.parse(
          (await reframe(["queue", "counts", "--json"], stack.workerEnvironment)).stdout,
        );
        shown.text = (await reframe(["queue", "counts"], stack.workerEnvironment)).stdout;
      }
      await sleep(500);
    }
    if (submitsWhileOpen && (await storageBreakerOpen(stack)))
      submitsWhileOpen.until = await providerSubmits(stack.emulatorUrl);
    await stack.s3Proxy!.restore();
    const jobIds = [...before.jobIds, ...submitting.jobIds, ...during.jobIds];
    await expect
      .poll(
        async () => {
          const states = await jobStates(clients!.queue, jobIds);
          return (states.completed ?? 0) + (states.failed ?? 0);
        },
        { timeout: 180_000, interval: 1000 },
      )
      .toBe(20);
    const states = await jobStates(clients.queue, jobIds);
    const failed = await clients.queue.getFailed();
    expect(states, failed.map((found) => found.failedReason).join("\n")).toEqual({ completed: 20 });
    // No task went to the provider while S3's breaker was open: it could fetch no source.
    console.info(
      `provider submits: ${submitsAtCut} when S3 went, ${JSON.stringify(submitsWhileOpen)} while its breaker was open`,
    );
    expect(submitsWhileOpen?.until).toBeDefined();
    expect(submitsWhileOpen?.until).toBe(submitsWhileOpen?.from);
    // Jobs waited for S3 at their plan, at least: the 8 enqueued during the outage; the worker counted
    // each wait, by step.
    expect([...seen]).toContain("plan");
    const metrics = await (await fetch(stack.metricsUrls.get("worker-1")!)).text();
    const waits = Object.fromEntries(
      [...metrics.matchAll(/^reframe_storage_waits_total\{step="(\w+)"\} (\d+)$/gm)].map((m) => [
        m[1],
        Number(m[2]),
      ]),
    );
    console.info(
      `S3 waits by step: ${JSON.stringify(waits)}; parked for S3 while down: ${[...seen].join(", ")}`,
    );
    expect(waits.plan).toBeGreaterThanOrEqual(8);
    // The jobs' outage failures opened S3's shared breaker: one probe at a time asked S3 since.
    expect(shown.json?.breakers).toContainEqual(
      expect.objectContaining({ service: "s3", open: true, endpoint: `127.0.0.1:${stack.s3Proxy!.port}` }),
    );
    expect(shown.text).toMatch(
      /S3 at 127\.0\.0\.1:\d+ is unavailable for \d+(\.\d)? s \(breaker open since /,
    );
    // The worker whose failure opened S3's breaker raised the alert, once, on the alerts route.
    const alerts = await clients
      .routeQueue(DEFAULT_ALERTS_ROUTE[0])
      .getJobs(["waiting", "active", "completed", "failed", "delayed"]);
    const storageAlerts = alerts.filter((alert) => alert.name === alertEventType("storageOutage"));
    expect(storageAlerts.map((alert) => alert.data)).toEqual([
      expect.objectContaining({
        subject: `127.0.0.1:${stack.s3Proxy!.port}`,
        data: expect.objectContaining({ kind: "storageOutage", severity: "critical" }),
      }),
    ]);
    // Closed again once S3 answered, on every worker's gauge.
    expect(metrics).toMatch(/^reframe_storage_breaker_open\{endpoint="127\.0\.0\.1:\d+"\} 0$/m);
    // No BullMQ retry: each job finished on its first attempt.
    for (const jobId of jobIds) expect((await clients.queue.getJob(jobId))?.attemptsMade, jobId).toBe(1);
    // The generations the provider failed for the outage (uploads it could not make while S3 was
    // found out) were given back: saved in each job's state, and counted in its result.
    let givenBack = 0;
    for (const jobId of jobIds) {
      const done = await clients.queue.getJob(jobId);
      const saved = parseOutpaintJobData(done?.data).state?.outageGenerations ?? [];
      expect(readOutpaintResult(done?.returnvalue)?.outageGenerations, jobId).toBe(
        saved.length > 0 ? saved.length : undefined,
      );
      givenBack += saved.length;
    }
    console.info(`generations given back for the outage: ${givenBack}`);
    // A wait at await is the job's check after the provider's failed upload finding S3 out: that
    // generation was then given back.
    expect(givenBack > 0).toBe((waits.await ?? 0) > 0);
  }, 300_000);
});

describe("an S3 outage longer than a job's deadline", () => {
  it("the job waits, then fails storageUnavailable on its first attempt, saying how long", async () => {
    stack = await startLocalStack({ workers: 1, s3Proxy: true });
    clients = stackClients(stack);
    await uploadSource(clients.s3, "s3-outage/late.jpg");
    await stack.s3Proxy!.cut();
    const input = { ...job("s3-outage/late.jpg", "16:9"), options: { deadlineSeconds: 60 } };
    const { jobIds } = await enqueueMany(clients.queue, [input as OutpaintJobInput]);
    await expect
      .poll(async () => (await clients!.queue.getJob(jobIds[0]!))?.getState(), {
        timeout: 150_000,
        interval: 1000,
      })
      .toBe("failed");
    const failed = await clients.queue.getJob(jobIds[0]!);
    expect(failed?.failedReason).toMatch(
      /^storageUnavailable: S3 has been unavailable for (6\d|7\d)(\.\d)? s \(since .+; connection refused\) and the job's deadline \(deadlineSeconds 60\) passed while it waited$/,
    );
    expect(failed?.attemptsMade).toBe(1);
  }, 240_000);
});
