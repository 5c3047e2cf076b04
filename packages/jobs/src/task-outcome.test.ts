import { answersOf, ProviderError, type TaskAnswer } from "@reframe/runware";
import { describe, expect, it } from "vitest";
import { type OutcomeVia, RESULT_WITHOUT_IMAGE, toOutcomeRecord } from "./task-outcome.ts";

const A = "6f1d7a52-2f0e-5b9a-9d65-3c1f1b8b1a10";
const B = "6f1d7a52-2f0e-5b9a-9d65-3c1f1b8b1a11";
const AT = 1_700_000_000_000;

/** The provider's answer about task A, read from a reply as the client reads it (runware answersOf). */
function answerOf(
  envelope: {
    data?: unknown[];
    errors?: { code: string; message: string; taskUUID?: string; parameter?: string }[];
  },
  {
    status = 200,
    retryAfter,
    mode = "poll",
  }: { status?: number; retryAfter?: string; mode?: "poll" | "submit" } = {},
  tasks: string[] = [A],
): TaskAnswer {
  const reply = {
    status,
    retryAfter,
    envelope: { data: envelope.data ?? [], errors: envelope.errors ?? [] },
  };
  return answersOf(tasks, reply, mode).get(A)!;
}

const read = (answer: TaskAnswer, via: OutcomeVia = "poll") => toOutcomeRecord(answer, via, AT);

describe("toOutcomeRecord: the one reading of a provider answer", () => {
  it("stores a success with an image, whichever way it came", () => {
    const answer = answerOf({
      data: [
        {
          taskType: "imageInference",
          taskUUID: A,
          imageUUID: "img-1",
          seed: 7,
          cost: 0.02,
          status: "success",
        },
      ],
    });
    for (const via of ["poll", "webhook", "sync"] as const) {
      expect(read(answer, via)).toEqual({
        kind: "store",
        record: {
          kind: "success",
          result: expect.objectContaining({ taskUUID: A, imageUUID: "img-1", seed: 7, cost: 0.02 }),
          receivedAt: AT,
          via,
        },
      });
    }
  });

  it("stores a success without an image as an error the job redoes, not as a completion", () => {
    const answer = answerOf({ data: [{ taskType: "imageInference", taskUUID: A, status: "success" }] });
    expect(answer.kind).toBe("completed");
    expect(read(answer, "webhook")).toEqual({
      kind: "store",
      record: {
        kind: "error",
        error: { code: RESULT_WITHOUT_IMAGE, message: expect.stringContaining("without an image") },
        receivedAt: AT,
        via: "webhook",
      },
    });
  });

  it("stores a terminal error with its code, message and parameter, even from a submit", () => {
    const answer = answerOf(
      {
        errors: [
          {
            code: "invalidOutputQuality",
            message: "quality too low",
            taskUUID: A,
            parameter: "outputQuality",
          } as never,
        ],
      },
      { status: 400, mode: "submit" },
    );
    expect(read(answer, "sync")).toEqual({
      kind: "store",
      record: {
        kind: "error",
        error: { code: "invalidOutputQuality", message: "quality too low", parameter: "outputQuality" },
        receivedAt: AT,
        via: "sync",
      },
    });
  });

  it("stores a retryable error naming the task (its generation failed) from a poll or a webhook", () => {
    const answer = answerOf({
      errors: [{ code: "timeoutProvider", message: "the provider timed out", taskUUID: A }],
    });
    expect(read(answer, "poll")).toMatchObject({
      kind: "store",
      record: { kind: "error", error: { code: "timeoutProvider" } },
    });
    expect(read(answer, "webhook")).toMatchObject({ kind: "store", record: { kind: "error" } });
  });

  it("stores nothing for the same error from a submit: the task was not taken, it is sent again later", () => {
    const answer = answerOf(
      { errors: [{ code: "timeoutProvider", message: "the provider timed out", taskUUID: A }] },
      { mode: "submit" },
    );
    expect(read(answer, "sync")).toMatchObject({ kind: "later", error: { code: "timeoutProvider" } });
  });

  it("stores nothing for a retryable error without a taskUUID: it was about the request", () => {
    // Another task has an answer, so the reply is read per task and the general error reaches A.
    const answer = answerOf(
      {
        data: [{ taskType: "imageInference", taskUUID: B, imageUUID: "img-b", status: "success" }],
        errors: [{ code: "providerUnavailable", message: "try again" }],
      },
      {},
      [A, B],
    );
    expect(answer).toMatchObject({ kind: "failed", error: { taskUUID: undefined } });
    expect(read(answer)).toMatchObject({ kind: "later" });
  });

  it("stores nothing for a request-level 429 or 5xx that reached a task, and keeps Retry-After", () => {
    for (const status of [429, 500, 503]) {
      const answer = answerOf(
        {
          data: [{ taskType: "imageInference", taskUUID: B, status: "processing" }],
          errors: [{ code: "", message: `HTTP ${status}` }],
        },
        { status, retryAfter: "12" },
        [A, B],
      );
      const reading = read(answer);
      expect(reading, `HTTP ${status}`).toMatchObject({ kind: "later" });
      if (reading.kind === "later" && status === 429) expect(reading.error.retryAfterMs).toBe(12_000);
    }
  });

  it("stores nothing for a task's own refusal for now (a rate limit): it is asked again after a backoff", () => {
    const answer = answerOf(
      { errors: [{ code: "rateLimitExceeded", message: "slow down", taskUUID: A }] },
      { status: 429, retryAfter: "3" },
    );
    expect(read(answer)).toMatchObject({
      kind: "later",
      error: { code: "rateLimitExceeded", retryAfterMs: 3000 },
    });
  });

  it("stores nothing for a task still processing, or accepted", () => {
    expect(
      read(answerOf({ data: [{ taskType: "imageInference", taskUUID: A, status: "processing" }] })),
    ).toEqual({
      kind: "running",
    });
    expect(read(answerOf({ data: [{ taskType: "imageInference", taskUUID: A }] }), "webhook")).toEqual({
      kind: "running",
    });
    expect(read(answerOf({ data: [] }, { mode: "submit" }), "sync")).toEqual({ kind: "running" });
    expect(read({ kind: "alreadyAccepted", taskUUID: A }, "sync")).toEqual({ kind: "running" });
  });

  it("never stores an account refusal: for a task already accepted it would pause the queue each time the job woke", () => {
    const answer = answerOf({ errors: [{ code: "insufficientCredits", message: "top up", taskUUID: A }] });
    for (const via of ["poll", "webhook", "sync"] as const) {
      expect(read(answer, via)).toMatchObject({ kind: "pause", error: { code: "insufficientCredits" } });
    }
  });

  it("stores a lost task (taskNotFound) as provisional from a poll, and sends it again from a submit", () => {
    const answer = answerOf({ errors: [{ code: "taskNotFound", message: "unknown task", taskUUID: A }] });
    expect(read(answer, "poll")).toEqual({
      kind: "store",
      record: { kind: "resubmit", code: "taskNotFound", receivedAt: AT, via: "poll" },
    });
    expect(read(answer, "sync")).toMatchObject({ kind: "later" });
  });

  it("reads a thrown request failure the submit step hands it as 'later'", () => {
    const error = new ProviderError({
      code: "networkError",
      message: "socket hang up",
      taskUUID: A,
      disposition: "retryable",
      category: "connection",
    });
    expect(read({ kind: "failed", taskUUID: A, error }, "sync")).toEqual({ kind: "later", error });
  });
});
