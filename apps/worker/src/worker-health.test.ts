import { describe, expect, it } from "vitest";
import { workerHealth } from "./worker-health.ts";
import type { WorkerSession } from "./worker-session.ts";

// Pure logic over two fields of a session; a real one is probed in test/observability/metrics.test.ts.
function session(status: string, running: boolean): WorkerSession {
  return { connection: { status }, worker: { isRunning: () => running } } as unknown as WorkerSession;
}

describe("workerHealth", () => {
  it("is ready while Redis is up and the BullMQ worker takes jobs", () => {
    expect(workerHealth(session("ready", true), false)).toEqual({ ok: true });
  });

  it("says why it is not ready", () => {
    expect(workerHealth(undefined, false)).toMatchObject({
      ok: false,
      reason: expect.stringMatching(/^starting/),
    });
    expect(workerHealth(session("reconnecting", true), false)).toEqual({
      ok: false,
      reason: "Redis connection reconnecting",
    });
    expect(workerHealth(session("ready", false), false)).toMatchObject({ ok: false });
    expect(workerHealth(session("ready", true), true)).toMatchObject({
      ok: false,
      reason: expect.stringMatching(/^stopping/),
    });
  });
});
