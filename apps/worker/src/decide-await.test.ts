import type { StepState, TaskOutcomeRecord, TaskState } from "@reframe/jobs";
import { describe, expect, it } from "vitest";
import { decideAwait } from "./decide-await.ts";

const NOW = 1_000_000;

function task(overrides: Partial<TaskState> = {}): TaskState {
  return {
    variant: 0,
    generation: 0,
    taskUUID: "t0",
    key: "out/a.jpg",
    confirmed: true,
    submitAttempts: 1,
    submittedAt: NOW - 5000,
    deadline: NOW + 60_000,
    ...overrides,
  };
}

function state(tasks: TaskState[]): StepState {
  return { step: "await", tasks, enqueuedAt: NOW - 10_000 };
}

const success = (): TaskOutcomeRecord => ({
  kind: "success",
  result: { taskType: "imageInference", taskUUID: "x", imageUUID: "i", seed: 1 },
  receivedAt: NOW,
  via: "webhook",
});
const error = (code: string): TaskOutcomeRecord => ({
  kind: "error",
  error: { code, message: code },
  receivedAt: NOW,
  via: "poll",
});

describe("decideAwait", () => {
  it("finalizes when every task succeeded", () => {
    const tasks = [task(), task({ variant: 1, taskUUID: "t1" })];
    const outcomes = new Map([
      ["t0", success()],
      ["t1", success()],
    ]);
    expect(decideAwait(state(tasks), outcomes, NOW, 3)).toEqual({ kind: "finalize" });
  });

  it("waits for tasks without an outcome before their deadline", () => {
    const decision = decideAwait(state([task()]), new Map(), NOW, 3);
    expect(decision).toMatchObject({ kind: "wait", missing: [{ taskUUID: "t0" }] });
  });

  it("fails on a terminal provider error, naming the provider's code", () => {
    const outcomes = new Map([["t0", error("contentPolicyViolation")]]);
    expect(decideAwait(state([task()]), outcomes, NOW, 3)).toMatchObject({
      kind: "fail",
      reason: { code: "contentPolicyViolation", disposition: "terminal" },
    });
  });

  it("a terminal error ends the job even when another variant succeeded", () => {
    const tasks = [task(), task({ variant: 1, taskUUID: "t1" })];
    const outcomes = new Map([
      ["t0", success()],
      ["t1", error("invalidOutpaint")],
    ]);
    expect(decideAwait(state(tasks), outcomes, NOW, 3).kind).toBe("fail");
  });

  it("resubmits a task the provider lost, as the next generation", () => {
    const outcomes = new Map<string, TaskOutcomeRecord>([
      ["t0", { kind: "resubmit", code: "taskNotFound", receivedAt: NOW, via: "poll" }],
    ]);
    expect(decideAwait(state([task()]), outcomes, NOW, 3)).toEqual({
      kind: "resubmit",
      variants: [0],
      reasons: ["taskNotFound"],
    });
  });

  it("taskNotFound for a task the provider never acknowledged sends the same taskUUID again, no new generation", () => {
    const outcomes = new Map<string, TaskOutcomeRecord>([
      ["t0", { kind: "resubmit", code: "taskNotFound", receivedAt: NOW, via: "poll" }],
    ]);
    expect(decideAwait(state([task({ confirmed: false, generation: 2 })]), outcomes, NOW, 3)).toEqual({
      kind: "submit",
    });
    const late = task({ confirmed: false, deadline: NOW - 1 });
    expect(decideAwait(state([late]), outcomes, NOW, 3)).toMatchObject({ kind: "resubmit", variants: [0] });
  });

  it("resubmits a generation that failed on the provider's side (uploadFailed)", () => {
    const outcomes = new Map([["t0", error("uploadFailed")]]);
    expect(decideAwait(state([task()]), outcomes, NOW, 3)).toMatchObject({ kind: "resubmit", variants: [0] });
  });

  it("resubmits a task past its deadline with no outcome", () => {
    const late = task({ deadline: NOW - 1 });
    expect(decideAwait(state([late]), new Map(), NOW, 3)).toMatchObject({
      kind: "resubmit",
      reasons: ["taskDeadlineExceeded"],
    });
  });

  it("fails when the last generation is used up", () => {
    const last = task({ generation: 2 });
    const outcomes = new Map([["t0", error("uploadFailed")]]);
    expect(decideAwait(state([last]), outcomes, NOW, 3)).toMatchObject({
      kind: "fail",
      reason: { code: "uploadFailed" },
    });
  });

  it("counts generations from the plan's first one: a retried job has its full share again", () => {
    const outcomes = new Map([["t0", error("uploadFailed")]]);
    const retried = (generation: number): StepState => ({
      ...state([task({ generation })]),
      firstGeneration: 3,
    });
    expect(decideAwait(retried(3), outcomes, NOW, 3)).toMatchObject({ kind: "resubmit", variants: [0] });
    expect(decideAwait(retried(4), outcomes, NOW, 3)).toMatchObject({ kind: "resubmit", variants: [0] });
    expect(decideAwait(retried(5), outcomes, NOW, 3)).toMatchObject({ kind: "fail" });
  });

  it("redoes a task the provider never acknowledged once its deadline passed (its URLs expired with it)", () => {
    const late = task({ confirmed: false, deadline: NOW });
    expect(decideAwait(state([late]), new Map(), NOW, 3)).toMatchObject({
      kind: "resubmit",
      reasons: ["taskDeadlineExceeded"],
    });
  });

  it("submits again tasks the provider never acknowledged", () => {
    expect(decideAwait(state([task({ confirmed: false })]), new Map(), NOW, 3)).toEqual({ kind: "submit" });
  });

  it("redoes a task with a stored account refusal instead of pausing the queue each time it wakes", () => {
    const outcomes = new Map([["t0", error("insufficientCredits")]]);
    expect(decideAwait(state([task()]), outcomes, NOW, 3)).toEqual({
      kind: "resubmit",
      variants: [0],
      reasons: ["insufficientCredits"],
    });
    // Bounded like any redo: the last generation fails the job rather than looping.
    expect(decideAwait(state([task({ generation: 2 })]), outcomes, NOW, 3)).toMatchObject({
      kind: "fail",
      reason: { code: "insufficientCredits" },
    });
  });

  describe("a generation failed for our storage while S3 was out (TASK_MAX_OUTAGE_GENERATIONS 2)", () => {
    const last = () => state([task({ generation: 2 })]);
    const failed = (code = "uploadFailed") => new Map([["t0", error(code)]]);
    const allowance = (storage: "out" | "answering" | "unasked") => ({ maxOutageGenerations: 2, storage });

    it("is given back when S3 was found out, even at the last counted generation", () => {
      expect(decideAwait(last(), failed(), NOW, 3, allowance("out"))).toEqual({
        kind: "resubmit",
        variants: [0],
        reasons: ["uploadFailed"],
        outage: [0],
      });
    });

    it("is counted when S3 answered, and ends the job at the last generation", () => {
      expect(decideAwait(last(), failed("downloadFailed"), NOW, 3, allowance("answering"))).toMatchObject({
        kind: "fail",
        reason: { code: "downloadFailed" },
      });
    });

    it("is not final before S3 was asked (the machine asks it first)", () => {
      expect(decideAwait(last(), failed(), NOW, 3, allowance("unasked"))).toEqual({
        kind: "resubmit",
        variants: [0],
        reasons: ["uploadFailed"],
      });
    });

    it("is counted once the variant's outage generations are used, or for a failure of the provider's own", () => {
      const used = {
        ...state([task({ generation: 4 })]),
        outageGenerations: [
          { variant: 0, generation: 0 },
          { variant: 0, generation: 1 },
        ],
      };
      expect(decideAwait(used, failed(), NOW, 3, allowance("out")).kind).toBe("fail");
      expect(decideAwait(last(), failed("inferenceError"), NOW, 3, allowance("out")).kind).toBe("fail");
    });
  });
});
