import { randomUUID } from "node:crypto";
import { createRedisClient } from "@reframe/redis";
import { useRedisServer } from "@reframe/testkit";
import fc from "fast-check";
import { describe, expect, it } from "vitest";
import {
  breakerEndpointOf,
  createBreakerStore,
  DEFAULT_BREAKER_SETTINGS,
  describeBreaker,
  listBreakers,
  nextProbeDelayMs,
  probesWithin,
} from "./breaker.ts";

const server = useRedisServer();
const { closers } = server;

const T0 = 1_700_000_000_000;

function setup(settings = DEFAULT_BREAKER_SETTINGS) {
  const redis = createRedisClient(server.url, { role: "worker" });
  closers.push(() => redis.quit());
  const prefix = `{b-${randomUUID()}}`;
  const store = (endpoint = "api.example.test") =>
    createBreakerStore(redis, "provider", endpoint, settings, { prefix });
  return { redis, prefix, store };
}

describe("the provider breaker (Redis)", () => {
  it("opens on the threshold's failure in a row, once, and says which failure opened it", async () => {
    const { store } = setup();
    const a = store();
    const b = store(); // another worker process: the same breaker
    for (let i = 0; i < 4; i += 1) {
      expect(await (i % 2 ? a : b).recordFailure(T0 + i)).toEqual({ open: false, opened: false });
    }
    expect(await a.recordFailure(T0 + 4)).toEqual({ open: true, opened: true });
    expect(await b.recordFailure(T0 + 5)).toEqual({ open: true, opened: false });
    expect(await b.state()).toEqual({
      service: "provider",
      endpoint: "api.example.test",
      open: true,
      failures: 5,
      openedAt: T0 + 4,
      probes: 0,
      nextProbeAt: T0 + 4 + DEFAULT_BREAKER_SETTINGS.probeMinMs,
    });
  });

  it("does not open when an answer comes between failures, or when the failures are spread past the window", async () => {
    const { store } = setup();
    const breaker = store();
    for (let i = 0; i < 4; i += 1) await breaker.recordFailure(T0 + i);
    await breaker.recordSuccess(T0 + 10);
    for (let i = 0; i < 4; i += 1) expect((await breaker.recordFailure(T0 + 20 + i)).open).toBe(false);
    // The window runs from the first failure: the fifth, 30 s later, starts a new count.
    const late = T0 + 20 + DEFAULT_BREAKER_SETTINGS.windowMs + 1;
    expect(await breaker.recordFailure(late)).toEqual({ open: false, opened: false });
    expect((await breaker.state()).failures).toBe(1);
  });

  it("lets one probe at a time go, when due, backing off per failed probe; an answer closes it", async () => {
    const { store } = setup();
    const [a, b] = [store(), store()];
    for (let i = 0; i < 5; i += 1) await a.recordFailure(T0);
    expect(await a.acquireProbe(T0 + 1999)).toBe(false);
    expect(await a.acquireProbe(T0 + 2000)).toBe(true);
    expect(await b.acquireProbe(T0 + 2001)).toBe(false);
    let now = T0 + 2100;
    for (let failed = 1; failed <= 7; failed += 1) {
      const next = await a.recordProbeFailure(now);
      expect(next).toBe(now + nextProbeDelayMs(failed, DEFAULT_BREAKER_SETTINGS));
      expect(await b.acquireProbe(next! - 1)).toBe(false);
      now = next!;
      expect(await b.acquireProbe(now)).toBe(true);
    }
    expect(nextProbeDelayMs(7, DEFAULT_BREAKER_SETTINGS)).toBe(60_000);
    expect(await b.recordSuccess(now + 5)).toEqual({ closedOpenSince: T0 });
    expect(await a.state()).toEqual({
      service: "provider",
      endpoint: "api.example.test",
      open: false,
      failures: 0,
    });
    expect(await a.acquireProbe(now + 10)).toBe(false);
    expect(await a.recordProbeFailure(now + 10)).toBeUndefined();
  });

  it("stays open on a late answer to a request sent before it opened; an answer to one sent after closes it", async () => {
    const { store } = setup();
    const breaker = store();
    for (let i = 0; i < 5; i += 1) await breaker.recordFailure(T0);
    expect(await breaker.recordSuccess(T0 + 1600, T0 - 30_000)).toEqual({ stillOpen: true });
    expect(await breaker.recordSuccess(T0 + 1600, T0 - 1)).toEqual({ stillOpen: true });
    expect((await breaker.state()).open).toBe(true);
    expect(await breaker.recordSuccess(T0 + 2500, T0 + 2000)).toEqual({ closedOpenSince: T0 });
    expect((await breaker.state()).open).toBe(false);
  });

  it("gives the probe to another worker when the one holding it died (the lease runs out)", async () => {
    const { store } = setup({ ...DEFAULT_BREAKER_SETTINGS, probeLeaseMs: 5000 });
    const [a, b] = [store(), store()];
    for (let i = 0; i < 5; i += 1) await a.recordFailure(T0);
    expect(await a.acquireProbe(T0 + 2000)).toBe(true);
    expect(await b.acquireProbe(T0 + 6999)).toBe(false);
    expect(await b.acquireProbe(T0 + 7000)).toBe(true);
  });

  it("keeps one breaker per service and endpoint, listed for the CLI and the dashboard", async () => {
    const { redis, prefix, store } = setup();
    const runware = store(breakerEndpointOf("https://api.runware.ai/v1"));
    const local = store(breakerEndpointOf("http://127.0.0.1:4010/v1"));
    // S3 on the same host and port as a provider: another service, another breaker.
    const s3 = createBreakerStore(redis, "s3", "127.0.0.1:4010", DEFAULT_BREAKER_SETTINGS, { prefix });
    for (let i = 0; i < 5; i += 1) await runware.recordFailure(T0);
    await local.recordFailure(T0);
    for (let i = 0; i < 5; i += 1) await s3.recordFailure(T0 + 1);
    expect(await listBreakers(redis, { prefix })).toEqual([
      { service: "provider", endpoint: "127.0.0.1:4010", open: false, failures: 1 },
      {
        service: "provider",
        endpoint: "api.runware.ai",
        open: true,
        failures: 5,
        openedAt: T0,
        probes: 0,
        nextProbeAt: T0 + 2000,
      },
      {
        service: "s3",
        endpoint: "127.0.0.1:4010",
        open: true,
        failures: 5,
        openedAt: T0 + 1,
        probes: 0,
        nextProbeAt: T0 + 2001,
      },
    ]);
  });
});

describe("the probe schedule", () => {
  const settings = { probeMinMs: 2000, probeMaxMs: 60_000 };
  it("doubles from the minimum up to the maximum", () => {
    expect([0, 1, 2, 3, 4, 5, 6].map((n) => nextProbeDelayMs(n, settings))).toEqual([
      2000, 4000, 8000, 16_000, 32_000, 60_000, 60_000,
    ]);
  });

  it("bounds the probes of an outage by its length, not by anything else (property)", () => {
    fc.assert(
      fc.property(
        fc.integer({ min: 100, max: 60_000 }),
        fc.integer({ min: 0, max: 600_000 }),
        fc.integer({ min: 0, max: 24 * 3_600_000 }),
        (probeMinMs, extra, durationMs) => {
          const s = { probeMinMs, probeMaxMs: probeMinMs + extra };
          const probes = probesWithin(durationMs, s);
          // Never more often than the maximum wait allows once backed off, plus the doubling's start.
          expect(probes).toBeGreaterThanOrEqual(1);
          expect(probes).toBeLessThanOrEqual(2 + Math.floor(durationMs / probeMinMs));
          expect(probes).toBeLessThanOrEqual(
            2 + Math.ceil(Math.log2(s.probeMaxMs / probeMinMs + 1)) + Math.floor(durationMs / s.probeMaxMs),
          );
          // Monotone: a longer outage never has fewer probes.
          expect(probesWithin(durationMs + probeMinMs, s)).toBeGreaterThanOrEqual(probes);
        },
      ),
    );
  });

  it("allows 7 probes in a 3-minute outage and 34 in a 30-minute one at the defaults", () => {
    expect(probesWithin(180_000, settings)).toBe(7);
    // At 2, 6, 14, 30 and 62 s, then every 60 s up to 1742 s (28 more), and one under way at the end.
    expect(probesWithin(1_800_000, settings)).toBe(34);
  });
});

describe("describeBreaker (reframe queue counts, the dashboard)", () => {
  it("says how long the provider has been unavailable and when the next probe goes", () => {
    const open = {
      service: "provider" as const,
      endpoint: "api.runware.ai",
      open: true,
      failures: 5,
      openedAt: T0,
      probes: 3,
      nextProbeAt: T0 + 95_000,
    };
    expect(describeBreaker(open, T0 + 90_000)).toBe(
      "the provider at api.runware.ai is unavailable for 90 s (breaker open since 2023-11-14T22:13:20.000Z, 3 probes failed, next in 5 s): jobs wait parked and fail only at their deadline",
    );
    expect(
      describeBreaker(
        { service: "provider" as const, endpoint: "api.runware.ai", open: false, failures: 0 },
        T0,
      ),
    ).toBe("the provider at api.runware.ai is available");
    expect(
      describeBreaker({ ...open, service: "s3", endpoint: "s3.eu-west-1.amazonaws.com" }, T0 + 90_000),
    ).toBe(
      "S3 at s3.eu-west-1.amazonaws.com is unavailable for 90 s (breaker open since 2023-11-14T22:13:20.000Z, 3 probes failed, next in 5 s): jobs that need S3 wait parked and fail only at their deadline",
    );
  });
});
