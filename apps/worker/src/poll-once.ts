import { type TaskOutcomeRecord, type TaskState, toOutcomeRecord } from "@reframe/jobs";
import type { TaskAnswer } from "@reframe/runware";
import type { OutpaintDeps } from "./worker-deps.ts";

/**
 * A job woke with nothing stored (its delay ran out), or is about to redo a task: ask the provider
 * about its own tasks once. A failed request is not the job's failure — it parks again and the
 * reconciler keeps polling.
 */
export async function pollTasksOnce(
  jobId: string,
  missing: TaskState[],
  known: ReadonlyMap<string, TaskOutcomeRecord>,
  deps: Pick<OutpaintDeps, "breaker" | "provider" | "logger" | "now" | "taskStore" | "settings">,
): Promise<ReadonlyMap<string, TaskOutcomeRecord>> {
  const merged = new Map(known);
  // The provider is down (the breaker is open): the job parks again without asking.
  if (deps.breaker?.openState()) return merged;
  const asked = missing.filter((task) => task.confirmed);
  let answers: Map<string, TaskAnswer>;
  try {
    answers = await deps.provider.getResponses(asked.map((task) => task.taskUUID));
  } catch (error) {
    deps.logger.debug({ err: error }, "a parked job's own check failed; it parks again");
    return merged;
  }
  const now = deps.now();
  const stale: TaskState[] = [];
  for (const [taskUUID, answer] of answers) {
    const reading = toOutcomeRecord(answer, "poll", now);
    if (reading.kind === "running" && known.get(taskUUID)?.kind === "resubmit") {
      // The provider has the task: the "not found" stored for it was read before the provider had
      // admitted it (the reconciler's poll overtook the submit that it then accepted). It is dropped,
      // and the task is pending again for the reconciler, instead of being redone as a paid generation.
      merged.delete(taskUUID);
      const task = asked.find((candidate) => candidate.taskUUID === taskUUID);
      if (task) stale.push(task);
      continue;
    }
    if (reading.kind !== "store") continue;
    await deps.taskStore.storeOutcome(taskUUID, reading.record);
    merged.set(taskUUID, reading.record);
  }
  // Registering again drops a provisional outcome (register-tasks.lua) and never a final one.
  await deps.taskStore.registerTasks(
    stale.map((task) => ({
      taskUUID: task.taskUUID,
      jobId,
      deadline: task.deadline,
      nextCheckAt: now + deps.settings.firstPollMs,
    })),
  );
  return merged;
}
