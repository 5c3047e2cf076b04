import fc from "fast-check";
import { describe, expect, it } from "vitest";
import { admissionRoom, checkWindow, chunkSpan, chunksPassed } from "./admission-window.ts";

/**
 * A model of admission.ts over the window arithmetic: the stream as stored chunks (passed ones
 * dropped), a queue that adds a job id once (BullMQ job ids), the batch's pending set, and steps
 * that admit, end some pending jobs, or crash between adding a slice and moving the position.
 */
function simulate(
  { jobs, window, chunk }: { jobs: number; window: number; chunk: number },
  steps: { kind: "admit" | "crash" | "end"; count: number; slice: number }[],
) {
  const ids = Array.from({ length: jobs }, (_, i) => `job-${i}`);
  let stored = Array.from({ length: Math.ceil(jobs / chunk) }, (_, i) =>
    ids.slice(i * chunk, (i + 1) * chunk),
  );
  let position = 0;
  const addedTimes = new Map<string, number>();
  const pending = new Set<string>();
  let maxPending = 0;
  const admit = (slice: number, crash: boolean) => {
    const count = Math.min(admissionRoom({ window, pending: pending.size, position, jobs }), slice);
    if (count === 0) return;
    const span = chunkSpan(position, count, chunk);
    const read = stored
      .slice(span.first, span.last + 1)
      .flat()
      .slice(span.offset, span.offset + count);
    expect(read).toEqual(ids.slice(position, position + count));
    for (const id of read) {
      // enqueueMany: only a job missing from the queue is added and awaited.
      if (addedTimes.has(id)) continue;
      addedTimes.set(id, 1);
      pending.add(id);
    }
    maxPending = Math.max(maxPending, pending.size);
    if (crash) return;
    // lua/admission-advance.lua: passed chunks leave; the last job takes the stream with it.
    stored = position + count >= jobs ? [] : stored.slice(chunksPassed(position, position + count, chunk));
    position += count;
  };
  for (const step of steps) {
    if (step.kind === "end") for (const id of [...pending].slice(0, step.count)) pending.delete(id);
    else admit(step.slice, step.kind === "crash");
  }
  // Then the workers drain it: end everything pending, admit again, until the stream is done.
  for (let guard = 0; position < jobs && guard < jobs + 10; guard += 1) {
    pending.clear();
    admit(jobs, false);
  }
  return { position, addedTimes, maxPending, stored };
}

describe("the window arithmetic", () => {
  it("never more than the window pending, never a job added twice, every job once in the end", () => {
    fc.assert(
      fc.property(
        fc.record({
          jobs: fc.integer({ min: 0, max: 300 }),
          window: fc.integer({ min: 1, max: 50 }),
          chunk: fc.integer({ min: 1, max: 40 }),
        }),
        fc.array(
          fc.record({
            kind: fc.constantFrom("admit", "crash", "end"),
            count: fc.integer({ min: 0, max: 60 }),
            slice: fc.integer({ min: 1, max: 70 }),
          }),
          { maxLength: 60 },
        ),
        (setup, steps) => {
          const { position, addedTimes, maxPending, stored } = simulate(setup, steps as never);
          expect(maxPending).toBeLessThanOrEqual(setup.window);
          expect(position).toBe(setup.jobs);
          expect(addedTimes.size).toBe(setup.jobs);
          expect(stored.flat()).toEqual([]);
        },
      ),
      { numRuns: 500 },
    );
  });

  it("admits what the window has room for, never past the stream's end", () => {
    expect(admissionRoom({ window: 10, pending: 3, position: 0, jobs: 60 })).toBe(7);
    expect(admissionRoom({ window: 10, pending: 12, position: 0, jobs: 60 })).toBe(0);
    expect(admissionRoom({ window: 10, pending: 0, position: 55, jobs: 60 })).toBe(5);
  });

  it("refuses a window that is not a whole number from 1 to a million, naming the rule", () => {
    expect(checkWindow(10)).toBe(10);
    for (const bad of [0, -1, 2.5, 1_000_001, Number.NaN])
      expect(() => checkWindow(bad)).toThrow(/must be an integer from 1 to 1000000/);
  });
});
