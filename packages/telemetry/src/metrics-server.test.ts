import pino from "pino";
import { Counter, Registry } from "prom-client";
import { afterEach, describe, expect, it } from "vitest";
import { type HealthReport, type RunningMetricsServer, startMetricsServer } from "./metrics-server.ts";

const logger = pino({ level: "silent" });
let server: RunningMetricsServer | undefined;

async function start(health?: () => HealthReport): Promise<URL> {
  const registry = new Registry();
  new Counter({ name: "probe_test_total", help: "a counter", registers: [registry] }).inc(3);
  server = await startMetricsServer({
    registry,
    port: 0,
    host: "127.0.0.1",
    logger,
    ...(health ? { health } : {}),
  });
  return new URL(server.url);
}

afterEach(async () => {
  await server?.close();
  server = undefined;
});

describe("the metrics listener", () => {
  it("serves /metrics in the Prometheus text format and nothing else but the probes", async () => {
    const url = await start();
    const metrics = await fetch(url);
    expect(metrics.status).toBe(200);
    expect(await metrics.text()).toContain("probe_test_total 3");
    expect((await fetch(new URL("/other", url))).status).toBe(404);
    expect((await fetch(url, { method: "POST" })).status).toBe(404);
  });

  it("answers /livez while the event loop runs, and /healthz from the process's own health", async () => {
    let report: HealthReport = { ok: true };
    const url = await start(() => report);
    expect((await fetch(new URL("/livez", url))).status).toBe(200);
    const ready = await fetch(new URL("/healthz", url));
    expect(ready.status).toBe(200);
    expect(await ready.json()).toEqual({ ok: true });

    report = { ok: false, reason: "Redis is reconnecting" };
    const unready = await fetch(new URL("/healthz", url));
    expect(unready.status).toBe(503);
    expect(await unready.json()).toEqual({ ok: false, reason: "Redis is reconnecting" });
    expect((await fetch(new URL("/livez", url))).status).toBe(200);
  });

  it("a health check that throws is unready with its message, and the listener keeps serving", async () => {
    const url = await start(() => {
      throw new Error("no session yet");
    });
    const response = await fetch(new URL("/healthz", url));
    expect(response.status).toBe(503);
    expect(await response.json()).toEqual({ ok: false, reason: "health check failed: no session yet" });
    expect((await fetch(url)).status).toBe(200);
  });

  it("without a health check a process is ready while it answers", async () => {
    const url = await start();
    expect((await fetch(new URL("/healthz", url))).status).toBe(200);
  });
});
