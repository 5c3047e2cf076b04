import type { TaskOutcomeRecord } from "@reframe/jobs";
import type { TaskOutcome } from "@reframe/runware";
import type { TaskState } from "./step-state.ts";
import type { OutpaintDeps } from "./worker-deps.ts";

/**
 * Turns a provider answer about one task into the record the task store keeps, or undefined while
 * the task is still running. Shared by the reconciler and by a job's own last check.
 */
export function outcomeRecord(
  outcome: TaskOutcome,
  receivedAt: number,
  via: "poll" | "sync",
): TaskOutcomeRecord | undefined {
  switch (outcome.kind) {
    case "completed": {
      const [result] = outcome.results;
      return result ? { kind: "success", result, receivedAt, via } : undefined;
    }
    case "failed": {
      const { error } = outcome;
      if (error.disposition === "resubmit") return { kind: "resubmit", code: error.code, receivedAt, via };
      if (error.disposition === "retryable" && error.status !== undefined && !error.taskUUID)
        return undefined;
      return { kind: "error", error: { code: error.code, message: error.message }, receivedAt, via };
    }
    case "accepted":
    case "alreadyAccepted":
    case "processing":
      return undefined;
    default:
      throw new Error(`unhandled outcome ${JSON.stringify(outcome satisfies never)}`);
  }
}

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
  let answers: Map<string, TaskOutcome>;
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
    const record = outcomeRecord(answer, now, "poll");
    if (!record) continue;
    await deps.taskStore.storeOutcome(taskUUID, record);
    merged.set(taskUUID, record);
  }
  return merged;
}
