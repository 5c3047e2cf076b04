import { randomUUID } from "node:crypto";
import { createRedisClient, type RedisClient } from "@reframe/redis";
import { useRedisServer } from "@reframe/testkit";
import { describe, expect, it } from "vitest";
import { TASK_RETENTION_MS, taskStoreKeys } from "./names.ts";
import { createOutpaintQueue } from "./queues.ts";
import type { TaskOutcomeRecord } from "./task-outcome.ts";
import { createTaskStore, promoteJob } from "./task-store.ts";

const server = useRedisServer();
const { closers } = server;

const NOW = 1_700_000_000_000;

function setup() {
  const redis = createRedisClient(server.url, { role: "worker" });
  closers.push(() => redis.quit());
  const prefix = `{t-${randomUUID()}}`;
  return { redis, prefix, store: createTaskStore(redis, { prefix, now: () => NOW }) };
}

const success = (imageUUID: string, via: TaskOutcomeRecord["via"] = "webhook"): TaskOutcomeRecord => ({
  kind: "success",
  result: {
    taskType: "imageInference",
    taskUUID: "t",
    imageUUID,
    imageURL: "https://x/y.jpg",
    cost: 0.1,
    seed: 7,
  },
  receivedAt: NOW,
  via,
});

const register = (taskUUID: string, nextCheckAt = NOW + 1_000, jobId = "op-1") => ({
  taskUUID,
  jobId,
  deadline: Date.now() + 900_000,
  nextCheckAt,
});

describe("task store", () => {
  it("keeps the first outcome: a second store changes nothing and says so", async () => {
    const { store } = setup();
    await store.registerTasks([register("t1")]);
    expect(await store.storeOutcome("t1", success("first"))).toEqual({ stored: true, jobId: "op-1" });
    expect(await store.storeOutcome("t1", success("second", "poll"))).toEqual({
      stored: false,
      jobId: "op-1",
    });
    const outcomes = await store.getOutcomes(["t1", "unknown"]);
    expect(outcomes.size).toBe(1);
    expect(outcomes.get("t1")).toEqual(success("first"));
  });

  it("a final outcome replaces a provisional taskNotFound; another provisional one does not", async () => {
    const { store } = setup();
    const notFound: TaskOutcomeRecord = {
      kind: "resubmit",
      code: "taskNotFound",
      receivedAt: NOW,
      via: "poll",
    };
    await store.registerTasks([register("t1")]);
    expect(await store.storeOutcome("t1", notFound)).toEqual({ stored: true, jobId: "op-1" });
    expect(await store.storeOutcome("t1", { ...notFound, code: "taskExpired" })).toEqual({
      stored: false,
      jobId: "op-1",
    });
    expect(await store.storeOutcome("t1", success("late"))).toEqual({ stored: true, jobId: "op-1" });
    expect(await store.storeOutcome("t1", notFound)).toEqual({ stored: false, jobId: "op-1" });
    expect((await store.getOutcomes(["t1"])).get("t1")).toEqual(success("late"));
  });

  it("registering a task again (sent again under its taskUUID) clears a provisional outcome and makes it pending", async () => {
    const { store } = setup();
    await store.registerTasks([register("t1"), register("t2")]);
    await store.storeOutcome("t1", { kind: "resubmit", code: "taskNotFound", receivedAt: NOW, via: "poll" });
    await store.storeOutcome("t2", success("done"));
    await store.registerTasks([register("t1"), register("t2")]);
    expect((await store.getOutcomes(["t1", "t2"])).has("t1")).toBe(false);
    expect(await store.duePending(NOW + 10_000, 10)).toEqual(["t1"]);
    expect((await store.getOutcomes(["t2"])).get("t2")).toEqual(success("done"));
  });

  it("takes a task out of the pending set when its outcome is stored", async () => {
    const { store } = setup();
    await store.registerTasks([register("t1"), register("t2")]);
    expect(await store.pendingCount()).toBe(2);
    await store.storeOutcome("t1", { kind: "resubmit", code: "taskNotFound", receivedAt: NOW, via: "poll" });
    expect(await store.pendingCount()).toBe(1);
    expect(await store.duePending(NOW + 10_000, 10)).toEqual(["t2"]);
  });

  it("returns due tasks earliest first, up to the limit, and none that are not due", async () => {
    const { store } = setup();
    await store.registerTasks([
      register("late", NOW + 3_000),
      register("early", NOW + 1_000),
      register("mid", NOW + 2_000),
    ]);
    expect(await store.duePending(NOW + 2_500, 10)).toEqual(["early", "mid"]);
    expect(await store.duePending(NOW + 5_000, 2)).toEqual(["early", "mid"]);
    expect(await store.duePending(NOW, 10)).toEqual([]);
  });

  it("reschedules pending tasks but never brings back one that has an outcome", async () => {
    const { store } = setup();
    await store.registerTasks([register("a", NOW + 1_000), register("b", NOW + 2_000)]);
    await store.storeOutcome("b", success("img"));
    await store.reschedule([
      { taskUUID: "a", at: NOW + 9_000 },
      { taskUUID: "b", at: NOW + 1 },
    ]);
    expect(await store.duePending(NOW + 5_000, 10)).toEqual([]);
    expect(await store.duePending(NOW + 9_000, 10)).toEqual(["a"]);
  });

  it("does not make a task pending again when it is registered after its outcome arrived", async () => {
    const { store } = setup();
    await store.registerTasks([register("t1")]);
    await store.storeOutcome("t1", success("img"));
    await store.registerTasks([register("t1")]);
    expect(await store.pendingCount()).toBe(0);
  });

  it("knows the job and registration time of a task, and expires it after deadline plus retention", async () => {
    const { store, redis, prefix } = setup();
    const deadline = Date.now() + 60_000;
    await store.registerTasks([{ taskUUID: "t1", jobId: "op-9", deadline, nextCheckAt: NOW }]);
    expect(await store.jobIdOf("t1")).toBe("op-9");
    expect(await store.registeredAt("t1")).toBe(NOW);
    expect(await store.jobIdOf("nope")).toBeNull();
    expect(await store.registeredAt("nope")).toBeNull();
    expect(await store.registeredAtMany(["nope", "t1"])).toEqual([null, NOW]);
    expect(await store.registeredAtMany([])).toEqual([]);
    const expireAt = await redis.pexpiretime(taskStoreKeys(prefix).task("t1"));
    expect(expireAt).toBe(deadline + TASK_RETENTION_MS);
  });

  it("stores nothing for a task it does not know: never registered, or finished and forgotten", async () => {
    const { store, redis, prefix } = setup();
    expect(await store.storeOutcome("stray", success("img"))).toEqual({ stored: false, jobId: null });
    await store.registerTasks([register("done")]);
    await store.storeOutcome("done", success("img"));
    await store.forget(["done"]);
    expect(await store.storeOutcome("done", success("img"))).toEqual({ stored: false, jobId: null });
    const keys = taskStoreKeys(prefix);
    expect(await redis.exists(keys.task("stray"), keys.task("done"))).toBe(0);
  });

  it("forgets the mapping, the outcome and the pending entry of finished tasks", async () => {
    const { store } = setup();
    await store.registerTasks([register("a"), register("b")]);
    await store.storeOutcome("a", success("img"));
    await store.forget(["a", "b"]);
    expect(await store.jobIdOf("a")).toBeNull();
    expect((await store.getOutcomes(["a", "b"])).size).toBe(0);
    expect(await store.pendingCount()).toBe(0);
  });

  it("refuses to store a record that does not match the schema", async () => {
    const { store } = setup();
    await expect(
      store.storeOutcome("t1", { kind: "error", receivedAt: NOW, via: "webhook" } as never),
    ).rejects.toThrow();
  });

  it("survives a script cache flush (EVALSHA falls back to EVAL)", async () => {
    const { store, redis } = setup();
    await store.registerTasks([register("t1")]);
    await (redis as RedisClient).script("FLUSH");
    expect(await store.storeOutcome("t1", success("img"))).toEqual({ stored: true, jobId: "op-1" });
  });
});

describe("promoteJob", () => {
  function queueFor() {
    const { redis, prefix } = setup();
    const queue = createOutpaintQueue({ connection: redis, prefix });
    closers.unshift(() => queue.close());
    return queue;
  }

  it("moves a delayed job to waiting", async () => {
    const queue = queueFor();
    await queue.add("outpaint", {}, { jobId: "op-delayed", delay: 3_600_000 });
    expect(await promoteJob(queue, "op-delayed")).toBe("promoted");
    expect(await queue.getJobState("op-delayed")).toBe("waiting");
  });

  it("leaves a waiting job alone and says it was not delayed", async () => {
    const queue = queueFor();
    await queue.add("outpaint", {}, { jobId: "op-waiting" });
    expect(await promoteJob(queue, "op-waiting")).toBe("not-delayed");
    expect(await queue.getJobState("op-waiting")).toBe("waiting");
  });

  it("says missing for an id that is not in the queue", async () => {
    expect(await promoteJob(queueFor(), "op-nothing")).toBe("missing");
  });
});
