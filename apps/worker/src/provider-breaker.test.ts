import { randomUUID } from "node:crypto";
import { createBreakerStore, DEFAULT_BREAKER_SETTINGS } from "@reframe/jobs";
import { createRedisClient } from "@reframe/redis";
import { ProviderError, type RunwareClient, type TaskAnswer } from "@reframe/runware";
import { createLogger } from "@reframe/telemetry";
import { useRedisServer } from "@reframe/testkit";
import { describe, expect, it } from "vitest";
import { PROBE_TASK_UUID, ProviderBreaker } from "./provider-breaker.ts";

const server = useRedisServer();
const logger = createLogger({ name: "provider-breaker-test", level: "silent" });

/** A provider that is down (503) or up (taskNotFound for the probe's UUID), switched by the test. */
function provider() {
  const state = { down: true, requests: [] as string[][] };
  const answer = async (taskUUIDs: readonly string[]): Promise<Map<string, TaskAnswer>> => {
    state.requests.push([...taskUUIDs]);
    if (state.down) throw ProviderError.from({ status: 503, message: "down" });
    if (taskUUIDs.length > 0 && taskUUIDs[0] !== PROBE_TASK_UUID) return new Map();
    throw ProviderError.from({ status: 429, message: "slow down" });
  };
  const client: Pick<RunwareClient, "submit" | "getResponses"> = {
    submit: (tasks) => answer(tasks.map((task) => task.taskUUID)),
    getResponses: answer,
  };
  return { state, client };
}

function setup(now: { at: number }) {
  const redis = createRedisClient(server.url, { role: "worker" });
  server.closers.push(() => redis.quit());
  const store = createBreakerStore(redis, "provider", "api.example.test", DEFAULT_BREAKER_SETTINGS, {
    prefix: `{pb-${randomUUID()}}`,
  });
  const gauge: boolean[] = [];
  const alerts: string[] = [];
  const make = (client: Pick<RunwareClient, "getResponses">) => {
    const breaker = new ProviderBreaker({
      endpoint: "api.example.test",
      provider: client,
      logger: {
        ...logger,
        error: (object: { alert?: string }) => void alerts.push(object.alert ?? ""),
      } as never,
      metrics: { setBreaker: (_service, _endpoint, open) => void gauge.push(open) },
      now: () => now.at,
    });
    breaker.attach(store);
    return breaker;
  };
  return { make, gauge, alerts };
}

describe("the worker's provider breaker", () => {
  it("opens on the fifth outage failure seen by any worker, alerts once, and lets no 429 count", async () => {
    const now = { at: 1_700_000_000_000 };
    const { make, alerts } = setup(now);
    const { client, state } = provider();
    const [a, b] = [make(client), make(client)];
    const [guardedA, guardedB] = [a.guard(client), b.guard(client)];
    for (let i = 0; i < 4; i += 1)
      await expect((i % 2 ? guardedA : guardedB).getResponses(["t"])).rejects.toThrow("down");
    expect(a.openState()).toBeUndefined();
    await expect(guardedA.submit([{ taskUUID: "u" } as never])).rejects.toThrow("down");
    expect(a.openState()).toMatchObject({ open: true, openedAt: now.at });
    // The other worker learns it at its next failure, or at its next read.
    await b.tick();
    expect(b.openState()?.openedAt).toBe(now.at);
    expect(alerts).toEqual(["providerOutage"]);
    // Parked until just after the next probe (2 s), never past the job's deadline.
    const until = a.parkUntil(now.at, now.at + 60_000);
    expect(until).toBeGreaterThanOrEqual(now.at + 2000);
    expect(until).toBeLessThanOrEqual(now.at + 2000 + 500 + 2000);
    expect(a.parkUntil(now.at, now.at + 1000)).toBe(now.at + 1000);
    expect(state.requests).toHaveLength(5);
  });

  it("probes once per due time across workers, backs off while down, and closes at the first answer", async () => {
    const now = { at: 1_700_000_000_000 };
    const { make, gauge } = setup(now);
    const { client, state } = provider();
    const [a, b] = [make(client), make(client)];
    for (let i = 0; i < 5; i += 1) await expect(a.guard(client).getResponses(["t"])).rejects.toThrow();
    state.requests = [];
    await Promise.all([a.tick(), b.tick()]);
    expect(state.requests).toEqual([]); // not due before 2 s
    now.at += 2000;
    await Promise.all([a.tick(), b.tick()]);
    expect(state.requests).toEqual([[PROBE_TASK_UUID]]); // one probe, whichever took the lease
    now.at += 3999;
    await Promise.all([a.tick(), b.tick()]);
    expect(state.requests).toHaveLength(1); // the next is 4 s after the failed one
    now.at += 1;
    state.down = false;
    await Promise.all([a.tick(), b.tick()]);
    expect(state.requests).toHaveLength(2);
    // The probe's 429 is an answer: the provider is back.
    await a.tick();
    await b.tick();
    expect(a.openState()).toBeUndefined();
    expect(b.openState()).toBeUndefined();
    expect(gauge.at(-1)).toBe(false);
    expect(gauge).toContain(true);
  });

  it("stays open when a request sent before the outage is answered late; the probe still decides", async () => {
    const now = { at: 1_700_000_000_000 };
    const { make } = setup(now);
    const { client, state } = provider();
    let answerLate: (answers: Map<string, TaskAnswer>) => void = () => undefined;
    const slow: Pick<RunwareClient, "submit" | "getResponses"> = {
      ...client,
      getResponses: () => new Promise((resolve) => (answerLate = resolve)),
    };
    const a = make(client);
    const late = a.guard(slow).getResponses(["sent-before"]);
    now.at += 100;
    for (let i = 0; i < 5; i += 1) await expect(a.guard(client).getResponses(["t"])).rejects.toThrow();
    expect(a.openState()?.openedAt).toBe(now.at);
    answerLate(new Map());
    await late;
    expect(a.openState()?.openedAt).toBe(now.at);
    now.at += 2000;
    state.down = false;
    await a.tick();
    expect(a.openState()).toBeUndefined();
  });
});
