import type { FailureReason, StepState, TaskOutcomeRecord, TaskState } from "@reframe/jobs";
import { classifyProviderError, isStorageTaskError } from "@reframe/runware";

export type AwaitDecision =
  | { kind: "finalize" }
  | { kind: "fail"; reason: FailureReason }
  /**
   * New generations for these variants (their last task was lost, expired or failed). `outage`: the
   * variants among them whose failed generation is given back (it met an S3 outage: see
   * StorageSeen), present when there is one.
   */
  | { kind: "resubmit"; variants: number[]; reasons: string[]; outage?: number[] }
  /** Some tasks were never acknowledged by the provider: submit them (same taskUUIDs). */
  | { kind: "submit" }
  /** Tasks still running: these have no outcome yet. */
  | { kind: "wait"; missing: TaskState[] };

/**
 * What the job knows of S3 as it decides: `out` (its own check after the provider's failed upload or
 * download found S3 out, or S3's breaker is open), `answering` (its check just now was answered), or
 * `unasked`.
 */
export type StorageSeen = "out" | "answering" | "unasked";

/**
 * A generation that the provider failed for our storage (`isStorageTaskError`: uploadFailed,
 * downloadFailed) while S3 was out is given back: it does not count against `maxGenerations`, up to
 * `maxOutageGenerations` per variant (the provider may still charge for it, so these have their own
 * cap).
 */
export interface OutageAllowance {
  maxOutageGenerations: number;
  storage: StorageSeen;
}

/**
 * What a parked job does when it runs again, from its tasks and the outcomes stored for them.
 * Precedence: a terminal failure ends the job even when other variants succeeded (a job is all of
 * its variants); then lost work is redone; then it waits.
 */
export function decideAwait(
  state: StepState,
  outcomes: ReadonlyMap<string, TaskOutcomeRecord>,
  now: number,
  maxGenerations: number,
  allowance: OutageAllowance = { maxOutageGenerations: 0, storage: "unasked" },
): AwaitDecision {
  const resubmit: number[] = [];
  const reasons: string[] = [];
  const outage: number[] = [];
  const missing: TaskState[] = [];
  let unconfirmed = false;
  for (const task of state.tasks) {
    const outcome = outcomes.get(task.taskUUID);
    const verdict = judgeTask(task, outcome, now);
    if (verdict.kind === "done") continue;
    if (verdict.kind === "fail") return { kind: "fail", reason: verdict.reason };
    if (verdict.kind === "redo") {
      const givenBack = outageGenerationsOf(state, task.variant);
      const mayGiveBack = isStorageTaskError(verdict.code) && givenBack < allowance.maxOutageGenerations;
      if (mayGiveBack && allowance.storage === "out") {
        resubmit.push(task.variant);
        reasons.push(verdict.code);
        outage.push(task.variant);
        continue;
      }
      // Counted from the plan's first generation: a retried job has its full share again. At the
      // last one, a failure for our storage is not final before S3 was asked (the machine asks it
      // before any redo for such a failure): it may be given back.
      const counted = task.generation + 1 - (state.firstGeneration ?? 0) - givenBack;
      if (counted >= maxGenerations && !(mayGiveBack && allowance.storage === "unasked")) {
        const outages = givenBack > 0 ? `, and ${givenBack} given back for an S3 outage` : "";
        return {
          kind: "fail",
          reason: {
            code: verdict.code,
            message: `${verdict.message} (after ${maxGenerations} generations of variant ${task.variant}${outages})`,
            disposition: "retryable",
          },
        };
      }
      resubmit.push(task.variant);
      reasons.push(verdict.code);
      continue;
    }
    if (!task.confirmed) unconfirmed = true;
    missing.push(task);
  }
  if (resubmit.length > 0)
    return { kind: "resubmit", variants: resubmit, reasons, ...(outage.length > 0 ? { outage } : {}) };
  if (unconfirmed) return { kind: "submit" };
  if (missing.length > 0) return { kind: "wait", missing };
  return { kind: "finalize" };
}

/**
 * The generations of a variant given back for an S3 outage since the plan's first generation (a
 * retried job has its full share again).
 */
function outageGenerationsOf(state: StepState, variant: number): number {
  const first = state.firstGeneration ?? 0;
  return (state.outageGenerations ?? []).filter(
    (given) => given.variant === variant && given.generation >= first,
  ).length;
}

/** The code of a task redone (or, at its last generation, failed) for having no result by its deadline. */
export const DEADLINE_REDO = "taskDeadlineExceeded";

type TaskVerdict =
  | { kind: "done" }
  | { kind: "pending" }
  | { kind: "fail"; reason: FailureReason }
  | { kind: "redo"; code: string; message: string };

function judgeTask(task: TaskState, outcome: TaskOutcomeRecord | undefined, now: number): TaskVerdict {
  if (!outcome) {
    // Also a task the provider never acknowledged: its presigned URLs died with the deadline, so
    // sending it again could only fail; it is redone under a new generation with a new deadline.
    if (now >= task.deadline) {
      return { kind: "redo", code: DEADLINE_REDO, message: `no result by the task's deadline` };
    }
    return { kind: "pending" };
  }
  switch (outcome.kind) {
    case "success":
      return { kind: "done" };
    case "resubmit":
      // Never acknowledged: the provider has not seen this taskUUID yet (the POST failed, or the
      // worker died before sending it), so it is sent again as it is while its deadline allows; a
      // new generation would burn one of the variant's few generations for nothing.
      if (!task.confirmed && now < task.deadline) return { kind: "pending" };
      return { kind: "redo", code: outcome.code, message: `the provider answered ${outcome.code}` };
    case "error": {
      const { code, message } = outcome.error;
      const { disposition } = classifyProviderError({ code });
      switch (disposition) {
        case "terminal":
          return { kind: "fail", reason: { code, message, disposition: "terminal" } };
        case "pause":
        // An account refusal stored for a task (by a version before toOutcomeRecord kept them out)
        // ended that task: redone, bounded by the generations, instead of pausing the queue again
        // each time the job wakes. A new submit meets the refusal itself and pauses there.
        case "retryable":
        case "resubmit":
        case "accepted":
          // The generation failed on the provider's side (uploadFailed, timeoutProvider, …):
          // the same taskUUID cannot run again, so the work is redone under the next generation.
          return { kind: "redo", code, message };
        default:
          return assertNever(disposition);
      }
    }
    default:
      return assertNever(outcome);
  }
}

function assertNever(value: never): never {
  throw new Error(`unhandled case ${JSON.stringify(value)}`);
}
