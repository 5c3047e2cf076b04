import type { JobPlan, StepState, TaskOutcomeRecord, TaskState } from "@reframe/jobs";
import fc from "fast-check";
import { describe, expect, it } from "vitest";
import {
  type Effect,
  type MachineSettings,
  STORAGE_WAIT,
  type StepEvent,
  storageWaitMs,
  transition,
} from "./step-machine.ts";
import { taskUUIDFor } from "./task-uuid.ts";

const JOB = "op-machine";
const NOW = 1_800_000_000_000;
const SETTINGS: MachineSettings = {
  maxGenerations: 3,
  maxOutageGenerations: 2,
  maxSubmitAttempts: 5,
  recheckMs: 30_000,
  taskDeadlineMs: 600_000,
};

function task(variant: number, overrides: Partial<TaskState> = {}): TaskState {
  const generation = overrides.generation ?? 0;
  return {
    variant,
    generation,
    taskUUID: taskUUIDFor(JOB, variant, generation),
    key: `out/a-v${variant + 1}.png`,
    confirmed: true,
    submitAttempts: 1,
    submittedAt: NOW - 5_000,
    deadline: NOW + 60_000,
    ...overrides,
  };
}

function state(step: StepState["step"], tasks: TaskState[], extra: Partial<StepState> = {}): StepState {
  return { step, tasks, enqueuedAt: NOW - 10_000, submittedAt: NOW - 5_000, ...extra };
}

const success = (): TaskOutcomeRecord => ({
  kind: "success",
  result: { imageUUID: "img" },
  receivedAt: NOW,
  via: "webhook",
});
const error = (code: string): TaskOutcomeRecord => ({
  kind: "error",
  error: { code, message: code },
  receivedAt: NOW,
  via: "poll",
});
const lost = (code = "taskNotFound"): TaskOutcomeRecord => ({
  kind: "resubmit",
  code,
  receivedAt: NOW,
  via: "poll",
});

const PLAN: JobPlan = {
  margins: { top: 420, right: 0, bottom: 420, left: 0 },
  output: { width: 1080, height: 1920 },
  scaledSource: { width: 1080, height: 1080 },
  sourceScale: 1,
  generatedShare: 0.4375,
  costUsd: 0.2,
  exactSizeMet: true,
  requested: null,
  notes: [],
  sourceRef: { kind: "s3", bucket: "in", key: "a.png" },
  targetLabel: "1080x1920",
  contentType: "image/png",
};
const unsent = (variant: number, generation = 0) =>
  task(variant, { generation, confirmed: false, submitAttempts: 0, submittedAt: undefined });
const planned = (tasks: TaskState[], copied = false): StepEvent => ({
  kind: "planned",
  plan: PLAN,
  tasks,
  copied,
});

const woke = (outcomes: [string, TaskOutcomeRecord][] = [], polled = false): StepEvent => ({
  kind: "woke",
  outcomes: new Map(outcomes),
  polled,
});
const run = (from: StepState, event: StepEvent, now = NOW, settings = SETTINGS) =>
  transition(JOB, from, event, now, settings);
const kinds = (effects: Effect[]) => effects.map((effect) => effect.kind);

describe("the step machine: plan", () => {
  it("a plan is saved at submit before anything is sent", () => {
    const tasks = [unsent(0), unsent(1)];
    const fresh = state("plan", [], { submittedAt: undefined });
    expect(run(fresh, planned(tasks))).toEqual({
      state: { ...fresh, step: "submit", plan: PLAN, tasks, plannedAt: NOW },
      effects: [{ kind: "save" }],
    });
  });

  it("the plan saved at submit is sent when the job goes on (in the same pass, or after a crash)", () => {
    const atSubmit = run(state("plan", [], { submittedAt: undefined }), planned([unsent(0)])).state;
    const next = run(atSubmit, woke(), NOW + 1_000);
    expect(next.state.step).toBe("await");
    expect(next.state.plan).toEqual(PLAN);
    expect(next.effects).toEqual([
      { kind: "send", tasks: next.state.tasks, until: NOW + 1_000 + SETTINGS.recheckMs },
    ]);
  });

  it("a copy is saved at finalize and finalized", () => {
    const copy = task(0, { taskUUID: `copy-${JOB}`, deadline: NOW });
    const next = run(state("plan", [], { submittedAt: undefined }), planned([copy], true));
    expect(next.state).toMatchObject({ step: "finalize", plan: PLAN, tasks: [copy], submittedAt: NOW });
    expect(kinds(next.effects)).toEqual(["save", "finalize"]);
  });

  it("a failed job planned again records the generation its new tasks start at", () => {
    const retried = state("plan", [task(0, { generation: 1 })]);
    const next = run(retried, planned([unsent(0, 2)]));
    expect(next.state.firstGeneration).toBe(2);
    expect(next.state.tasks).toEqual([unsent(0, 2)]);
  });

  it("only a job at its plan step takes a plan", () => {
    expect(() => run(state("await", [task(0)]), planned([unsent(0)]))).toThrow(/await step/);
  });
});

describe("the step machine: submit", () => {
  it("a fresh plan's tasks are sent: attempts counted, step await, parked until the recheck", () => {
    const fresh = state(
      "submit",
      [0, 1].map((v) => task(v, { confirmed: false, submitAttempts: 0, submittedAt: undefined })),
      {
        submittedAt: undefined,
      },
    );
    const next = run(fresh, woke());
    expect(next.state.step).toBe("await");
    expect(next.state.submittedAt).toBe(NOW);
    expect(next.state.tasks.map((t) => [t.submitAttempts, t.submittedAt])).toEqual([
      [1, NOW],
      [1, NOW],
    ]);
    expect(next.effects).toEqual([
      { kind: "send", tasks: next.state.tasks, until: NOW + SETTINGS.recheckMs },
    ]);
  });

  it("sends only the tasks the provider never acknowledged, with the same taskUUID", () => {
    const parked = state("await", [task(0), task(1, { confirmed: false })]);
    const next = run(parked, woke([[task(0).taskUUID, success()]]));
    const send = next.effects[0];
    expect(send?.kind === "send" && send.tasks.map((t) => [t.taskUUID, t.submitAttempts])).toEqual([
      [task(1).taskUUID, 2],
    ]);
    expect(next.state.tasks[0]).toEqual(task(0));
  });

  it("fails the job (retryable) once a task's submit attempts are exhausted, sending nothing", () => {
    const parked = state("await", [
      task(0, { confirmed: false, submitAttempts: SETTINGS.maxSubmitAttempts }),
    ]);
    const next = run(parked, woke());
    expect(next.effects).toEqual([
      {
        kind: "fail",
        reason: expect.objectContaining({ code: "submitAttemptsExhausted", disposition: "retryable" }),
      },
    ]);
  });
});

describe("the step machine: await", () => {
  it("finalizes (without saving) when every task succeeded, handing over the outcomes read", () => {
    const parked = state("await", [task(0), task(1)]);
    const event = woke([
      [task(0).taskUUID, success()],
      [task(1).taskUUID, success()],
    ]);
    const next = run(parked, event);
    expect(next.state.step).toBe("finalize");
    expect(next.effects).toEqual([
      { kind: "finalize", outcomes: event.kind === "woke" ? event.outcomes : undefined },
    ]);
  });

  it("fails on a terminal error even when another variant succeeded", () => {
    const next = run(
      state("await", [task(0), task(1)]),
      woke([
        [task(0).taskUUID, success()],
        [task(1).taskUUID, error("contentPolicyViolation")],
      ]),
    );
    expect(next.effects).toEqual([
      {
        kind: "fail",
        reason: {
          code: "contentPolicyViolation",
          message: "contentPolicyViolation",
          disposition: "terminal",
        },
      },
    ]);
  });

  it("with nothing stored asks the provider once, then parks until the recheck or the earliest deadline", () => {
    const parked = state("await", [task(0, { deadline: NOW + 10_000 }), task(1)]);
    const first = run(parked, woke());
    expect(kinds(first.effects)).toEqual(["poll"]);
    expect(run(parked, woke([], true)).effects).toEqual([{ kind: "park", until: NOW + 10_000 }]);
    const later = state("await", [task(0, { deadline: NOW + 3_600_000 })]);
    expect(run(later, woke([], true)).effects).toEqual([{ kind: "park", until: NOW + SETTINGS.recheckMs }]);
  });

  for (const [answer, outcome] of [
    ["a failed generation (inferenceError)", error("inferenceError")],
    ["a success without an image", error("resultWithoutImage")],
    ["a lost task (taskNotFound)", lost()],
    ["an expired task", lost("taskExpired")],
    ["an account refusal stored by an older version", error("insufficientCredits")],
  ] as const) {
    it(`redoes ${answer} as the next generation: new taskUUID, new deadline, sent at once`, () => {
      const parked = state("await", [task(0), task(1)]);
      // A stored "not found" of an acknowledged task is redone once the job's own poll confirmed it.
      const next = run(
        parked,
        woke(
          [
            [task(0).taskUUID, success()],
            [task(1).taskUUID, outcome],
          ],
          outcome.kind === "resubmit",
        ),
      );
      const redone = next.state.tasks[1]!;
      expect(redone).toMatchObject({
        variant: 1,
        generation: 1,
        taskUUID: taskUUIDFor(JOB, 1, 1),
        confirmed: false,
        submitAttempts: 1,
        submittedAt: NOW,
        deadline: NOW + SETTINGS.taskDeadlineMs,
      });
      expect(next.state.tasks[0]).toEqual(task(0));
      expect(next.effects).toEqual([{ kind: "send", tasks: [redone], until: NOW + SETTINGS.recheckMs }]);
    });
  }

  it("redoes a task past its deadline with no outcome, acknowledged or not", () => {
    for (const confirmed of [true, false]) {
      const next = run(state("await", [task(0, { confirmed, deadline: NOW - 1 })]), woke([], true));
      expect(next.state.tasks[0]).toMatchObject({ generation: 1, deadline: NOW + SETTINGS.taskDeadlineMs });
      expect(kinds(next.effects)).toEqual(["send"]);
    }
  });

  it("asks the provider once about an acknowledged task past its deadline before redoing it or failing for it", () => {
    const late = task(0, { deadline: NOW - 1 });
    const parked = state("await", [late, task(1)]);
    expect(run(parked, woke()).effects).toEqual([{ kind: "poll", tasks: [late] }]);
    // Found finished: nothing is redone, and the job waits for its other task.
    const found = run(parked, woke([[late.taskUUID, success()]], true));
    expect(found.state.tasks).toEqual(parked.tasks);
    expect(kinds(found.effects)).toEqual(["park"]);
    const last = task(0, { generation: 2, deadline: NOW - 1 });
    expect(run(state("await", [last]), woke()).effects).toEqual([{ kind: "poll", tasks: [last] }]);
    expect(run(state("await", [last]), woke([], true)).effects).toEqual([
      { kind: "fail", reason: expect.objectContaining({ code: "taskDeadlineExceeded" }) },
    ]);
  });

  it("asks the provider once about an acknowledged task stored as not found before redoing it or failing for it", () => {
    // The reconciler's poll reached the provider before the submit it then accepted: the not-found is
    // stale, and redoing the task would pay for a second generation.
    const overtaken = task(1);
    const parked = state("await", [task(0), overtaken]);
    const stored = woke([
      [task(0).taskUUID, success()],
      [overtaken.taskUUID, lost()],
    ]);
    expect(run(parked, stored).effects).toEqual([{ kind: "poll", tasks: [overtaken] }]);
    // The provider has it (the poll dropped the stale not-found): nothing is redone, the job waits.
    const known = run(parked, woke([[task(0).taskUUID, success()]], true));
    expect(known.state).toEqual(parked);
    expect(kinds(known.effects)).toEqual(["park"]);
    // At the variant's last generation the same question comes before the job fails.
    const last = task(0, { generation: 2 });
    expect(run(state("await", [last]), woke([[last.taskUUID, lost()]])).effects).toEqual([
      { kind: "poll", tasks: [last] },
    ]);
    expect(run(state("await", [last]), woke([[last.taskUUID, lost()]], true)).effects).toEqual([
      { kind: "fail", reason: expect.objectContaining({ code: "taskNotFound" }) },
    ]);
  });

  it("redoes at once, without asking, a task never acknowledged, or one past its deadline after a storage check", () => {
    const unsent = run(state("await", [task(0, { confirmed: false, deadline: NOW - 1 })]), woke());
    expect(kinds(unsent.effects)).toEqual(["send"]);
    const checked = run(state("await", [task(0, { deadline: NOW - 1 })]), {
      kind: "woke",
      outcomes: new Map(),
      polled: false,
      storageChecked: true,
    });
    expect(kinds(checked.effects)).toEqual(["send"]);
  });

  it("sends again, same taskUUID, a task never acknowledged that the provider does not know, before its deadline", () => {
    const next = run(state("await", [task(0, { confirmed: false })]), woke([[task(0).taskUUID, lost()]]));
    expect(next.state.tasks[0]).toMatchObject({
      generation: 0,
      taskUUID: task(0).taskUUID,
      submitAttempts: 2,
    });
    expect(kinds(next.effects)).toEqual(["send"]);
  });

  it("fails the job once a variant has used its generations, counted from the plan's first", () => {
    const last = task(0, { generation: 2 });
    expect(run(state("await", [last]), woke([[last.taskUUID, error("inferenceError")]])).effects).toEqual([
      { kind: "fail", reason: expect.objectContaining({ code: "inferenceError", disposition: "retryable" }) },
    ]);
    const retried = state("await", [last], { firstGeneration: 2 });
    expect(kinds(run(retried, woke([[last.taskUUID, error("inferenceError")]])).effects)).toEqual(["send"]);
  });

  it("never redoes a variant beyond its generations nor sends past the attempts, for any outcomes (property)", () => {
    const outcomeOf = fc.constantFrom<TaskOutcomeRecord | undefined>(
      undefined,
      success(),
      error("uploadFailed"),
      error("timeoutProvider"),
      lost(),
      error("invalidPrompt"),
    );
    fc.assert(
      fc.property(
        fc.array(
          fc.record({
            generation: fc.integer({ min: 0, max: SETTINGS.maxGenerations - 1 }),
            attempts: fc.integer({ min: 0, max: 7 }),
            confirmed: fc.boolean(),
            late: fc.boolean(),
            outcome: outcomeOf,
          }),
          { minLength: 1, maxLength: 4 },
        ),
        (variants) => {
          const tasks = variants.map((v, index) =>
            task(index, {
              generation: v.generation,
              submitAttempts: v.attempts,
              confirmed: v.confirmed,
              deadline: v.late ? NOW - 1 : NOW + 60_000,
            }),
          );
          const outcomes = variants.flatMap((v, index): [string, TaskOutcomeRecord][] =>
            v.outcome ? [[tasks[index]!.taskUUID, v.outcome]] : [],
          );
          const next = run(state("await", tasks), woke(outcomes, true));
          for (const effect of next.effects) {
            if (effect.kind !== "send") continue;
            for (const sent of effect.tasks) {
              expect(sent.generation).toBeLessThan(SETTINGS.maxGenerations);
              expect(sent.submitAttempts).toBeLessThanOrEqual(SETTINGS.maxSubmitAttempts);
            }
          }
          expect(next.effects.length).toBeGreaterThan(0);
        },
      ),
      { numRuns: 300 },
    );
  });
});

describe("the step machine: after the POST", () => {
  const parked = state("await", [task(0, { confirmed: false }), task(1, { confirmed: false })]);

  it("saves what the provider acknowledged, and wakes the job if an outcome may be stored", () => {
    const next = run(parked, {
      kind: "sent",
      outage: [],
      confirmed: [task(0).taskUUID],
      storedOutcome: false,
    });
    expect(next.state.tasks.map((t) => t.confirmed)).toEqual([true, false]);
    expect(next.effects).toEqual([
      { kind: "save" },
      { kind: "promote", onlyIfStored: true },
      { kind: "leave" },
    ]);
  });

  it("wakes the job at once when the answer itself stored an outcome; saves nothing when nothing changed", () => {
    const next = run(parked, { kind: "sent", outage: [], confirmed: [], storedOutcome: true });
    expect(next.effects).toEqual([{ kind: "promote", onlyIfStored: false }, { kind: "leave" }]);
  });

  it("a refusal for now moves the wake-up to the backoff instead", () => {
    const next = run(parked, {
      kind: "sent",
      outage: [],
      confirmed: [],
      storedOutcome: false,
      retryAt: NOW + 4_000,
    });
    expect(next.effects).toEqual([{ kind: "delay", until: NOW + 4_000 }, { kind: "leave" }]);
  });

  it("an account refusal pauses the queue and leaves the job parked", () => {
    const pause = { code: "insufficientCredits", message: "top up" };
    const next = run(parked, { kind: "sent", outage: [], confirmed: [], storedOutcome: false, pause });
    expect(next.effects).toEqual([
      { kind: "pause", ...pause },
      { kind: "promote", onlyIfStored: true },
      { kind: "leave" },
    ]);
  });
});

describe("the step machine: finalize", () => {
  it("a job saved at finalize (a copy, a crash after) finalizes again, reading the outcomes itself", () => {
    const saved = state("finalize", [task(0)]);
    expect(run(saved, woke())).toEqual({ state: saved, effects: [{ kind: "finalize" }] });
  });
});

const outage = { openedAt: NOW - 90_000, resumeAt: NOW + 4_000 };
const s3Open = { openedAt: NOW - 90_000, resumeAt: NOW + 7_000, problem: "connection refused" };

describe("the step machine: a provider outage (the breaker is open)", () => {
  const wokeInOutage = (outcomes: [string, TaskOutcomeRecord][] = []): StepEvent => ({
    kind: "woke",
    outcomes: new Map(outcomes),
    polled: true,
    outage,
  });

  it("a job that would send parks until just after the next probe, spending no attempt", () => {
    const fresh = state("submit", [task(0, { confirmed: false, submitAttempts: 0, submittedAt: undefined })]);
    const next = run(fresh, wokeInOutage());
    expect(next.state).toBe(fresh);
    expect(next.effects).toEqual([{ kind: "park", until: outage.resumeAt, waitingFor: "provider" }]);
  });

  it("a variant whose upload failed parks on the provider's breaker without asking S3, and asks S3 once it could send", () => {
    const failed = state("await", [task(0)]);
    const outcomes: [string, TaskOutcomeRecord][] = [[failed.tasks[0]!.taskUUID, error("uploadFailed")]];
    for (const storageBreaker of [undefined, s3Open]) {
      const next = run(failed, { ...wokeInOutage(outcomes), ...(storageBreaker ? { storageBreaker } : {}) });
      expect(next.state).toBe(failed);
      expect(next.effects).toEqual([{ kind: "park", until: outage.resumeAt, waitingFor: "provider" }]);
    }
    expect(run(failed, woke(outcomes, true)).effects).toEqual([{ kind: "checkStorage" }]);
  });

  it("a variant to redo keeps its generation while the provider is down", () => {
    const errored = state("await", [task(0)]);
    const next = run(errored, wokeInOutage([[errored.tasks[0]!.taskUUID, lost()]]));
    expect(next.state.tasks[0]!.generation).toBe(0);
    expect(kinds(next.effects)).toEqual(["park"]);
  });

  it("parks no later than the tasks' deadline, and fails providerUnavailable once it passed", () => {
    const soon = state("submit", [task(0, { confirmed: false, submitAttempts: 0, deadline: NOW + 1_000 })]);
    expect(run(soon, wokeInOutage()).effects).toEqual([
      { kind: "park", until: NOW + 1_000, waitingFor: "provider" },
    ]);
    const late = run(soon, wokeInOutage(), NOW + 1_000);
    expect(late.effects).toEqual([
      {
        kind: "fail",
        reason: expect.objectContaining({
          code: "providerUnavailable",
          disposition: "retryable",
          message: expect.stringMatching(
            /^the provider has been unavailable for 91 s \(since .+\) and the job's deadline \(deadlineSeconds 600\) passed while it waited$/,
          ),
        }),
      },
    ]);
  });

  it("a job already waiting on its tasks is not affected: finalize still finalizes", () => {
    const waiting = state("await", [task(0)]);
    const next = run(waiting, wokeInOutage([[waiting.tasks[0]!.taskUUID, success()]]));
    expect(kinds(next.effects)).toEqual(["finalize"]);
  });

  it("an attempt whose request failed for an outage is given back and saved", () => {
    const parked = state("await", [
      task(0, { confirmed: false, submitAttempts: 3 }),
      task(1, { confirmed: false }),
    ]);
    const uuid = parked.tasks[0]!.taskUUID;
    const next = run(parked, {
      kind: "sent",
      confirmed: [],
      storedOutcome: false,
      outage: [uuid],
      retryAt: NOW + 2_000,
    });
    expect(next.state.tasks.map((t) => t.submitAttempts)).toEqual([2, 1]);
    expect(kinds(next.effects)).toEqual(["save", "delay", "leave"]);
  });

  it("property: while a breaker (the provider's, S3's, both) is open nothing is sent and nothing is spent", () => {
    fc.assert(
      fc.property(
        fc.constantFrom("provider", "s3", "both"),
        fc.array(
          fc.record({
            confirmed: fc.boolean(),
            submitAttempts: fc.integer({ min: 0, max: 4 }),
            generation: fc.integer({ min: 0, max: 2 }),
            deadlineIn: fc.integer({ min: -10_000, max: 600_000 }),
            answer: fc.constantFrom("none", "success", "lost", "error", "uploadFailed"),
          }),
          { minLength: 1, maxLength: 4 },
        ),
        (open, specs) => {
          const tasks = specs.map((spec, variant) =>
            task(variant, {
              confirmed: spec.confirmed,
              submitAttempts: spec.submitAttempts,
              generation: spec.generation,
              deadline: NOW + spec.deadlineIn,
            }),
          );
          const outcomes: [string, TaskOutcomeRecord][] = [];
          for (const [index, spec] of specs.entries()) {
            const uuid = tasks[index]!.taskUUID;
            if (spec.answer === "success") outcomes.push([uuid, success()]);
            if (spec.answer === "lost") outcomes.push([uuid, lost()]);
            if (spec.answer === "error") outcomes.push([uuid, error("invalidSeed")]);
            if (spec.answer === "uploadFailed") outcomes.push([uuid, error("uploadFailed")]);
          }
          const from = state("await", tasks);
          const next = run(from, {
            kind: "woke",
            outcomes: new Map(outcomes),
            polled: true,
            ...(open === "s3" ? {} : { outage }),
            ...(open === "provider" ? {} : { storageBreaker: s3Open }),
          });
          expect(kinds(next.effects)).not.toContain("send");
          for (const [index, after] of next.state.tasks.entries()) {
            expect(after.submitAttempts).toBe(tasks[index]!.submitAttempts);
            expect(after.generation).toBe(tasks[index]!.generation);
          }
        },
      ),
    );
  });
});

describe("the step machine: S3's breaker is open at a submit", () => {
  const wokeWhileS3Open = (
    outcomes: [string, TaskOutcomeRecord][] = [],
  ): Extract<StepEvent, { kind: "woke" }> => ({
    kind: "woke",
    outcomes: new Map(outcomes),
    polled: true,
    storageBreaker: s3Open,
  });
  const fresh = state("submit", [task(0, { confirmed: false, submitAttempts: 0, submittedAt: undefined })]);

  it("a job that would send parks until just after S3's next probe, spending no attempt", () => {
    const next = run(fresh, wokeWhileS3Open());
    expect(next.state).toBe(fresh);
    expect(next.effects).toEqual([{ kind: "park", until: s3Open.resumeAt, waitingFor: "s3" }]);
    // Once S3's breaker closed, the same job sends, its first attempt counted.
    const closed = run(fresh, woke(), NOW + 7_000);
    expect(kinds(closed.effects)).toEqual(["send"]);
    expect(closed.state.tasks[0]!.submitAttempts).toBe(1);
  });

  it("a task given back after the provider met S3's outage is not sent again while it lasts", () => {
    const givenBack = state("await", [task(0, { confirmed: false, submitAttempts: 0 })]);
    expect(run(givenBack, wokeWhileS3Open()).effects).toEqual([
      { kind: "park", until: s3Open.resumeAt, waitingFor: "s3" },
    ]);
  });

  it("a variant to redo keeps its generation; a failed upload still asks S3 first", () => {
    const errored = state("await", [task(0)]);
    const uuid = errored.tasks[0]!.taskUUID;
    const redo = run(errored, wokeWhileS3Open([[uuid, lost()]]));
    expect(redo.state.tasks[0]!.generation).toBe(0);
    expect(redo.effects).toEqual([{ kind: "park", until: s3Open.resumeAt, waitingFor: "s3" }]);
    expect(run(errored, wokeWhileS3Open([[uuid, error("uploadFailed")]])).effects).toEqual([
      { kind: "checkStorage" },
    ]);
  });

  it("parks no later than the tasks' deadline, and fails storageUnavailable once it passed", () => {
    const soon = state("submit", [task(0, { confirmed: false, submitAttempts: 0, deadline: NOW + 1_000 })]);
    expect(run(soon, wokeWhileS3Open()).effects).toEqual([
      { kind: "park", until: NOW + 1_000, waitingFor: "s3" },
    ]);
    expect(run(soon, wokeWhileS3Open(), NOW + 1_000).effects).toEqual([
      {
        kind: "fail",
        reason: {
          code: "storageUnavailable",
          disposition: "retryable",
          message: `S3 has been unavailable for 91 s (since ${new Date(s3Open.openedAt).toISOString()}; connection refused) and the job's deadline (deadlineSeconds 600) passed while it waited`,
        },
      },
    ]);
  });

  it("a job waiting on its tasks still polls, parks on its recheck and finalizes", () => {
    const waiting = state("await", [task(0)]);
    expect(run(waiting, { ...wokeWhileS3Open(), polled: false }).effects).toEqual([
      { kind: "poll", tasks: waiting.tasks },
    ]);
    expect(run(waiting, wokeWhileS3Open()).effects).toEqual([
      { kind: "park", until: NOW + SETTINGS.recheckMs },
    ]);
    const done = run(waiting, wokeWhileS3Open([[waiting.tasks[0]!.taskUUID, success()]]));
    expect(kinds(done.effects)).toEqual(["finalize"]);
  });

  it("with the provider's breaker open too, the provider's outage is the one waited on", () => {
    const both: StepEvent = { ...wokeWhileS3Open(), outage };
    expect(run(fresh, both).effects).toEqual([
      { kind: "park", until: outage.resumeAt, waitingFor: "provider" },
    ]);
  });
});

describe("the step machine: an S3 outage", () => {
  const unreachable: StepEvent = { kind: "storageUnreachable", problem: "connection refused" };
  const fixed = (random: number): MachineSettings => ({ ...SETTINGS, random: () => random });

  it("a job whose plan cannot reach S3 waits parked, saved with since when, and tries again", () => {
    const first = run(state("plan", []), unreachable, NOW, fixed(0));
    expect(first.state.storageOutage).toEqual({ since: NOW, waits: 1, problem: "connection refused" });
    expect(first.effects).toEqual([
      { kind: "save" },
      { kind: "park", until: NOW + STORAGE_WAIT.baseMs / 2, waitingFor: "s3" },
    ]);
    // The next wait is longer; since stays the first time the job found S3 out.
    const second = run(first.state, unreachable, NOW + 1_000, fixed(1));
    expect(second.state.storageOutage).toEqual({ since: NOW, waits: 2, problem: "connection refused" });
    expect(second.effects).toEqual([
      { kind: "save" },
      { kind: "park", until: NOW + 1_000 + 4_000, waitingFor: "s3" },
    ]);
  });

  it("while S3's breaker is open, waits until just after its next probe, not its own backoff", () => {
    const breakerOpen: StepEvent = { ...unreachable, resumeAt: NOW + 45_000 };
    const first = run(state("plan", []), breakerOpen, NOW, fixed(0));
    expect(first.state.storageOutage).toEqual({ since: NOW, waits: 1, problem: "connection refused" });
    expect(first.effects).toEqual([
      { kind: "save" },
      { kind: "park", until: NOW + 45_000, waitingFor: "s3" },
    ]);
    // Never past the job's own deadline, and then it fails as for any wait for S3.
    const late = state("finalize", [task(0)], {
      storageOutage: { since: NOW - SETTINGS.taskDeadlineMs + 1_000, waits: 3, problem: "timed out" },
    });
    expect(run(late, breakerOpen, NOW).effects).toEqual([
      { kind: "save" },
      { kind: "park", until: NOW + 1_000, waitingFor: "s3" },
    ]);
    expect(kinds(run(late, breakerOpen, NOW + 1_000).effects)).toEqual(["fail"]);
  });

  it("once the plan is made, the wait is forgotten: a later outage starts anew", () => {
    const waited = { since: NOW - 30_000, waits: 4, problem: "answered 503" };
    const tasks = [task(0, { confirmed: false, submitAttempts: 0 })];
    const next = run(state("plan", [], { storageOutage: waited }), planned(tasks));
    expect(next.state.storageOutage).toBeUndefined();
    expect(next.state.tasks).toEqual(tasks);
  });

  it("a finalize that cannot check the outputs waits the same way, the outputs still to be checked", () => {
    const finalizing = state("finalize", [task(0)]);
    const next = run(finalizing, unreachable, NOW, fixed(0.5));
    expect(next.state.step).toBe("finalize");
    expect(kinds(next.effects)).toEqual(["save", "park"]);
    expect(run(next.state, woke(), NOW + 2_000).effects).toEqual([{ kind: "finalize" }]);
  });

  it("parks no later than the deadline, and then fails storageUnavailable saying how long", () => {
    const since = NOW - SETTINGS.taskDeadlineMs + 1_000;
    const waiting = state("finalize", [task(0)], {
      storageOutage: { since, waits: 9, problem: "connection refused" },
    });
    expect(run(waiting, unreachable, NOW, fixed(1)).effects).toEqual([
      { kind: "save" },
      { kind: "park", until: NOW + 1_000, waitingFor: "s3" },
    ]);
    expect(run(waiting, unreachable, NOW + 1_000).effects).toEqual([
      {
        kind: "fail",
        reason: {
          code: "storageUnavailable",
          disposition: "retryable",
          message: `S3 has been unavailable for 600 s (since ${new Date(since).toISOString()}; connection refused) and the job's deadline (deadlineSeconds 600) passed while it waited`,
        },
      },
    ]);
  });

  it("the provider failing to reach S3 asks S3 first, and spends a generation only when S3 answers", () => {
    const failed = state("await", [task(0)]);
    const outcomes: [string, TaskOutcomeRecord][] = [[failed.tasks[0]!.taskUUID, error("uploadFailed")]];
    expect(run(failed, woke(outcomes)).effects).toEqual([{ kind: "checkStorage" }]);
    // S3 is out: the job waits, its generation kept.
    const out = run(failed, unreachable, NOW, fixed(0));
    expect(out.state.tasks).toEqual(failed.tasks);
    expect(kinds(out.effects)).toEqual(["save", "park"]);
    // S3 answers: the variant is redone, and the wait is forgotten.
    const answered = run(out.state, {
      kind: "woke",
      outcomes: new Map(outcomes),
      polled: false,
      storageChecked: true,
    });
    expect(answered.state.tasks[0]!.generation).toBe(1);
    expect(answered.state.storageOutage).toBeUndefined();
    expect(kinds(answered.effects)).toEqual(["send"]);
    // Another failure of the provider's own is redone without asking S3.
    expect(kinds(run(failed, woke([[failed.tasks[0]!.taskUUID, error("inferenceError")]])).effects)).toEqual([
      "send",
    ]);
  });

  describe("a generation the provider failed while S3 was out is given back", () => {
    const failedAt = (generation: number, extra: Partial<StepState> = {}) =>
      state("await", [task(0, { generation })], extra);
    const outcomesOf = (from: StepState, code = "uploadFailed"): [string, TaskOutcomeRecord][] => [
      [from.tasks[0]!.taskUUID, error(code)],
    ];
    const answered = (from: StepState, code?: string): StepEvent => ({
      kind: "woke",
      outcomes: new Map(outcomesOf(from, code)),
      polled: false,
      storageChecked: true,
    });
    // The job's own check found S3 out: it waited, saved with since when; now S3 answers again.
    const afterWait = (from: StepState) => run(from, unreachable, NOW, fixed(0)).state;

    it("S3 found out: the redone generation is not counted, and which one is saved", () => {
      const waited = afterWait(failedAt(2));
      const redo = run(waited, answered(waited));
      expect(kinds(redo.effects)).toEqual(["send"]);
      expect(redo.state.tasks[0]!.generation).toBe(3);
      expect(redo.state.outageGenerations).toEqual([{ variant: 0, generation: 2 }]);
      expect(redo.state.storageOutage).toBeUndefined();
      // The same generation failing for the provider's own reasons afterwards is counted as before:
      // generations 0, 1 and 3 are the three of TASK_MAX_GENERATIONS.
      const third = { ...redo.state, step: "await" as const };
      expect(run(third, answered(third, "inferenceError")).effects).toEqual([
        {
          kind: "fail",
          reason: expect.objectContaining({
            code: "inferenceError",
            message: "inferenceError (after 3 generations of variant 0, and 1 given back for an S3 outage)",
          }),
        },
      ]);
    });

    it("S3's breaker open counts as S3 found out", () => {
      const last = failedAt(2);
      const open = run(last, {
        kind: "woke",
        outcomes: new Map(outcomesOf(last)),
        polled: false,
        storageBreaker: s3Open,
      });
      expect(open.effects).toEqual([{ kind: "checkStorage" }]);
      // The check meets the open breaker and waits (as the processor feeds it), saved; once S3 is back,
      // the generation is given back.
      const waited = run(last, { ...unreachable, resumeAt: s3Open.resumeAt }).state;
      const redo = run(waited, answered(waited));
      expect(redo.state.outageGenerations).toEqual([{ variant: 0, generation: 2 }]);
      expect(kinds(redo.effects)).toEqual(["send"]);
    });

    it("S3 answering: the generation is counted as before, and the last one fails the job", () => {
      const middle = failedAt(1);
      const redo = run(middle, answered(middle));
      expect(redo.state.tasks[0]!.generation).toBe(2);
      expect(redo.state.outageGenerations).toBeUndefined();
      const last = failedAt(2);
      expect(run(last, answered(last)).effects).toEqual([
        { kind: "fail", reason: expect.objectContaining({ code: "uploadFailed", disposition: "retryable" }) },
      ]);
    });

    it("once TASK_MAX_OUTAGE_GENERATIONS are given back, a generation that meets S3 out is counted", () => {
      const given = [
        { variant: 0, generation: 1 },
        { variant: 0, generation: 2 },
      ];
      const waited = afterWait(failedAt(4, { outageGenerations: given }));
      expect(run(waited, answered(waited)).effects).toEqual([
        {
          kind: "fail",
          reason: expect.objectContaining({
            message: "uploadFailed (after 3 generations of variant 0, and 2 given back for an S3 outage)",
          }),
        },
      ]);
      // Under the cap the same wait gives it back.
      const under = afterWait(failedAt(3, { outageGenerations: given.slice(0, 1) }));
      expect(run(under, answered(under)).state.outageGenerations).toEqual([
        ...given.slice(0, 1),
        { variant: 0, generation: 3 },
      ]);
      // With none allowed (TASK_MAX_OUTAGE_GENERATIONS 0) nothing is given back.
      const none = { ...SETTINGS, maxOutageGenerations: 0 };
      const last = failedAt(2);
      expect(run(last, woke(outcomesOf(last)), NOW, none).effects).toEqual([
        { kind: "fail", reason: expect.objectContaining({ code: "uploadFailed" }) },
      ]);
      expect(run(afterWait(last), answered(last), NOW, none).effects).toEqual([
        { kind: "fail", reason: expect.objectContaining({ code: "uploadFailed" }) },
      ]);
    });

    it("a given-back generation counts only for its variant, and only since the plan's first generation", () => {
      const tasks = [task(0, { generation: 2 }), task(1, { generation: 2 })];
      const from = state("await", tasks, { outageGenerations: [{ variant: 1, generation: 0 }] });
      const failedBoth: StepEvent = {
        kind: "woke",
        outcomes: new Map(
          tasks.map((t): [string, TaskOutcomeRecord] => [t.taskUUID, error("inferenceError")]),
        ),
        polled: false,
      };
      // Variant 0 has used its three; variant 1 had one given back and has one left.
      expect(run(from, failedBoth).effects).toEqual([
        { kind: "fail", reason: expect.objectContaining({ message: expect.stringContaining("variant 0") }) },
      ]);
      const retried = state("await", [task(0, { generation: 4 })], {
        firstGeneration: 3,
        outageGenerations: [
          { variant: 0, generation: 0 },
          { variant: 0, generation: 1 },
        ],
      });
      const waited = afterWait(retried);
      expect(run(waited, answered(waited)).state.outageGenerations).toHaveLength(3);
    });
  });

  it("property: the waits grow from 2 s to 60 s with jitter, and never pass the deadline", () => {
    fc.assert(
      fc.property(
        fc.integer({ min: 0, max: 40 }),
        fc.double({ min: 0, max: 1, maxExcluded: true, noNaN: true }),
        fc.integer({ min: 0, max: 1_200_000 }),
        (waits, random, waitedMs) => {
          const wait = storageWaitMs(waits, random);
          const ceiling = Math.min(STORAGE_WAIT.maxMs, STORAGE_WAIT.baseMs * 2 ** waits);
          expect(wait).toBeGreaterThanOrEqual(ceiling / 2);
          expect(wait).toBeLessThanOrEqual(ceiling);
          const from = state("plan", [], {
            storageOutage: { since: NOW - waitedMs, waits, problem: "timed out" },
          });
          const next = run(from, unreachable, NOW, fixed(random));
          const deadline = NOW - waitedMs + SETTINGS.taskDeadlineMs;
          if (NOW >= deadline) expect(kinds(next.effects)).toEqual(["fail"]);
          else
            expect(next.effects).toEqual([
              { kind: "save" },
              { kind: "park", until: Math.min(deadline, NOW + wait), waitingFor: "s3" },
            ]);
        },
      ),
    );
  });
});
