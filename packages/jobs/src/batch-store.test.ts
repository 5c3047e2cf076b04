import { randomUUID } from "node:crypto";
import { createRedisClient } from "@reframe/redis";
import { useRedisServer } from "@reframe/testkit";
import { Queue, UnrecoverableError, Worker } from "bullmq";
import { describe, expect, it } from "vitest";
import {
  announceBatchCompleted,
  BATCH_COMPLETED_EVENT_TYPE,
  RUN_COMPLETED_EVENT_TYPE,
} from "./batch-events.ts";
import { batchFailures, retryBatchFailures } from "./batch-retry.ts";
import { type BatchJobEndInput, createBatchStore } from "./batch-store.ts";
import { enqueueMany, jobStates } from "./enqueue.ts";
import type { OutpaintJobInput } from "./outpaint-job.ts";
import { createOutpaintQueue } from "./queues.ts";
import { openRouteQueues } from "./route-publisher.ts";

const server = useRedisServer();

function fixture() {
  const prefix = `{t-${randomUUID()}}`;
  const redis = createRedisClient(server.url, { role: "worker" });
  let clock = 1_000;
  const store = createBatchStore(redis, { prefix, now: () => clock });
  const queues: Queue[] = [];
  const routes = openRouteQueues({ connection: redis, prefix });
  server.closers.push(async () => {
    await Promise.all([...queues.map((queue) => queue.close()), routes.close()]);
    await redis.quit();
  });
  return {
    prefix,
    redis,
    store,
    routes,
    tick: (ms: number) => {
      clock += ms;
    },
    queue(name: string) {
      const queue = new Queue(name, { connection: redis, prefix });
      queues.push(queue);
      return queue;
    },
    outpaintQueue() {
      const queue = createOutpaintQueue({ connection: redis, prefix });
      queues.push(queue);
      return queue;
    },
  };
}

const completed = (costUsd = 0.2, durationMs = 1_000): BatchJobEndInput => ({
  state: "completed",
  source: "s3://sources/a.jpg",
  target: "16x9",
  costUsd,
  durationMs,
  outputs: [{ bucket: "outputs", key: "16x9/a.jpg", width: 910, height: 512 }],
  endedAt: 5_000,
});
const failed = (code: string): BatchJobEndInput => ({
  state: "failed",
  source: "s3://sources/b.jpg",
  target: "16x9",
  costUsd: 0,
  durationMs: 10,
  reason: { code, message: `${code} happened` },
  endedAt: 5_000,
});

function input(n: number, batchId: string): OutpaintJobInput {
  return {
    source: { kind: "s3", bucket: "sources", key: `library/${n}.jpg`, etag: `etag-${n}` },
    target: { kind: "ratio", ratio: "4:5" },
    output: { bucket: "outputs" },
    labels: { batchId },
  };
}

describe("batch store", () => {
  it("counts a job awaited twice once, and a skipped job once per reason", async () => {
    const { store } = fixture();
    await store.open("b1", { kind: "bulk", createdAt: 1 });
    expect(
      await store.addJobs("b1", { awaited: ["j1", "j2"], skipped: [{ jobId: "j9", reason: "done" }] }),
    ).toEqual({
      awaited: 2,
      skipped: 1,
    });
    expect(
      await store.addJobs("b1", { awaited: ["j2", "j3"], skipped: [{ jobId: "j9", reason: "done" }] }),
    ).toEqual({
      awaited: 1,
      skipped: 0,
    });
    const status = await store.status("b1");
    expect(status).toMatchObject({
      total: 3,
      inFlight: 3,
      completed: 0,
      skipped: { done: 1, failed: 0, inFlight: 0 },
    });
    // Awaited ones are members; a skipped job is not, nor is a stranger.
    expect(await store.awaits("b1", ["j1", "j9", "j3", "x"])).toEqual([true, false, true, false]);
    expect(await store.awaits("b1", [])).toEqual([]);
  });

  it("records each job's end once, with cost and failures by reason, and ignores strangers", async () => {
    const { store } = fixture();
    await store.open("b1", { kind: "bulk", createdAt: 1 });
    await store.addJobs("b1", { awaited: ["j1", "j2", "j3"], skipped: [] });
    expect(await store.recordEnd("b1", "j1", completed(0.3))).toBe("recorded");
    expect(await store.recordEnd("b1", "j1", completed(0.3))).toBe("ignored");
    expect(await store.recordEnd("b1", "j2", failed("contentPolicyViolation"))).toBe("recorded");
    expect(await store.recordEnd("b1", "other", completed())).toBe("ignored");
    expect(await store.status("b1")).toMatchObject({
      total: 3,
      completed: 1,
      failed: 1,
      inFlight: 1,
      costUsd: 0.3,
      failuresByReason: { contentPolicyViolation: 1 },
      closedAt: undefined,
    });
    const results = new Map<string, unknown>();
    for await (const [jobId, end] of store.results("b1")) results.set(jobId, end);
    expect(results.get("j2")).toMatchObject({ state: "failed", reason: { code: "contentPolicyViolation" } });
    expect([...results.keys()].sort()).toEqual(["j1", "j2"]);
  });

  it("closes when sealed and the last job ends, and says so again to a retried last end", async () => {
    const { store, tick } = fixture();
    await store.open("b1", { kind: "bulk", createdAt: 1 });
    await store.addJobs("b1", { awaited: ["j1", "j2"], skipped: [] });
    expect(await store.recordEnd("b1", "j1", completed())).toBe("recorded");
    expect(await store.seal("b1")).toBe("open");
    tick(500);
    expect(await store.recordEnd("b1", "j2", completed())).toBe("closed");
    expect(await store.recordEnd("b1", "j2", completed())).toBe("closed");
    expect(await store.recordEnd("b1", "j1", completed())).toBe("closed");
    expect((await store.status("b1"))?.closedAt).toBe(1_500);
  });

  it("a closed batch that gains jobs opens again, and its next close is announced as a new event", async () => {
    const f = fixture();
    await f.store.open("b1", { kind: "bulk", createdAt: 1, route: ["done"] });
    await f.store.addJobs("b1", { awaited: ["j1"], skipped: [] });
    await f.store.seal("b1");
    expect(await f.store.recordEnd("b1", "j1", completed())).toBe("closed");
    const first = await announceBatchCompleted(f.store, "b1", f.routes);
    f.tick(1_000);
    await f.store.addJobs("b1", { awaited: ["j1", "j2"], skipped: [] });
    expect(await f.store.status("b1")).toMatchObject({
      total: 2,
      inFlight: 1,
      sealedAt: undefined,
      closedAt: undefined,
    });
    expect(await announceBatchCompleted(f.store, "b1", f.routes)).toBeUndefined();
    expect(await f.store.seal("b1")).toBe("open");
    expect(await f.store.recordEnd("b1", "j2", completed())).toBe("closed");
    const second = await announceBatchCompleted(f.store, "b1", f.routes);
    expect(second?.id).not.toBe(first?.id);
    expect(second?.data).toMatchObject({ total: 2, completed: 2 });
    expect(await f.queue("done").count()).toBe(2);
  });

  it("a job ending before the batch is sealed does not close it; sealing an empty batch does", async () => {
    const { store } = fixture();
    await store.open("b1", { kind: "bulk", createdAt: 1 });
    await store.addJobs("b1", { awaited: ["j1"], skipped: [] });
    expect(await store.recordEnd("b1", "j1", completed())).toBe("recorded");
    expect(await store.seal("b1")).toBe("closed");
    await store.open("b2", { kind: "bulk", createdAt: 1 });
    expect(await store.seal("b2")).toBe("closed");
  });

  it("opening an existing batch keeps its info (a resumed run)", async () => {
    const { store } = fixture();
    expect((await store.open("b1", { kind: "bulk", createdAt: 1, description: "first" })).created).toBe(true);
    const again = await store.open("b1", { kind: "bulk", createdAt: 2, description: "second" });
    expect(again).toEqual({
      created: false,
      info: expect.objectContaining({ createdAt: 1, description: "first" }),
    });
  });

  it("refuses a batch id that would break a Redis key or a BullMQ id", async () => {
    const { store } = fixture();
    await expect(store.open("a:b", { kind: "bulk", createdAt: 1 })).rejects.toThrow(/letters, digits/);
  });

  it("announces a closed batch once per route queue, even when announced twice", async () => {
    const f = fixture();
    await f.store.open("run-1", {
      kind: "pipeline-run",
      createdAt: 1,
      route: ["dam", "notify"],
      pipeline: "nightly",
    });
    await f.store.addJobs("run-1", { awaited: ["j1"], skipped: [{ jobId: "j0", reason: "done" }] });
    expect(await announceBatchCompleted(f.store, "run-1", f.routes)).toBeUndefined();
    await f.store.seal("run-1");
    await f.store.recordEnd("run-1", "j1", completed(0.1));
    const first = await announceBatchCompleted(f.store, "run-1", f.routes);
    const second = await announceBatchCompleted(f.store, "run-1", f.routes);
    expect(second?.id).toBe(first?.id);
    expect(first).toMatchObject({
      type: RUN_COMPLETED_EVENT_TYPE,
      subject: "run-1",
      data: { pipeline: "nightly", total: 1, completed: 1, skipped: { done: 1 }, costUsd: 0.1 },
    });
    for (const name of ["dam", "notify"]) expect(await f.queue(name).count()).toBe(1);
    await f.store.open("bulk-1", { kind: "bulk", createdAt: 1, route: ["dam"] });
    await f.store.seal("bulk-1");
    expect((await announceBatchCompleted(f.store, "bulk-1", f.routes))?.type).toBe(
      BATCH_COMPLETED_EVENT_TYPE,
    );
  });
});

describe("enqueueMany into a batch", () => {
  it("awaits new jobs, skips existing ones with their state, and a second run adds nothing", async () => {
    const f = fixture();
    const queue = f.outpaintQueue();
    // Before the batch: jobs 0 and 2 complete, 1 fails, and a 1:1 job of source 2 stays waiting.
    const earlier = await enqueueMany(
      queue,
      [0, 1, 2].map((n) => input(n, "earlier")),
    );
    const worker = new Worker(
      queue.name,
      async (job) => {
        if (job.id === earlier.jobIds[1]) throw new UnrecoverableError("no");
        return { ok: true };
      },
      { connection: f.redis, prefix: f.prefix, autorun: false },
    );
    server.closers.push(() => worker.close());
    worker.run();
    await expect
      .poll(async () => queue.getJobCounts("completed", "failed"))
      .toEqual({ completed: 2, failed: 1 });
    await worker.close();
    const third = (
      await enqueueMany(queue, [{ ...input(2, "earlier"), target: { kind: "ratio", ratio: "1:1" } }])
    ).jobIds[0]!;
    expect(await jobStates(queue, [...earlier.jobIds, third, "op-missing"])).toEqual([
      "completed",
      "failed",
      "completed",
      "inFlight",
      undefined,
    ]);

    await f.store.open("b1", { kind: "bulk", createdAt: 1 });
    const inputs = [
      ...[0, 1, 5, 6].map((n) => input(n, "b1")),
      { ...input(2, "b1"), target: { kind: "ratio" as const, ratio: "1:1" } },
    ];
    const batch = { store: f.store, batchId: "b1" };
    const first = await enqueueMany(queue, inputs, { batch });
    expect(first).toMatchObject({
      added: 2,
      existing: 3,
      existingByState: { completed: 1, failed: 1, inFlight: 1 },
    });
    expect(await f.store.status("b1")).toMatchObject({
      total: 2,
      inFlight: 2,
      skipped: { done: 1, failed: 1, inFlight: 1 },
    });
    const second = await enqueueMany(queue, inputs, { batch });
    expect(second).toMatchObject({ added: 0, existing: 5 });
    expect(await f.store.status("b1")).toMatchObject({
      total: 2,
      skipped: { done: 1, failed: 1, inFlight: 1 },
    });
  });

  it("refuses a job whose labels name another batch", async () => {
    const f = fixture();
    const queue = f.outpaintQueue();
    await f.store.open("b1", { kind: "bulk", createdAt: 1 });
    await expect(
      enqueueMany(queue, [input(1, "b2")], { batch: { store: f.store, batchId: "b1" } }),
    ).rejects.toThrow(/labels.batchId must be b1/);
    expect(await queue.count()).toBe(0);
  });
});

describe("the batch index", () => {
  it("lists the newest batches first, with their status, and forgets expired ones", async () => {
    const f = fixture();
    for (const [index, batchId] of ["old", "middle", "new"].entries())
      await f.store.open(batchId, { kind: "bulk", createdAt: 100 + index });
    await f.store.addJobs("new", { awaited: ["j1"], skipped: [] });
    expect((await f.store.list(10)).map((status) => [status.batchId, status.total])).toEqual([
      ["new", 1],
      ["middle", 0],
      ["old", 0],
    ]);
    expect((await f.store.list(2)).map((status) => status.batchId)).toEqual(["new", "middle"]);
    await f.redis.del(`${f.prefix}:batch:middle`);
    expect((await f.store.list(2)).map((status) => status.batchId)).toEqual(["new", "old"]);
    expect(await f.redis.zrange(`${f.prefix}:batches`, 0, -1)).toEqual(["old", "new"]);
  }, 30_000);
});

describe("retrying a batch's failed jobs", () => {
  it("retries only the failed jobs, under their ids, and the batch awaits them again", async () => {
    const f = fixture();
    const queue = f.outpaintQueue();
    await f.store.open("b1", { kind: "bulk", createdAt: 1 });
    const { jobIds } = await enqueueMany(
      queue,
      [0, 1, 2, 3].map((n) => input(n, "b1")),
      { batch: { store: f.store, batchId: "b1" } },
    );
    await f.store.seal("b1");
    const failing = new Set([jobIds[1], jobIds[3]]);
    // The saved state of a task the failed run sent (packages/jobs job-data.ts).
    const earlierTask = {
      variant: 0,
      generation: 0,
      taskUUID: "6f1d7a52-2f0e-5b9a-9d65-3c1f1b8b1a10",
      key: "out/a.png",
      confirmed: true,
      submitAttempts: 1,
      deadline: 2,
    };
    const worker = new Worker(
      queue.name,
      async (job) => {
        if (failing.has(job.id)) {
          await job.updateData({
            ...job.data,
            state: { step: "await", tasks: [earlierTask], enqueuedAt: 1 },
          });
          throw new UnrecoverableError("uploadFailed: no");
        }
        return { ok: true };
      },
      { connection: f.redis, prefix: f.prefix, autorun: false },
    );
    server.closers.push(() => worker.close());
    worker.on("completed", (job) => void f.store.recordEnd("b1", job.id!, completed(0.2)));
    worker.on(
      "failed",
      (job) =>
        void f.store.recordEnd(
          "b1",
          job!.id!,
          failed(job!.id === jobIds[1] ? "uploadFailed" : "contentPolicyViolation"),
        ),
    );
    worker.run();
    await expect.poll(async () => (await f.store.status("b1"))?.closedAt).toBeDefined();
    await worker.close();
    expect(await f.store.status("b1")).toMatchObject({ completed: 2, failed: 2, costUsd: 0.4 });

    const onlyUploads = await batchFailures(queue, f.store, "b1", { reasons: ["uploadFailed"] });
    expect(onlyUploads.map((failure) => [failure.jobId, failure.reason])).toEqual([
      [jobIds[1], "uploadFailed"],
    ]);
    const all = await batchFailures(queue, f.store, "b1");
    expect(all.map((failure) => failure.jobId).sort()).toEqual([jobIds[1], jobIds[3]].sort());

    expect(await retryBatchFailures(f.store, "b1", all, { now: 777 })).toBe(2);
    expect(await jobStates(queue, jobIds)).toEqual(["completed", "inFlight", "completed", "inFlight"]);
    const retried = await queue.getJob(jobIds[1]!);
    expect(retried!.attemptsMade).toBe(0);
    expect(retried!.data.state).toEqual({ step: "plan", tasks: [earlierTask], enqueuedAt: 777 });
    expect(await f.store.status("b1")).toMatchObject({
      total: 4,
      completed: 2,
      failed: 0,
      inFlight: 2,
      costUsd: 0.4,
      failuresByReason: {},
      closedAt: undefined,
    });
    // Nothing is failed any more: asking again finds nothing, and a second retry changes nothing.
    expect(await batchFailures(queue, f.store, "b1")).toEqual([]);
    expect(await f.store.takeBackFailures("b1", jobIds)).toBe(0);
    // The retried jobs end: the batch closes again.
    expect(await f.store.recordEnd("b1", jobIds[1]!, completed(0.2))).toBe("recorded");
    expect(await f.store.recordEnd("b1", jobIds[3]!, completed(0.2))).toBe("closed");
  }, 30_000);

  it("a failed job removed by retention is reported, not retried", async () => {
    const f = fixture();
    const queue = f.outpaintQueue();
    await f.store.open("b2", { kind: "bulk", createdAt: 1 });
    await f.store.addJobs("b2", { awaited: ["op-gone"], skipped: [] });
    await f.store.recordEnd("b2", "op-gone", failed("sourceUnreadable"));
    const failures = await batchFailures(queue, f.store, "b2");
    expect(failures).toEqual([{ jobId: "op-gone", reason: "sourceUnreadable", job: undefined }]);
    expect(await retryBatchFailures(f.store, "b2", failures)).toBe(0);
    expect(await f.store.status("b2")).toMatchObject({ failed: 1, inFlight: 0 });
  }, 30_000);
});
