import { type TaskOutcomeRecord, type TaskState, toOutcomeRecord } from "@reframe/jobs";
import type { TaskAnswer } from "@reframe/runware";
import type { OutpaintDeps } from "./worker-deps.ts";

/**
 * A job woke with nothing stored (its delay ran out): ask the provider about its own tasks once.
 * A failed request is not the job's failure — it parks again and the reconciler keeps polling.
 */
export async function pollTasksOnce(
  missing: TaskState[],
  known: ReadonlyMap<string, TaskOutcomeRecord>,
  deps: OutpaintDeps,
): Promise<ReadonlyMap<string, TaskOutcomeRecord>> {
  const merged = new Map(known);
  // The provider is down (the breaker is open): the job parks again without asking.
  if (deps.breaker?.openState()) return merged;
  let answers: Map<string, TaskAnswer>;
  try {
    answers = await deps.provider.getResponses(
      missing.filter((task) => task.confirmed).map((task) => task.taskUUID),
    );
  } catch (error) {
    deps.logger.debug({ err: error }, "a parked job's own check failed; it parks again");
    return merged;
  }
  const now = deps.now();
  for (const [taskUUID, answer] of answers) {
    const reading = toOutcomeRecord(answer, "poll", now);
    if (reading.kind !== "store") continue;
    await deps.taskStore.storeOutcome(taskUUID, reading.record);
    merged.set(taskUUID, reading.record);
  }
  return merged;
}
