import {
  type FailureReason,
  initialState,
  OUTPAINT_QUEUE,
  type OutpaintJob,
  type OutpaintResult,
  parseOutpaintJobData,
  pauseQueueFor,
  publishAlert,
  queuePausedAlert,
  type StepState,
  spendCeilingAlert,
  type TaskOutcomeRecord,
  type TaskState,
} from "@reframe/jobs";
import { s3OutageNow, s3OutageOf } from "@reframe/storage";
import { ATTRIBUTES, SPANS, withSpan } from "@reframe/telemetry";
import { DelayedError, type Job, UnrecoverableError } from "bullmq";
import { finalizeStep, recordFailure } from "./finalize-step.ts";
import { ImageWorkBusyError, PlanError, planStep } from "./plan-step.ts";
import { pollTasksOnce } from "./poll-once.ts";
import type { ServiceBreaker } from "./service-breaker.ts";
import { type Effect, type MachineSettings, type StepEvent, transition } from "./step-machine.ts";
import { buildProviderTask, sendTasks } from "./submit-step.ts";
import type { OutpaintDeps } from "./worker-deps.ts";

/**
 * The BullMQ processor of the outpaint queue: one pass of the step machine (step-machine.ts) over
 * `job.data` as parsed by the saved job's schema (packages/jobs job-data.ts). The machine decides;
 * this runs its effects and feeds back what they found. It returns the result when the job is done,
 * throws DelayedError when the job parked itself, and throws UnrecoverableError for terminal failures
 * (after emitting the failure event).
 */
export function createOutpaintProcessor(deps: OutpaintDeps) {
  return async function processOutpaint(job: Job, token?: string): Promise<OutpaintResult> {
    const { job: data, state: saved } = parseOutpaintJobData(job.data);
    const context: StepContext = { job, token, data, deps };
    const settings: MachineSettings = {
      maxGenerations: deps.settings.maxGenerations,
      maxOutageGenerations: deps.settings.maxOutageGenerations,
      maxSubmitAttempts: deps.settings.maxSubmitAttempts,
      recheckMs: deps.settings.recheckMs,
      taskDeadlineMs: data.options.deadlineSeconds * 1000,
    };
    let state: StepState = saved ?? initialState(job.timestamp);
    let event: StepEvent =
      state.step === "plan"
        ? (storageBreakerOpen(deps) ??
          (await storageOutageOr(() => planOrPark(job, token, data, state, deps))))
        : await wokeEvent(state, deps);
    // Each transition either ends the pass (an effect returns or throws) or yields the next event.
    for (;;) {
      const known = event.kind === "woke" ? event.outcomes : new Map<string, TaskOutcomeRecord>();
      const next = transition(job.id!, state, event, deps.now(), settings);
      if (next.effects.some((effect) => effect.kind === "park" && effect.waitingFor === "s3"))
        deps.metrics?.storageWait(state.step);
      state = next.state;
      let following: StepEvent | undefined;
      for (const effect of next.effects) {
        const ran = await runEffect(context, state, effect, known);
        if (ran?.kind === "result") return ran.result;
        if (ran?.kind === "event") following = ran.event;
      }
      event = following ?? (await wokeEvent(state, deps));
    }
  };
}

/** The job runs: the outcomes stored for its tasks. A task never sent cannot have one: no read. */
async function wokeEvent(state: StepState, deps: OutpaintDeps): Promise<StepEvent> {
  const neverSent = state.tasks.every((task) => task.submittedAt === undefined);
  const outcomes = neverSent
    ? new Map<string, TaskOutcomeRecord>()
    : await deps.taskStore.getOutcomes(state.tasks.map((task) => task.taskUUID));
  return withOutage({ kind: "woke", outcomes, polled: false }, deps);
}

/**
 * A `woke` event carries the state of the provider's breaker and of S3's: while either is open,
 * nothing is sent to the provider.
 */
function withOutage(event: Extract<StepEvent, { kind: "woke" }>, deps: OutpaintDeps): StepEvent {
  const provider = deps.breaker?.openState();
  const storage = deps.storageBreaker?.openState();
  const resumeAt = (breaker: Pick<ServiceBreaker, "parkUntil">) =>
    breaker.parkUntil(deps.now(), Number.POSITIVE_INFINITY);
  return {
    ...event,
    ...(provider ? { outage: { openedAt: provider.openedAt, resumeAt: resumeAt(deps.breaker!) } } : {}),
    ...(storage
      ? {
          storageBreaker: {
            openedAt: storage.openedAt,
            resumeAt: resumeAt(deps.storageBreaker!),
            problem: storage.problem,
          },
        }
      : {}),
  };
}

/**
 * S3's breaker is open (storage-breaker.ts): a step that needs S3 asks it nothing and the job waits
 * until just after the next probe, as the machine's `storageUnreachable` event.
 */
function storageBreakerOpen(deps: OutpaintDeps): StepEvent | undefined {
  const open = deps.storageBreaker?.openState();
  if (!open) return undefined;
  const resumeAt = deps.storageBreaker!.parkUntil(deps.now(), Number.POSITIVE_INFINITY);
  return { kind: "storageUnreachable", problem: open.problem, resumeAt };
}

/**
 * A step's S3 request that could not reach S3 (packages/storage `s3OutageOf`) is the machine's
 * `storageUnreachable` event: the job waits. Any other failure is thrown as before.
 */
async function storageOutageOr(step: () => Promise<StepEvent>): Promise<StepEvent> {
  try {
    return await step();
  } catch (error) {
    return storageUnreachable(error);
  }
}

function storageUnreachable(error: unknown): StepEvent {
  const problem = s3OutageOf(error);
  if (problem === undefined) throw error;
  return { kind: "storageUnreachable", problem };
}

type EffectRun = { kind: "result"; result: OutpaintResult } | { kind: "event"; event: StepEvent } | undefined;

async function runEffect(
  context: StepContext,
  state: StepState,
  effect: Effect,
  known: ReadonlyMap<string, TaskOutcomeRecord>,
): Promise<EffectRun> {
  const { job, token, data, deps } = context;
  const jobId = job.id!;
  switch (effect.kind) {
    case "save":
      await job.updateData({ ...data, state });
      return undefined;
    case "poll":
      return {
        kind: "event",
        event: withOutage(
          { kind: "woke", outcomes: await pollTasksOnce(jobId, effect.tasks, known, deps), polled: true },
          deps,
        ),
      };
    case "park":
      await job.moveToDelayed(effect.until, token);
      throw new DelayedError();
    case "send":
      return { kind: "event", event: await parkAndSend(context, state, effect.tasks, effect.until) };
    case "delay":
      await job.changeDelay(Math.max(0, effect.until - deps.now()));
      return undefined;
    case "promote":
      if (!effect.onlyIfStored || (await hasStoredOutcome(state, deps)))
        await job.promote().catch(() => undefined);
      return undefined;
    case "pause":
      await pauseForAccount(effect.code, effect.message, deps);
      return undefined;
    case "leave":
      throw new DelayedError();
    case "finalize": {
      const waiting = storageBreakerOpen(deps);
      if (waiting) return { kind: "event", event: waiting };
      try {
        return { kind: "result", result: await finalizeStep(jobId, data, state, deps, effect.outcomes) };
      } catch (error) {
        return { kind: "event", event: storageUnreachable(error) };
      }
    }
    case "checkStorage": {
      const waiting = storageBreakerOpen(deps);
      if (waiting) return { kind: "event", event: waiting };
      const problem = await s3OutageNow(deps.s3, data.output.bucket);
      return {
        kind: "event",
        event:
          problem === undefined
            ? withOutage({ kind: "woke", outcomes: known, polled: false, storageChecked: true }, deps)
            : { kind: "storageUnreachable", problem },
      };
    }
    case "fail":
      return await failJob(jobId, data, effect.reason, deps, state.enqueuedAt);
    default:
      throw new Error(`unknown effect ${JSON.stringify(effect satisfies never)}`);
  }
}

interface StepContext {
  job: Job;
  token: string | undefined;
  data: OutpaintJob;
  deps: OutpaintDeps;
}

/**
 * A plan that needs image work while this worker's source slots and its line for them are all taken
 * parks the job, still at the plan step, until the line has room for it (see createImageSlots), and
 * gives its worker slot back: jobs waiting to decode must not hold the slots that other jobs need to submit and
 * finalize (with 50 slots all waiting on two decoders, finished generations could not be finalized
 * until the whole backlog was decoded).
 */
async function planOrPark(
  job: Job,
  token: string | undefined,
  data: OutpaintJob,
  state: StepState,
  deps: OutpaintDeps,
): Promise<StepEvent> {
  try {
    return await planOrFail(job.id!, data, state, deps);
  } catch (error) {
    if (!(error instanceof ImageWorkBusyError)) throw error;
    await job.moveToDelayed(deps.now() + error.retryInMs, token);
    // Back as soon as this process has room for it: promoted out of the delayed set. A job no longer
    // delayed (its time came first, or it was removed) cannot be promoted, and needs not be.
    deps.imageSlots.whenRoom(job.id!, () => {
      job.promote().catch(() => undefined);
    });
    throw new DelayedError();
  }
}

async function planOrFail(
  jobId: string,
  data: OutpaintJob,
  state: StepState,
  deps: OutpaintDeps,
): Promise<StepEvent> {
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

/**
 * Park first, then POST (the machine's `send`): the state is saved, the tasks registered for the
 * reconciler and the job moved to delayed before the request leaves, so an immediate webhook finds
 * the job delayed. Over the spend ceiling nothing is sent and nothing lost: the job waits parked, as
 * for an account pause, and decides again when it wakes.
 */
async function parkAndSend(
  context: StepContext,
  parked: StepState,
  outgoing: TaskState[],
  until: number,
): Promise<StepEvent> {
  const { job, token, data, deps } = context;
  const now = deps.now();
  if (!(await withinSpendCeiling(deps, parked, outgoing))) {
    await job.moveToDelayed(now + deps.settings.recheckMs, token);
    throw new DelayedError();
  }
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
      jobId: job.id!,
      deadline: task.deadline,
      nextCheckAt: now + deps.settings.firstPollMs,
    })),
  );
  await job.moveToDelayed(until, token);
  return await sendTasks(job.id!, outgoing, providerTasks, deps, data.output.bucket);
}

async function hasStoredOutcome(state: StepState, deps: OutpaintDeps): Promise<boolean> {
  const outcomes = await deps.taskStore.getOutcomes(state.tasks.map((task) => task.taskUUID));
  return outcomes.size > 0;
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
async function withinSpendCeiling(
  deps: OutpaintDeps,
  state: StepState,
  toSend: TaskState[],
): Promise<boolean> {
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
