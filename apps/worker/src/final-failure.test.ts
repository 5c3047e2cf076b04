import { randomUUID } from "node:crypto";
import {
  COMPLETION_EVENT_TYPE,
  createBatchStore,
  createOutpaintQueue,
  enqueueMany,
  FAILURE_EVENT_TYPE,
  initialState,
  OUTPAINT_JOB_NAME,
  type OutpaintJobInput,
  outpaintEventId,
  outpaintEventSchema,
  parseOutpaintJob,
  providerBackoffStrategy,
} from "@reframe/jobs";
import { createRedisClient } from "@reframe/redis";
import { createLogger } from "@reframe/telemetry";
import { useRedisServer } from "@reframe/testkit";
import { type Job, Queue, Worker } from "bullmq";
import { describe, expect, it } from "vitest";
import { recordFinalFailure } from "./final-failure.ts";

const redis = useRedisServer();
const logger = createLogger({ name: "final-failure-test", level: "silent" });

function setup() {
  const connection = createRedisClient(redis.url, { role: "worker" });
  const prefix = `{t-${randomUUID().slice(0, 8)}}`;
  const queue = createOutpaintQueue({ connection, prefix });
  const route = new Queue("failures", { connection, prefix });
  const workers: Worker[] = [];
  redis.closers.push(async () => {
    await Promise.all(workers.map((worker) => worker.close(true)));
    await queue.close();
    await route.close();
    connection.disconnect();
  });
  const deps = {
    routes: { queue: () => route, deliveries: () => route },
    batches: createBatchStore(connection, { prefix }),
    logger,
    now: Date.now,
  };
  const input: OutpaintJobInput = {
    source: { kind: "s3", bucket: "sources", key: "a.jpg" },
    target: { kind: "ratio", ratio: "16:9" },
    output: { bucket: "outputs" },
    route: ["failures"],
  } as OutpaintJobInput;
  const worker = (
    processor: (job: Job) => Promise<unknown>,
    options: { maxStalledCount?: number; lockDuration?: number } = {},
  ) => {
    const created = new Worker(queue.name, processor, {
      connection,
      prefix,
      stalledInterval: 300,
      lockDuration: options.lockDuration ?? 30_000,
      maxStalledCount: options.maxStalledCount ?? 1,
      settings: { backoffStrategy: providerBackoffStrategy },
    });
    created.on("failed", (job, error) => void recordFinalFailure(job, error, deps));
    workers.push(created);
    return created;
  };
  const failureEvents = async () =>
    (await route.getJobs(["waiting"]))
      .filter((event) => event.name === FAILURE_EVENT_TYPE)
      .map((event) => outpaintEventSchema.parse(event.data));
  return { queue, worker, failureEvents, input, route, deps: { ...deps, connection, prefix } };
}

describe("a job that ends failed records its failure event, whoever failed it", () => {
  it("a job BullMQ fails for stalling too often (its worker died holding it) gets a stalledTooOften event", async () => {
    const { queue, worker, failureEvents, input } = setup();
    const jobId = (await enqueueMany(queue, [input])).jobIds[0]!;
    let release!: () => void;
    const held = new Promise<void>((resolve) => {
      release = resolve;
    });
    // The first worker takes the job and "dies" holding it: closed without finishing, so its lock
    // runs out with the job still active.
    const dying = worker(() => held, { lockDuration: 1000 });
    await expect.poll(async () => (await queue.getJob(jobId))?.getState(), { timeout: 5000 }).toBe("active");
    const closing = dying.close(true);
    worker(async () => "never reached", { maxStalledCount: 0 });
    await expect
      .poll(async () => (await queue.getJob(jobId))?.getState(), { timeout: 15_000 })
      .toBe("failed");
    await expect.poll(failureEvents, { timeout: 5000 }).toEqual([
      expect.objectContaining({
        data: expect.objectContaining({
          jobId,
          reason: expect.objectContaining({ code: "stalledTooOften" }),
        }),
      }),
    ]);
    release();
    await closing;
  });

  it("a job that failed after a worker saved its step state still gets its failure event", async () => {
    const { queue, worker, failureEvents, input } = setup();
    const job = await queue.add(OUTPAINT_JOB_NAME, parseOutpaintJob(input), {
      jobId: "planned",
      attempts: 1,
    });
    worker(async (running) => {
      // What the plan step saves before anything can fail: the job plus its state.
      await running.updateData({ ...parseOutpaintJob(input), state: initialState(running.timestamp) });
      throw new Error("S3 is down");
    });
    await expect
      .poll(async () => (await queue.getJob(job.id!))?.getState(), { timeout: 5000 })
      .toBe("failed");
    await expect.poll(failureEvents, { timeout: 5000 }).toEqual([
      expect.objectContaining({
        data: expect.objectContaining({
          jobId: "planned",
          reason: expect.objectContaining({ code: "attemptsExhausted" }),
        }),
      }),
    ]);
  });

  it("a retryable error emits nothing while attempts remain, and one attemptsExhausted event after the last", async () => {
    const { queue, worker, failureEvents, input } = setup();
    const job = await queue.add(OUTPAINT_JOB_NAME, parseOutpaintJob(input), {
      jobId: "retried",
      attempts: 2,
    });
    worker(async () => {
      throw new Error("S3 is down");
    });
    await expect
      .poll(async () => (await queue.getJob(job.id!))?.getState(), { timeout: 5000 })
      .toBe("failed");
    expect((await queue.getJob(job.id!))?.attemptsMade).toBe(2);
    await expect.poll(failureEvents, { timeout: 5000 }).toEqual([
      expect.objectContaining({
        data: expect.objectContaining({ reason: expect.objectContaining({ code: "attemptsExhausted" }) }),
      }),
    ]);
  });

  it("a job that carries the step machine's state (the strict job schema) still records its failure", async () => {
    const { queue, worker, failureEvents, input } = setup();
    const job = await queue.add(
      OUTPAINT_JOB_NAME,
      { ...parseOutpaintJob(input), state: { step: "await", enqueuedAt: 1, tasks: [] } },
      { jobId: "with-state", attempts: 1 },
    );
    worker(async () => {
      throw new Error("S3 is down");
    });
    await expect
      .poll(async () => (await queue.getJob(job.id!))?.getState(), { timeout: 5000 })
      .toBe("failed");
    await expect.poll(failureEvents, { timeout: 5000 }).toEqual([
      expect.objectContaining({
        data: expect.objectContaining({
          jobId: "with-state",
          reason: expect.objectContaining({ code: "attemptsExhausted" }),
        }),
      }),
    ]);
  });

  it("a job that fails after its completion event went out runs once more and completes, with no failure event", async () => {
    const { queue, worker, failureEvents, input, route, deps } = setup();
    const job = await queue.add(OUTPAINT_JOB_NAME, parseOutpaintJob(input), {
      jobId: "announced",
      attempts: 1,
    });
    // Its finalize published the completion event, then the job failed (a lost lock, a stall).
    const completion = outpaintEventId(COMPLETION_EVENT_TYPE, "announced", job.timestamp);
    await route.add(COMPLETION_EVENT_TYPE, { type: COMPLETION_EVENT_TYPE }, { jobId: completion });
    const marks = new Set<string>();
    let runs = 0;
    const created = new Worker(
      queue.name,
      async () => {
        runs += 1;
        if (runs === 1) throw new Error("could not renew lock");
        return "done";
      },
      { connection: deps.connection, prefix: deps.prefix },
    );
    created.on(
      "failed",
      (failed, error) =>
        void recordFinalFailure(failed, error, {
          ...deps,
          rerunOnce: async (jobId) => !marks.has(jobId) && Boolean(marks.add(jobId)),
        }),
    );
    redis.closers.push(() => created.close(true));
    await expect
      .poll(async () => (await queue.getJob(job.id!))?.getState(), { timeout: 10_000 })
      .toBe("completed");
    expect(runs).toBe(2);
    expect(await failureEvents()).toEqual([]);
    void worker;
  });
});
