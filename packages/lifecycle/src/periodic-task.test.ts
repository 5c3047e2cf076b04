import { afterEach, beforeEach, describe, expect, it, vi } from "vitest";
import { PeriodicTask } from "./periodic-task.ts";

/** A pass the test finishes by hand, to see what happens while one is under way. */
function heldPasses() {
  const calls: Array<() => void> = [];
  const run = vi.fn(() => new Promise<void>((resolve) => calls.push(resolve)));
  return { run, finish: (index: number) => calls[index]?.() };
}

describe("PeriodicTask", () => {
  beforeEach(() => vi.useFakeTimers());
  afterEach(() => vi.useRealTimers());

  it("runs the first pass at once, then one pass an interval after the previous one ended", async () => {
    const { run, finish } = heldPasses();
    const task = new PeriodicTask({ run, intervalMs: 100, onError: () => undefined });
    task.start();
    await vi.advanceTimersByTimeAsync(0);
    expect(run).toHaveBeenCalledTimes(1);
    // The pass is still under way: no second one starts beside it, however long it takes.
    await vi.advanceTimersByTimeAsync(1_000);
    expect(run).toHaveBeenCalledTimes(1);
    finish(0);
    await vi.advanceTimersByTimeAsync(99);
    expect(run).toHaveBeenCalledTimes(1);
    await vi.advanceTimersByTimeAsync(1);
    expect(run).toHaveBeenCalledTimes(2);
    finish(1);
    await task.stop();
  });

  it("waits firstDelayMs before the first pass", async () => {
    const run = vi.fn(async () => undefined);
    const task = new PeriodicTask({ run, intervalMs: 10, firstDelayMs: 50, onError: () => undefined });
    task.start();
    await vi.advanceTimersByTimeAsync(49);
    expect(run).not.toHaveBeenCalled();
    await vi.advanceTimersByTimeAsync(1);
    expect(run).toHaveBeenCalledTimes(1);
    await task.stop();
  });

  it("hands a failed pass to onError and goes on", async () => {
    const errors: unknown[] = [];
    const run = vi.fn().mockRejectedValueOnce(new Error("boom")).mockResolvedValue(undefined);
    const task = new PeriodicTask({ run, intervalMs: 10, onError: (error) => errors.push(error) });
    task.start();
    await vi.advanceTimersByTimeAsync(10);
    expect(errors).toEqual([new Error("boom")]);
    expect(run).toHaveBeenCalledTimes(2);
    await task.stop();
  });

  it("stop waits for the pass under way and starts no other", async () => {
    const { run, finish } = heldPasses();
    const task = new PeriodicTask({ run, intervalMs: 10, onError: () => undefined });
    task.start();
    await vi.advanceTimersByTimeAsync(0);
    let stopped = false;
    const stopping = task.stop().then(() => {
      stopped = true;
    });
    expect(task.stopping).toBe(true);
    await vi.advanceTimersByTimeAsync(0);
    expect(stopped).toBe(false);
    finish(0);
    await stopping;
    await vi.advanceTimersByTimeAsync(1_000);
    expect(run).toHaveBeenCalledTimes(1);
  });

  it("stop before the first pass runs none", async () => {
    const run = vi.fn(async () => undefined);
    const task = new PeriodicTask({ run, intervalMs: 10, firstDelayMs: 5, onError: () => undefined });
    task.start();
    await task.stop();
    await vi.advanceTimersByTimeAsync(1_000);
    expect(run).not.toHaveBeenCalled();
  });

  it("a pass may end its own loop; a second start runs one chain, and a start after stop runs again", async () => {
    let passes = 0;
    const task: PeriodicTask = new PeriodicTask({
      run: async () => {
        passes += 1;
        void task.stop();
      },
      intervalMs: 10,
      onError: () => undefined,
    });
    task.start();
    task.start();
    await vi.advanceTimersByTimeAsync(1_000);
    expect(passes).toBe(1);
    task.start();
    await vi.advanceTimersByTimeAsync(1_000);
    expect(passes).toBe(2);
  });

  it("two starts without a stop run one chain of passes", async () => {
    const run = vi.fn(async () => undefined);
    const task = new PeriodicTask({ run, intervalMs: 100, onError: () => undefined });
    task.start();
    task.start();
    await vi.advanceTimersByTimeAsync(250);
    expect(run).toHaveBeenCalledTimes(3);
    await task.stop();
  });
});
