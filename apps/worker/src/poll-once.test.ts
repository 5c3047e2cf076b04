import { randomUUID } from "node:crypto";
import { createTaskStore, type TaskOutcomeRecord, type TaskState } from "@reframe/jobs";
import { createRedisClient } from "@reframe/redis";
import { ProviderError, type RunwareClient, type TaskAnswer } from "@reframe/runware";
import { createLogger } from "@reframe/telemetry";
import { useRedisServer } from "@reframe/testkit";
import { describe, expect, it } from "vitest";
import { pollTasksOnce } from "./poll-once.ts";
import { taskUUIDFor } from "./task-uuid.ts";

const server = useRedisServer();
const logger = createLogger({ name: "poll-once-test", level: "silent" });
const NOW = 1_800_000_000_000;
const JOB = "op-poll-once";

function task(variant: number): TaskState {
  return {
    variant,
    generation: 0,
    taskUUID: taskUUIDFor(JOB, variant, 0),
    key: `out/a-v${variant + 1}.png`,
    confirmed: true,
    submitAttempts: 1,
    submittedAt: NOW - 12_000,
    deadline: NOW + 600_000,
  };
}

/** The reconciler's poll, before the provider had admitted the task: "not found" (provisional). */
const notFound: TaskOutcomeRecord = { kind: "resubmit", code: "taskNotFound", receivedAt: NOW, via: "poll" };

/** A provider answering each task as the test says. */
function provider(answers: Record<string, TaskAnswer>): Pick<RunwareClient, "getResponses"> {
  return {
    getResponses: async (taskUUIDs) =>
      new Map(taskUUIDs.flatMap((taskUUID) => (answers[taskUUID] ? [[taskUUID, answers[taskUUID]]] : []))),
  };
}

async function setup(tasks: TaskState[]) {
  const redis = createRedisClient(server.url, { role: "worker" });
  server.closers.push(() => redis.quit());
  const taskStore = createTaskStore(redis, { prefix: `{po-${randomUUID()}}`, now: () => NOW });
  await taskStore.registerTasks(
    tasks.map((t) => ({ taskUUID: t.taskUUID, jobId: JOB, deadline: t.deadline, nextCheckAt: NOW })),
  );
  for (const t of tasks) await taskStore.storeOutcome(t.taskUUID, notFound);
  const deps = (answers: Record<string, TaskAnswer>) => ({
    provider: provider(answers),
    taskStore,
    logger,
    now: () => NOW,
    settings: { firstPollMs: 5_000 } as never,
  });
  return { taskStore, deps };
}

describe("a job's own poll", () => {
  it("drops a stale not-found of a task the provider has, and makes it pending again", async () => {
    const known = task(0);
    const lost = task(1);
    const { taskStore, deps } = await setup([known, lost]);
    const stored = await taskStore.getOutcomes([known.taskUUID, lost.taskUUID]);
    const merged = await pollTasksOnce(
      JOB,
      [known, lost],
      stored,
      deps({
        [known.taskUUID]: { kind: "processing", taskUUID: known.taskUUID, results: [] },
        [lost.taskUUID]: {
          kind: "failed",
          taskUUID: lost.taskUUID,
          error: ProviderError.from({
            status: 400,
            code: "taskNotFound",
            message: "No task with this taskUUID",
            taskUUID: lost.taskUUID,
          }),
        },
      }),
    );
    // The task the provider has is no longer "not found", here and in the store; the one it does not
    // know keeps its not-found, and is redone.
    expect(merged.get(known.taskUUID)).toBeUndefined();
    expect(merged.get(lost.taskUUID)).toMatchObject({ kind: "resubmit", code: "taskNotFound" });
    const after = await taskStore.getOutcomes([known.taskUUID, lost.taskUUID]);
    expect([...after.keys()]).toEqual([lost.taskUUID]);
    // Pending again for the reconciler, from the next first poll.
    expect(await taskStore.duePending(NOW + 5_000, 10)).toEqual([known.taskUUID]);
  });

  it("stores a finished answer over the not-found", async () => {
    const known = task(0);
    const { taskStore, deps } = await setup([known]);
    const merged = await pollTasksOnce(
      JOB,
      [known],
      await taskStore.getOutcomes([known.taskUUID]),
      deps({
        [known.taskUUID]: {
          kind: "completed",
          taskUUID: known.taskUUID,
          results: [{ taskType: "imageInference", taskUUID: known.taskUUID, imageUUID: "img" }] as never,
        },
      }),
    );
    expect(merged.get(known.taskUUID)).toMatchObject({ kind: "success" });
    expect((await taskStore.getOutcomes([known.taskUUID])).get(known.taskUUID)).toMatchObject({
      kind: "success",
    });
  });
});
