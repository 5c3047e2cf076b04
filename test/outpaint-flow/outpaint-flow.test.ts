import { HeadObjectCommand } from "@aws-sdk/client-s3";
import { enqueueMany, outpaintEventSchema, readOutpaintResult } from "@reframe/jobs";
import { LOCAL_BUCKETS, type LocalStack, startLocalStack } from "@reframe/local-stack";
import { readImageDimensions } from "@reframe/storage";
import { REDIS_TOPOLOGIES } from "@reframe/testkit";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import {
  emulatorCounters,
  job,
  jobStates,
  type StackClients,
  setEmulatorFaults,
  stackClients,
  uploadSource,
} from "./stack-fixture.ts";

const RATIOS = ["16:9", "1:1", "9:16", "3:1"] as const;
const PLANNED = { "16:9": [114, 64], "1:1": [96, 96], "9:16": [96, 171], "3:1": [192, 64] } as const;

async function runBatch(clients: StackClients, prefix: string, route: string) {
  const keys = [`${prefix}/a.jpg`, `${prefix}/b.jpg`];
  for (const key of keys) await uploadSource(clients.s3, key);
  const inputs = keys.flatMap((key) => RATIOS.map((ratio) => job(key, ratio, [route])));
  const { jobIds } = await enqueueMany(clients.queue, inputs);
  await expect
    .poll(() => jobStates(clients.queue, jobIds), { timeout: 60_000, interval: 250 })
    .toEqual({ completed: jobIds.length });
  return { jobIds, inputs };
}

/** Every completed job's objects exist with the planned size, and its route holds exactly one event. */
async function expectOutputsAndEvents(clients: StackClients, jobIds: string[], route: string) {
  const events = await clients.routeQueue(route).getJobs(["waiting", "active", "completed", "delayed"]);
  for (const jobId of jobIds) {
    const found = await clients.queue.getJob(jobId);
    const result = readOutpaintResult(found!.returnvalue);
    for (const variant of result?.variants ?? []) {
      const dimensions = await readImageDimensions({
        client: clients.s3,
        bucket: LOCAL_BUCKETS.outputs,
        key: variant.key,
      });
      expect(dimensions).toMatchObject({ width: variant.width, height: variant.height });
      await clients.s3.send(new HeadObjectCommand({ Bucket: LOCAL_BUCKETS.outputs, Key: variant.key }));
    }
    const forJob = events.filter((event) => outpaintEventSchema.parse(event.data).data.jobId === jobId);
    expect(forJob, `completion events for ${jobId}`).toHaveLength(1);
    expect(forJob[0]!.data).toMatchObject({ specversion: "1.0", type: "reframe.outpaint.completed.v1" });
  }
}

/**
 * The same outpaint flow on each way reframe reaches Redis: one node, a Sentinel group (master, replica,
 * three sentinels) and a Cluster of three masters. The 429 storm, long and not about Redis, runs on
 * the single node only.
 */
describe.each(REDIS_TOPOLOGIES)("the outpaint flow with webhooks, on Redis %s", (topology) => {
  let stack: LocalStack;
  let clients: StackClients;
  beforeAll(async () => {
    // The reconciler's first poll comes 2 s after a submit (30 s by default with webhooks), so
    // dropped webhooks are recovered quickly.
    stack = await startLocalStack({
      redisTopology: topology,
      workers: 1,
      webhooks: true,
      emulatorEnv: { EMULATOR_LATENCY_MS: "100-400" },
      workerEnv: { POLL_FIRST_MS: "2000" },
      logLevel: "debug",
    });
    clients = stackClients(stack);
  });
  afterAll(async () => {
    await clients?.close();
    await stack?.stop();
  });

  it("completes every job with outputs of the planned size and one event per route", async () => {
    const { jobIds } = await runBatch(clients, "webhook", "done-webhook");
    await expectOutputsAndEvents(clients, jobIds, "done-webhook");
    for (const jobId of jobIds) {
      const found = await clients.queue.getJob(jobId);
      const result = readOutpaintResult(found!.returnvalue)!;
      const ratio = result.variants[0]!.key.split("/")[1]!.replace("x", ":") as keyof typeof PLANNED;
      expect([result.variants[0]!.width, result.variants[0]!.height]).toEqual(PLANNED[ratio]);
    }
  });

  it("enqueueing the same work again adds nothing and submits nothing", async () => {
    const before = await emulatorCounters(stack);
    const inputs = RATIOS.map((ratio) => job("webhook/a.jpg", ratio, ["done-webhook"]));
    const { added } = await enqueueMany(clients.queue, inputs);
    expect(added).toBe(0);
    expect((await emulatorCounters(stack)).totals).toEqual(before.totals);
  });

  it("a forged webhook is refused and stores nothing", async () => {
    const response = await fetch(
      `${stack.webhooksUrl}/runware/00000000-0000-5000-8000-000000000000?token=forged`,
      {
        method: "POST",
        headers: { "content-type": "application/json" },
        body: JSON.stringify({
          data: [
            { taskType: "imageInference", taskUUID: "00000000-0000-5000-8000-000000000000", imageUUID: "x" },
          ],
        }),
      },
    );
    expect(response.status).toBe(401);
  });

  it("duplicated and dropped webhooks lose nothing and emit nothing twice", async () => {
    await setEmulatorFaults(stack, { webhookDropRate: 0.4, webhookDuplicateRate: 0.4 });
    try {
      const { jobIds } = await runBatch(clients, "flaky", "done-flaky");
      await expectOutputsAndEvents(clients, jobIds, "done-flaky");
    } finally {
      await setEmulatorFaults(stack, { webhookDropRate: 0, webhookDuplicateRate: 0 });
    }
  });

  it("a terminal provider error fails the job with the provider's code", async () => {
    await uploadSource(clients.s3, "terminal/a.jpg");
    await setEmulatorFaults(stack, { terminalErrorRate: 1 });
    try {
      const { jobIds } = await enqueueMany(clients.queue, [job("terminal/a.jpg", "16:9", ["done-terminal"])]);
      await expect.poll(() => jobStates(clients.queue, jobIds), { timeout: 30_000 }).toEqual({ failed: 1 });
      const failed = await clients.queue.getJob(jobIds[0]!);
      expect(failed!.failedReason).toMatch(/^[a-zA-Z]+: /);
      const events = await clients.routeQueue("done-terminal").getJobs(["waiting"]);
      expect(events.map((e) => outpaintEventSchema.parse(e.data).type)).toEqual([
        "reframe.outpaint.failed.v1",
      ]);
    } finally {
      await setEmulatorFaults(stack, { terminalErrorRate: 0 });
    }
  });

  it("no log line of any process carries the API key, a webhook token or a presigned signature", () => {
    const logs = stack.outputs();
    // The worker logs every provider task at debug level: the secrets were there, and were redacted.
    expect(logs).toContain("X-Amz-Signature=[REDACTED]");
    expect(logs).toContain("token=[REDACTED]");
    expect(logs).not.toContain(stack.apiKey);
    expect(logs).not.toContain(stack.workerEnvironment.WEBHOOK_SECRET!);
    expect(logs).not.toMatch(/token=(?!\[REDACTED\])[A-Za-z0-9_-]{8,}/);
    expect(logs).not.toMatch(/X-Amz-Signature=(?!\[REDACTED\])[0-9a-f]{16,}/i);
    expect(logs).not.toMatch(/X-Amz-Credential=(?!\[REDACTED\])[A-Za-z0-9]/i);
  });

  it.runIf(topology === "single")("a 429 storm slows the outpaint flow and loses nothing", async () => {
    await setEmulatorFaults(stack, { rate429: 0.5 });
    try {
      const { jobIds } = await runBatch(clients, "storm", "done-storm");
      await expectOutputsAndEvents(clients, jobIds, "done-storm");
    } finally {
      await setEmulatorFaults(stack, { rate429: 0 });
    }
  });
});

describe("the outpaint flow without a webhook URL (polling only)", () => {
  let stack: LocalStack;
  let clients: StackClients;
  beforeAll(async () => {
    stack = await startLocalStack({ workers: 1, webhooks: false, workerEnv: { POLL_INTERVAL_MS: "300" } });
    clients = stackClients(stack);
  });
  afterAll(async () => {
    await clients?.close();
    await stack?.stop();
  });

  it("the reconciler alone completes every job, polling many tasks per request", async () => {
    const { jobIds } = await runBatch(clients, "polling", "done-polling");
    await expectOutputsAndEvents(clients, jobIds, "done-polling");
    const counters = await emulatorCounters(stack);
    expect(counters.totals.webhookAttempts ?? 0).toBe(0);
  });
});
