import type { OutpaintJob, TaskOutcomeRecord } from "@reframe/jobs";
import {
  OUTPAINT_QUEUE,
  outpaintJobSchema,
  pauseQueueFor,
  publishAlert,
  queuePausedAlert,
  spendCeilingAlert,
} from "@reframe/jobs";
import { ATTRIBUTES, SPANS, withSpan } from "@reframe/telemetry";
import { DelayedError, type Job, UnrecoverableError } from "bullmq";
import { type AwaitDecision, decideAwait, type FailureReason } from "./decide-await.ts";
import { finalizeStep, type OutpaintResult, recordFailure } from "./finalize-step.ts";
import { ImageWorkBusyError, PlanError, planStep } from "./plan-step.ts";
import { pollTasksOnce } from "./poll-once.ts";
import { initialState, type StepState, stepStateSchema, type TaskState } from "./step-state.ts";
import { buildProviderTask, sendTasks } from "./submit-step.ts";
import { taskUUIDFor } from "./task-uuid.ts";
import type { OutpaintDeps } from "./worker-deps.ts";

/** `job.data`: the job as enqueued, plus the step machine's state once a worker has touched it. */
export type OutpaintJobData = OutpaintJob & { state?: StepState };

/**
 * The BullMQ processor of the outpaint queue: one pass of the step machine (see step-state.ts). It
 * returns the result when the job is done, throws DelayedError when the job parked itself, and
 * throws UnrecoverableError for terminal failures (after emitting the failure event).
 */
export function createOutpaintProcessor(deps: OutpaintDeps) {
  return async function processOutpaint(job: Job<OutpaintJobData>, token?: string): Promise<OutpaintResult> {
    const jobId = job.id!;
    const { state: savedState, ...raw } = job.data;
    const data = outpaintJobSchema.parse(raw);
    let state: StepState = savedState ? stepStateSchema.parse(savedState) : initialState(job.timestamp);
    const save = (next: StepState) => job.updateData({ ...data, state: next });
    // Each iteration either advances the step or leaves the processor (return or throw).
    for (;;) {
      switch (state.step) {
        case "plan":
          state = await planOrPark(job, token, data, state, deps);
          // The submit step saves the parked state before anything leaves; a plan lost to a crash
          // is made again. A copy (straight to finalize) is saved: it is not redone for free.
          if (state.step !== "submit") await save(state);
          break;
        case "submit":
        case "await": {
          // A fresh plan decides "submit" here too; going through the decision means a task whose
          // deadline passed before it could be sent (retries, an outage) is redone, not sent with
          // presigned URLs that already expired. Every other decision than finalizing leaves by
          // throwing; finalizing goes on without saving the step: a retried finalize re-reads the
          // same stored outcomes and decides the same.
          const { outcomes } = await awaitStep({ job, token, data, state, deps });
          return await finalizeStep(jobId, data, { ...state, step: "finalize" }, deps, outcomes);
        }
        case "finalize":
          return await finalizeStep(jobId, data, state, deps);
        default:
          throw new Error(`unknown step ${JSON.stringify(state.step satisfies never)}`);
      }
    }
  };
}

interface StepContext {
  job: Job<OutpaintJobData>;
  token: string | undefined;
  data: OutpaintJob;
  state: StepState;
  deps: OutpaintDeps;
}

/**
 * A plan that needs image work while this worker's source slots are all taken parks the job, still at
 * the plan step, until about when a slot should be free for it (see createImageSlots), and gives its
 * worker slot back: jobs waiting to decode must not hold the slots that other jobs need to submit and
 * finalize (with 50 slots all waiting on two decoders, finished generations could not be finalized
 * until the whole backlog was decoded).
 */
async function planOrPark(
  job: Job<OutpaintJobData>,
  token: string | undefined,
  data: OutpaintJob,
  state: StepState,
  deps: OutpaintDeps,
): Promise<StepState> {
  try {
    return await planOrFail(job.id!, data, state, deps);
  } catch (error) {
    if (!(error instanceof ImageWorkBusyError)) throw error;
    await job.moveToDelayed(deps.now() + error.retryInMs, token);
    throw new DelayedError();
  }
}

async function planOrFail(
  jobId: string,
  data: OutpaintJob,
  state: StepState,
  deps: OutpaintDeps,
): Promise<StepState> {
  try {
    return await withSpan(SPANS.plan, { [ATTRIBUTES.jobId]: jobId }, () =>
      planStep(jobId, data, state, deps),
    );
  } catch (error) {
    if (!(error instanceof PlanError)) throw error;
    return await failJob(
      jobId,
      data,
      { code: error.code, message: error.message, disposition: "terminal" },
      deps,
      state.enqueuedAt,
    );
  }
}

function unconfirmed(state: StepState): TaskState[] {
  return state.tasks.filter((task) => !task.confirmed);
}

/**
 * Park first, then POST (design.md): the state is saved, the tasks registered for the reconciler and
 * the job moved to delayed before the request leaves, so an immediate webhook finds the job delayed.
 */
async function parkAndSubmit(context: StepContext, toSend: TaskState[]): Promise<never> {
  const { job, token, data, deps } = context;
  const jobId = job.id!;
  const now = deps.now();
  if (!(await withinSpendCeiling(context, toSend))) {
    // Not sent, nothing lost: the job waits parked, as for an account pause, and plans again.
    await job.moveToDelayed(now + deps.settings.recheckMs, token);
    throw new DelayedError();
  }
  const sending = new Set(toSend.map((task) => task.taskUUID));
  const tasks = context.state.tasks.map((task) =>
    sending.has(task.taskUUID)
      ? { ...task, submitAttempts: task.submitAttempts + 1, submittedAt: task.submittedAt ?? now }
      : task,
  );
  const exhausted = tasks.find(
    (task) => sending.has(task.taskUUID) && task.submitAttempts > deps.settings.maxSubmitAttempts,
  );
  if (exhausted) {
    await failJob(
      jobId,
      data,
      {
        code: "submitAttemptsExhausted",
        message: `the provider did not accept task ${exhausted.taskUUID} after ${deps.settings.maxSubmitAttempts} attempts`,
        disposition: "retryable",
      },
      deps,
      context.state.enqueuedAt,
    );
  }
  const parked: StepState = {
    ...context.state,
    step: "await",
    tasks,
    submittedAt: context.state.submittedAt ?? now,
  };
  const outgoing = tasks.filter((task) => sending.has(task.taskUUID));
  // Before the presigned URLs exist: the provider's writes are recorded before they can happen.
  await deps.written.record(
    data.output.bucket,
    outgoing.map((task) => task.key),
  );
  const providerTasks = await Promise.all(
    outgoing.map((task) => buildProviderTask(data, parked.plan!, task, deps)),
  );
  await job.updateData({ ...data, state: parked });
  await deps.taskStore.registerTasks(
    outgoing.map((task) => ({
      taskUUID: task.taskUUID,
      jobId,
      deadline: task.deadline,
      nextCheckAt: now + deps.settings.firstPollMs,
    })),
  );
  await job.moveToDelayed(now + deps.settings.recheckMs, token);
  const sent = await sendTasks(jobId, parked, outgoing, providerTasks, deps);
  if (sent.state.tasks.some((task, index) => task.confirmed !== parked.tasks[index]?.confirmed)) {
    await job.updateData({ ...data, state: sent.state });
  }
  if (sent.pause) await pauseForAccount(sent.pause.code, sent.pause.message, deps);
  if (sent.retryAt !== undefined) await job.changeDelay(Math.max(0, sent.retryAt - deps.now()));
  // An outcome may already be stored: the answer itself ended a task (a sync result, a validation
  // error), or a webhook came while this job was not delayed and its promote found nothing to wake.
  else if (sent.storedOutcome || (await hasStoredOutcome(sent.state, deps)))
    await job.promote().catch(() => undefined);
  throw new DelayedError();
}

async function hasStoredOutcome(state: StepState, deps: OutpaintDeps): Promise<boolean> {
  const outcomes = await deps.taskStore.getOutcomes(state.tasks.map((task) => task.taskUUID));
  return outcomes.size > 0;
}

/** Returns only to finalize (with the outcomes it read); every other way out throws. */
async function awaitStep(
  context: StepContext,
): Promise<{ outcomes: ReadonlyMap<string, TaskOutcomeRecord> }> {
  const { job, token, data, state, deps } = context;
  const now = deps.now();
  const uuids = state.tasks.map((task) => task.taskUUID);
  // A task never sent (a fresh plan: no submittedAt, which the park saves before the POST) cannot
  // have an outcome, so a new job skips the read.
  const neverSent = state.tasks.every((task) => task.submittedAt === undefined);
  let outcomes: ReadonlyMap<string, TaskOutcomeRecord> = neverSent
    ? new Map()
    : await deps.taskStore.getOutcomes(uuids);
  let decision: AwaitDecision = decideAwait(state, outcomes, now, deps.settings.maxGenerations);
  if (decision.kind === "wait") {
    // Woken with nothing stored: the delay ran out. Ask the provider once before parking again.
    outcomes = await pollTasksOnce(decision.missing, outcomes, deps);
    decision = decideAwait(state, outcomes, now, deps.settings.maxGenerations);
  }
  switch (decision.kind) {
    case "finalize":
      return { outcomes };
    case "fail":
      return await failJob(job.id!, data, decision.reason, deps, state.enqueuedAt);
    case "pause":
      await pauseForAccount(decision.code, decision.message, deps);
      await job.moveToDelayed(now + deps.settings.recheckMs, token);
      throw new DelayedError();
    case "resubmit": {
      const next = nextGenerations(job.id!, state, decision.variants, now, data.options.deadlineSeconds);
      deps.logger.warn(
        { jobId: job.id, variants: decision.variants, reasons: decision.reasons },
        "resubmitting as the next generation",
      );
      return await parkAndSubmit({ ...context, state: next }, unconfirmed(next));
    }
    case "submit":
      return await parkAndSubmit(context, unconfirmed(state));
    case "wait": {
      const earliestDeadline = Math.min(...decision.missing.map((task) => task.deadline));
      await job.moveToDelayed(Math.min(earliestDeadline, now + deps.settings.recheckMs), token);
      throw new DelayedError();
    }
    default:
      throw new Error(`unknown decision ${JSON.stringify(decision satisfies never)}`);
  }
}

function nextGenerations(
  jobId: string,
  state: StepState,
  variants: number[],
  now: number,
  deadlineSeconds: number,
): StepState {
  const redo = new Set(variants);
  const tasks = state.tasks.map((task) => {
    if (!redo.has(task.variant)) return task;
    const generation = task.generation + 1;
    return {
      ...task,
      generation,
      taskUUID: taskUUIDFor(jobId, task.variant, generation),
      confirmed: false,
      submitAttempts: 0,
      submittedAt: undefined,
      deadline: now + deadlineSeconds * 1000,
    };
  });
  return { ...state, step: "submit", tasks };
}

/** Terminal: the failure is recorded first (event and batch; both idempotent), then the job fails. */
async function failJob(
  jobId: string,
  data: OutpaintJob,
  reason: FailureReason,
  deps: OutpaintDeps,
  enqueuedAt: number,
): Promise<never> {
  await recordFailure(jobId, data, reason, deps, enqueuedAt);
  deps.logger.warn({ jobId, code: reason.code }, `outpaint job failed: ${reason.message}`);
  // The code travels with the error to the `failed` listener (metrics by reason).
  throw Object.assign(new UnrecoverableError(`${reason.code}: ${reason.message}`), { code: reason.code });
}

/**
 * Counts the tasks' planned cost against SPEND_LIMIT_USD_PER_DAY (shared by every worker) before
 * they are sent. Past the ceiling the queue pauses with an alert, as for exhausted credits: nothing
 * fails, and the workers resume it when the UTC day ends or the ceiling is raised (see
 * spend-watch.ts), or an operator does with `reframe queue resume` once either holds.
 */
async function withinSpendCeiling(context: StepContext, toSend: TaskState[]): Promise<boolean> {
  const { deps, state } = context;
  if (!deps.spendCeiling) return true;
  const { ledger, limitUsd } = deps.spendCeiling;
  const perTask = (state.plan?.costUsd ?? 0) / Math.max(1, state.tasks.length);
  const now = deps.now();
  const reservation = await ledger.reserve(
    toSend.map((task) => ({ id: task.taskUUID, costUsd: perTask })),
    limitUsd,
    now,
  );
  if (reservation.ok) return true;
  const message = `today's planned spend ($${reservation.spentUsd.toFixed(2)}, UTC day ${reservation.day}) would pass SPEND_LIMIT_USD_PER_DAY ($${limitUsd.toFixed(2)}); it resumes at 00:00 UTC or when the limit is raised`;
  if (await pauseQueueFor(deps.outpaintQueue, { code: "spendLimit", message, pausedAt: now })) {
    await ledger.recordPause({ day: reservation.day, spentUsd: reservation.spentUsd, limitUsd, at: now });
    const alert = spendCeilingAlert({
      ceiling: "SPEND_LIMIT_USD_PER_DAY",
      period: `UTC day ${reservation.day}`,
      spentUsd: reservation.spentUsd,
      limitUsd,
    });
    if (deps.alerts) await publishAlert(deps.alerts, alert);
    else deps.logger.error({ alert: alert.kind, spentUsd: reservation.spentUsd, limitUsd }, alert.message);
  }
  return false;
}

/**
 * Out of credits or a refused API key: every job would fail the same way, so the queue pauses and an
 * operator is alerted instead. Jobs stay parked and carry on after `reframe queue resume`.
 */
async function pauseForAccount(code: string, message: string, deps: OutpaintDeps): Promise<void> {
  // An account pause is an operator's to lift: a spend pause recorded earlier must not lift it.
  await deps.spendCeiling?.ledger.clearPause();
  const pausedAt = deps.now();
  if (!(await pauseQueueFor(deps.outpaintQueue, { code, message, pausedAt }))) return;
  const alert = queuePausedAlert({ queue: OUTPAINT_QUEUE, code, message, pausedAt });
  if (deps.alerts) await publishAlert(deps.alerts, alert);
  else deps.logger.error({ alert: alert.kind, code }, alert.message);
}
