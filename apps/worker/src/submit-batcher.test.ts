import type { ImageInferenceTask, TaskAnswer } from "@reframe/runware";
import { afterEach, describe, expect, it, vi } from "vitest";
import { SubmitBatcher, type SubmitTransport } from "./submit-batcher.ts";

/** A transport fake: this tests the batching logic only; the real client is tested against the emulator. */
function recordingTransport(answer?: (tasks: ImageInferenceTask[]) => Map<string, TaskAnswer>) {
  const requests: ImageInferenceTask[][] = [];
  const transport: SubmitTransport = {
    async submit(tasks) {
      requests.push(tasks);
      if (answer) return answer(tasks);
      return new Map(
        tasks.map((task) => [task.taskUUID, { kind: "accepted", taskUUID: task.taskUUID } as TaskAnswer]),
      );
    },
  };
  return { requests, transport };
}

const task = (taskUUID: string) => ({ taskUUID, taskType: "imageInference" }) as ImageInferenceTask;

describe("SubmitBatcher", () => {
  afterEach(() => {
    vi.useRealTimers();
  });

  it("coalesces tasks submitted within the window into one request", async () => {
    const { requests, transport } = recordingTransport();
    const batcher = new SubmitBatcher({ transport, windowMs: 10, maxBatch: 50 });
    const outcomes = await Promise.all(["a", "b", "c"].map((id) => batcher.submit(task(id))));
    expect(requests).toHaveLength(1);
    expect(requests[0]?.map((t) => t.taskUUID)).toEqual(["a", "b", "c"]);
    expect(outcomes.map((o) => o.taskUUID)).toEqual(["a", "b", "c"]);
  });

  it("splits at the maximum batch size", async () => {
    const { requests, transport } = recordingTransport();
    const batcher = new SubmitBatcher({ transport, windowMs: 10, maxBatch: 2 });
    await Promise.all(["a", "b", "c", "d", "e"].map((id) => batcher.submit(task(id))));
    expect(requests.map((r) => r.length)).toEqual([2, 2, 1]);
  });

  it("gives each caller its own task's outcome, whatever the order of the answer", async () => {
    const { transport } = recordingTransport(
      (tasks) =>
        new Map(
          [...tasks]
            .reverse()
            .map((t) => [t.taskUUID, { kind: "alreadyAccepted", taskUUID: t.taskUUID } as TaskAnswer]),
        ),
    );
    const batcher = new SubmitBatcher({ transport, windowMs: 5 });
    const [a, b] = await Promise.all([batcher.submit(task("a")), batcher.submit(task("b"))]);
    expect(a).toMatchObject({ taskUUID: "a", kind: "alreadyAccepted" });
    expect(b).toMatchObject({ taskUUID: "b" });
  });

  it("rejects every caller of a request that failed as a whole", async () => {
    const transport: SubmitTransport = {
      submit: async () => {
        throw new Error("connection refused");
      },
    };
    const batcher = new SubmitBatcher({ transport, windowMs: 5 });
    const results = await Promise.allSettled([batcher.submit(task("a")), batcher.submit(task("b"))]);
    expect(results.map((r) => r.status)).toEqual(["rejected", "rejected"]);
  });

  it("drain sends what is waiting without waiting for the window", async () => {
    const { requests, transport } = recordingTransport();
    const batcher = new SubmitBatcher({ transport, windowMs: 60_000 });
    const pending = batcher.submit(task("a"));
    await batcher.drain();
    await expect(pending).resolves.toMatchObject({ taskUUID: "a" });
    expect(requests).toHaveLength(1);
  });
});
