import type { FailureReason, JobPlan, StepState, TaskOutcomeRecord, TaskState } from "@reframe/jobs";
import { backoffMs, formatDelay } from "@reframe/reachability";
import { isStorageTaskError } from "@reframe/runware";
import { DEADLINE_REDO, decideAwait, type StorageSeen } from "./decide-await.ts";
import { taskUUIDFor } from "./task-uuid.ts";

/**
 * The outpaint step machine as one pure function: from the saved state and what just happened, the
 * next state and what the processor must do (outpaint-processor.ts runs the effects; it decides
 * nothing). Every step change is made here. The steps are the states saved in `job.data.state`
 * (packages/jobs job-data.ts): plan → submit → await → finalize. A plan is saved at `submit` before
 * anything is sent, so a worker that dies between its plan and its POST resumes at `submit` with the
 * plan made; the park saves `await` before the POST. Only `finalize` reached from `await` is not
 * saved: a retried finalize re-reads the same stored outcomes and decides the same.
 */

export interface MachineSettings {
  /** How many generations a variant may go through. */
  maxGenerations: number;
  /**
   * Generations of a variant given back at most, besides maxGenerations: those the provider failed
   * for our storage (uploadFailed, downloadFailed) while S3 was found out.
   */
  maxOutageGenerations: number;
  /** Submit attempts for a task the provider never acknowledged, before the job fails. */
  maxSubmitAttempts: number;
  /** A parked job wakes by itself after this long. */
  recheckMs: number;
  /** A new generation's deadline: the job's `options.deadlineSeconds`, in ms. */
  taskDeadlineMs: number;
  /** The jitter of the waits for S3 (Math.random unless a test fixes it). */
  random?: () => number;
}

/**
 * How long a job waits for S3 before it tries again: 2 s, doubling per wait up to 60 s (the bounds of
 * the provider breaker's default probe schedule), each between half and all of it so that the jobs
 * an outage stopped together do not come back together.
 */
export const STORAGE_WAIT = { baseMs: 2000, maxMs: 60_000, jitter: 0.5 } as const;

export function storageWaitMs(waits: number, random: number): number {
  return backoffMs(STORAGE_WAIT, waits, () => random);
}

export type StepEvent =
  /**
   * The plan step made a plan: its tasks to send (step submit), or, `copied`, the one copy it already
   * wrote without a provider call (step finalize).
   */
  | { kind: "planned"; plan: JobPlan; tasks: TaskState[]; copied: boolean }
  /**
   * The job runs (again): the outcomes stored for its tasks; `polled` once it asked the provider
   * itself; `outage` while the provider breaker is open (provider-breaker.ts) and `storageBreaker`
   * while S3's is (storage-breaker.ts): since when, and when the job should look again (just after
   * the next probe).
   */
  | {
      kind: "woke";
      outcomes: ReadonlyMap<string, TaskOutcomeRecord>;
      polled: boolean;
      outage?: BreakerOutage;
      /**
       * S3's breaker is open: nothing is sent to the provider either, which could neither fetch the
       * source nor upload the output through its presigned URLs.
       */
      storageBreaker?: BreakerOutage & { problem: string };
      /** S3 answered the `checkStorage` just made: the provider's storage errors are its own. */
      storageChecked?: boolean;
    }
  /**
   * An S3 request of this step could not be made (packages/storage `s3OutageOf`): the plan's reads
   * and uploads, the output check, or `checkStorage`. `problem` in a few words. `resumeAt` when S3's
   * breaker is open (storage-breaker.ts) and nothing was asked: the job looks again then, just after
   * the next probe, instead of after its own backoff.
   */
  | { kind: "storageUnreachable"; problem: string; resumeAt?: number }
  /** The POST of `send` returned: what the provider acknowledged, stored, refused. */
  | {
      kind: "sent";
      confirmed: readonly string[];
      storedOutcome: boolean;
      retryAt?: number;
      pause?: { code: string; message: string };
      /**
       * Tasks whose request failed for an outage: the provider's (5xx, timeout, no connection), or
       * S3's as the provider met it (it could not fetch the source while S3 does not answer).
       */
      outage: readonly string[];
    };

/** A service's breaker is open (service-breaker.ts): since when, and when to look again. */
interface BreakerOutage {
  openedAt: number;
  resumeAt: number;
}

export type Effect =
  /** Save `state` into job.data. */
  | { kind: "save" }
  /** Ask the provider about these tasks once; the answers come back as a `woke` event with polled. */
  | { kind: "poll"; tasks: TaskState[] }
  /**
   * Park the job (delayed) until then, and leave; `waitingFor` the service whose outage it waits
   * out, when it is one (S3's waits are counted, reframe_storage_waits_total).
   */
  | { kind: "park"; until: number; waitingFor?: "provider" | "s3" }
  /**
   * Park first, then POST: check the spend ceiling, record the keys, presign, save `state`, register
   * the tasks, park until `until`, send; the answer comes back as a `sent` event.
   */
  | { kind: "send"; tasks: TaskState[]; until: number }
  /** The job is parked already: move its wake-up (a backoff), or wake it now (an outcome is there). */
  | { kind: "delay"; until: number }
  | { kind: "promote"; onlyIfStored: boolean }
  /** Pause the queue for the account (credits, key), with an alert. */
  | { kind: "pause"; code: string; message: string }
  /** Leave parked (after send). */
  | { kind: "leave" }
  /** Check the outputs and complete the job (the outcomes read, when known). */
  | { kind: "finalize"; outcomes?: ReadonlyMap<string, TaskOutcomeRecord> }
  /**
   * Ask S3 whether it answers at all (the provider failed to read or write through its presigned
   * URLs): the answer comes back as a `woke` event with storageChecked, or `storageUnreachable`.
   */
  | { kind: "checkStorage" }
  /** Record the failure (event, batch) and fail the job. */
  | { kind: "fail"; reason: FailureReason };

export interface Transition {
  state: StepState;
  effects: Effect[];
}

export function transition(
  jobId: string,
  state: StepState,
  event: StepEvent,
  now: number,
  settings: MachineSettings,
): Transition {
  switch (event.kind) {
    case "planned":
      return planned(state, event, now);
    case "woke":
      return woke(jobId, state, event, now, settings);
    case "sent":
      return sent(state, event, now);
    case "storageUnreachable":
      return waitForStorage(state, event, now, settings);
    default:
      throw new Error(`unknown event ${JSON.stringify(event satisfies never)}`);
  }
}

function planned(
  state: StepState,
  { plan, tasks, copied }: Extract<StepEvent, { kind: "planned" }>,
  now: number,
): Transition {
  if (state.step !== "plan") throw new Error(`a job at its ${state.step} step does not plan`);
  // Past the plan: a wait for S3 at it is over.
  const first = Math.min(...tasks.map((task) => task.generation));
  const made: StepState = {
    ...withoutStorageOutage(state),
    plan,
    tasks,
    plannedAt: now,
    // A failed job retried is planned again after its earlier generations (plan-step.ts).
    ...(first > 0 ? { firstGeneration: first } : {}),
  };
  // A copy is saved: it is not redone for free.
  if (copied)
    return {
      state: { ...made, step: "finalize", submittedAt: now },
      effects: [{ kind: "save" }, { kind: "finalize" }],
    };
  // Saved before anything is sent: a crash before the POST resumes here, without planning again. The
  // job goes on in this pass: it wakes at submit and sends.
  return { state: { ...made, step: "submit" }, effects: [{ kind: "save" }] };
}

function woke(
  jobId: string,
  state: StepState,
  { outcomes, polled, outage, storageBreaker, storageChecked }: Extract<StepEvent, { kind: "woke" }>,
  now: number,
  settings: MachineSettings,
): Transition {
  if (state.step === "finalize") return { state, effects: [{ kind: "finalize" }] };
  if (state.step === "plan") throw new Error("a job at its plan step wakes by planning");
  // A fresh plan decides "submit" here too; going through the decision means a task whose deadline
  // passed before it could be sent (retries, an outage) is redone, not sent with presigned URLs that
  // already expired.
  const decision = decideAwait(state, outcomes, now, settings.maxGenerations, {
    maxOutageGenerations: settings.maxOutageGenerations,
    storage: storageSeen(state, storageBreaker, storageChecked),
  });
  // Before a task the provider acknowledged is redone, or failed for, the job asks the provider once
  // about it, so that a generation it has is not paid for twice:
  // - nothing stored by its deadline: it may have finished with its webhook lost (dropped, or refused
  //   while Redis failed over) before the reconciler came round to it;
  // - "not found" stored (provisional): the reconciler's poll may have reached the provider before
  //   this very task's submit did, or while the provider was still admitting it (a slow submit, up to
  //   RUNWARE_TIMEOUT_MS), and the submit's "accepted" came back after it; the not-found is then stale.
  // Not while the breaker is open (nothing is asked then), nor after a storage check (the poll came
  // before it).
  const redoes =
    decision.kind === "resubmit" ||
    (decision.kind === "fail" &&
      (decision.reason.code === DEADLINE_REDO || isLostTaskFailure(state, outcomes, decision.reason)));
  if (redoes && !polled && !storageChecked && !outage) {
    const unanswered = state.tasks.filter((task) => {
      if (!task.confirmed) return false;
      const outcome = outcomes.get(task.taskUUID);
      return outcome === undefined ? now >= task.deadline : outcome.kind === "resubmit";
    });
    if (unanswered.length > 0) return { state, effects: [{ kind: "poll", tasks: unanswered }] };
  }
  switch (decision.kind) {
    case "finalize":
      // Not saved: a retried finalize re-reads the same stored outcomes and decides the same.
      return { state: { ...state, step: "finalize" }, effects: [{ kind: "finalize", outcomes }] };
    case "fail":
      return { state, effects: [{ kind: "fail", reason: decision.reason }] };
    case "resubmit": {
      const redo = new Set(decision.variants);
      const toRedo = state.tasks.filter((task) => redo.has(task.variant));
      // While the provider's breaker is open nothing can be sent anyway: the job parks on it and
      // asks S3 nothing; it asks S3 only once it could send.
      if (outage) return holdForBreaker(state, { outage }, toRedo, now, settings)!;
      // The provider could not reach S3: if S3 is out, the job waits for it instead of spending
      // generations on uploads that cannot land (and the generation that met it is given back).
      if (!storageChecked && decision.reasons.some(isStorageTaskError))
        return { state, effects: [{ kind: "checkStorage" }] };
      const held = holdForBreaker(state, { storageBreaker }, toRedo, now, settings);
      if (held) return held;
      const next = nextGenerations(
        jobId,
        withoutStorageOutage(givenBack(state, decision.outage ?? [])),
        decision.variants,
        now,
        settings.taskDeadlineMs,
      );
      return submit(next, unconfirmed(next), now, settings);
    }
    case "submit":
      return (
        holdForBreaker(state, { outage, storageBreaker }, unconfirmed(state), now, settings) ??
        submit(state, unconfirmed(state), now, settings)
      );
    case "wait": {
      // Woken with nothing stored: the delay ran out. Ask the provider once before parking again.
      if (!polled) return { state, effects: [{ kind: "poll", tasks: decision.missing }] };
      const earliestDeadline = Math.min(...decision.missing.map((task) => task.deadline));
      return {
        state,
        effects: [{ kind: "park", until: Math.min(earliestDeadline, now + settings.recheckMs) }],
      };
    }
    default:
      throw new Error(`unknown decision ${JSON.stringify(decision satisfies never)}`);
  }
}

/** The job fails at a variant's last generation for a "not found" stored for one of its tasks. */
function isLostTaskFailure(
  state: StepState,
  outcomes: ReadonlyMap<string, TaskOutcomeRecord>,
  reason: FailureReason,
): boolean {
  return state.tasks.some((task) => {
    const outcome = outcomes.get(task.taskUUID);
    return outcome?.kind === "resubmit" && outcome.code === reason.code;
  });
}

/**
 * What the job knows of S3 as it decides (decide-await.ts): out when its own check found it out (the
 * wait saved in its state: only that check waits for S3 at submit and await) or S3's breaker is
 * open; answering when its check just now was answered.
 */
function storageSeen(
  state: StepState,
  storageBreaker: unknown,
  storageChecked: boolean | undefined,
): StorageSeen {
  if (state.storageOutage || storageBreaker) return "out";
  return storageChecked ? "answering" : "unasked";
}

/** Records the failed generations of these variants as given back (an S3 outage met them). */
function givenBack(state: StepState, variants: readonly number[]): StepState {
  if (variants.length === 0) return state;
  const outage = new Set(variants);
  const given = state.tasks
    .filter((task) => outage.has(task.variant))
    .map((task) => ({ variant: task.variant, generation: task.generation }));
  return { ...state, outageGenerations: [...(state.outageGenerations ?? []), ...given] };
}

/**
 * A breaker is open, the provider's or S3's: nothing is sent (the provider could not fetch the source
 * or upload the output while S3 is out) and no attempt or generation is spent. The job waits parked
 * until just after the next probe, and fails only when its own deadline (that of the tasks it would
 * send) has passed, saying which service has been unavailable and for how long. Undefined when both
 * are closed.
 */
function holdForBreaker(
  state: StepState,
  { outage, storageBreaker }: Pick<Extract<StepEvent, { kind: "woke" }>, "outage" | "storageBreaker">,
  toSend: TaskState[],
  now: number,
  settings: MachineSettings,
): Transition | undefined {
  if (!outage && !storageBreaker) return undefined;
  const deadline = Math.min(...toSend.map((task) => task.deadline));
  if (now >= deadline) {
    const reason: FailureReason = outage
      ? {
          code: "providerUnavailable",
          message: `the provider has been unavailable for ${formatDelay(now - outage.openedAt)} (since ${new Date(outage.openedAt).toISOString()}) and the job's deadline (deadlineSeconds ${settings.taskDeadlineMs / 1000}) passed while it waited`,
          disposition: "retryable",
        }
      : storageUnavailable(storageBreaker!.openedAt, storageBreaker!.problem, now, settings);
    return { state, effects: [{ kind: "fail", reason }] };
  }
  const resumeAt = (outage ?? storageBreaker)!.resumeAt;
  const waitingFor = outage ? "provider" : "s3";
  return {
    state,
    effects: [{ kind: "park", until: Math.min(deadline, Math.max(now, resumeAt)), waitingFor }],
  };
}

/**
 * S3 is out: nothing of the step is spent (no BullMQ attempt, no generation). The job waits parked,
 * saved with since when, and tries the step again after storageWaitMs (or, while S3's breaker is
 * open, just after its next probe); it fails only when its
 * deadline (`deadlineSeconds` from when it first found S3 out at this step) has passed, saying how
 * long S3 has been unavailable.
 */
function waitForStorage(
  state: StepState,
  { problem, resumeAt }: Extract<StepEvent, { kind: "storageUnreachable" }>,
  now: number,
  settings: MachineSettings,
): Transition {
  const since = state.storageOutage?.since ?? now;
  const waits = state.storageOutage?.waits ?? 0;
  const deadline = since + settings.taskDeadlineMs;
  if (now >= deadline)
    return { state, effects: [{ kind: "fail", reason: storageUnavailable(since, problem, now, settings) }] };
  const wait =
    resumeAt === undefined
      ? storageWaitMs(waits, (settings.random ?? Math.random)())
      : Math.max(0, resumeAt - now);
  return {
    state: { ...state, storageOutage: { since, waits: waits + 1, problem } },
    effects: [{ kind: "save" }, { kind: "park", until: Math.min(deadline, now + wait), waitingFor: "s3" }],
  };
}

/** A job's deadline passed while it waited for S3, out since `since`. */
function storageUnavailable(
  since: number,
  problem: string,
  now: number,
  settings: MachineSettings,
): FailureReason {
  return {
    code: "storageUnavailable",
    message: `S3 has been unavailable for ${formatDelay(now - since)} (since ${new Date(since).toISOString()}; ${problem}) and the job's deadline (deadlineSeconds ${Math.round(settings.taskDeadlineMs / 1000)}) passed while it waited`,
    disposition: "retryable",
  };
}

function withoutStorageOutage(state: StepState): StepState {
  if (!state.storageOutage) return state;
  const { storageOutage: _over, ...rest } = state;
  return rest;
}

/** Counts the attempt of each task about to be sent; past the ceiling the job fails instead. */
function submit(state: StepState, toSend: TaskState[], now: number, settings: MachineSettings): Transition {
  const sending = new Set(toSend.map((task) => task.taskUUID));
  const tasks = state.tasks.map((task) =>
    sending.has(task.taskUUID)
      ? { ...task, submitAttempts: task.submitAttempts + 1, submittedAt: task.submittedAt ?? now }
      : task,
  );
  const exhausted = tasks.find(
    (task) => sending.has(task.taskUUID) && task.submitAttempts > settings.maxSubmitAttempts,
  );
  if (exhausted) {
    const reason: FailureReason = {
      code: "submitAttemptsExhausted",
      message: `the provider did not accept task ${exhausted.taskUUID} after ${settings.maxSubmitAttempts} attempts`,
      disposition: "retryable",
    };
    return { state, effects: [{ kind: "fail", reason }] };
  }
  const parked: StepState = { ...state, step: "await", tasks, submittedAt: state.submittedAt ?? now };
  return {
    state: parked,
    effects: [
      {
        kind: "send",
        tasks: tasks.filter((task) => sending.has(task.taskUUID)),
        until: now + settings.recheckMs,
      },
    ],
  };
}

function sent(state: StepState, event: Extract<StepEvent, { kind: "sent" }>, now: number): Transition {
  const confirmed = new Set(event.confirmed);
  // An attempt lost to an outage is not spent: TASK_MAX_SUBMIT_ATTEMPTS counts the provider's refusals.
  const givenBack = new Set(event.outage);
  const changed = state.tasks.some(
    (task) =>
      (confirmed.has(task.taskUUID) && !task.confirmed) ||
      (givenBack.has(task.taskUUID) && task.submitAttempts > 0),
  );
  const tasks = state.tasks.map((task) => {
    if (confirmed.has(task.taskUUID)) return { ...task, confirmed: true };
    if (givenBack.has(task.taskUUID))
      return { ...task, submitAttempts: Math.max(0, task.submitAttempts - 1) };
    return task;
  });
  const next: StepState = { ...state, tasks };
  const effects: Effect[] = [];
  if (changed) effects.push({ kind: "save" });
  if (event.pause) effects.push({ kind: "pause", ...event.pause });
  // A refusal for now: not before the backoff. Otherwise an outcome may already be stored: the answer
  // itself ended a task (a sync result, a validation error), or a webhook came while this job was not
  // delayed and its promote found nothing to wake.
  if (event.retryAt !== undefined) effects.push({ kind: "delay", until: Math.max(now, event.retryAt) });
  else effects.push({ kind: "promote", onlyIfStored: !event.storedOutcome });
  effects.push({ kind: "leave" });
  return { state: next, effects };
}

function unconfirmed(state: StepState): TaskState[] {
  return state.tasks.filter((task) => !task.confirmed);
}

function nextGenerations(
  jobId: string,
  state: StepState,
  variants: number[],
  now: number,
  deadlineMs: number,
): StepState {
  const redo = new Set(variants);
  const tasks = state.tasks.map((task) => {
    if (!redo.has(task.variant)) return task;
    const generation = task.generation + 1;
    const { submittedAt: _sent, ...rest } = task;
    return {
      ...rest,
      generation,
      taskUUID: taskUUIDFor(jobId, task.variant, generation),
      confirmed: false,
      submitAttempts: 0,
      deadline: now + deadlineMs,
    };
  });
  return { ...state, step: "submit", tasks };
}
