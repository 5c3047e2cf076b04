import { randomUUID } from "node:crypto";
import { createServer } from "node:http";
import type { AddressInfo } from "node:net";
import { GetObjectCommand } from "@aws-sdk/client-s3";
import { createBreakerStore, DEFAULT_BREAKER_SETTINGS } from "@reframe/jobs";
import { createRedisClient } from "@reframe/redis";
import { createS3Client } from "@reframe/storage";
import { createLogger } from "@reframe/telemetry";
import { useRedisServer } from "@reframe/testkit";
import { afterEach, describe, expect, it } from "vitest";
import { StorageBreaker } from "./storage-breaker.ts";

const server = useRedisServer();
const logger = createLogger({ name: "storage-breaker-test", level: "silent" });
const closers: (() => unknown)[] = [];
afterEach(async () => {
  for (const close of closers.splice(0)) await close();
});

/** A real HTTP server standing in for S3: 503 while down, 404 (an answer) once up; it counts requests. */
async function s3Server() {
  const state = { down: true, requests: [] as string[] };
  const http = createServer((request, response) => {
    state.requests.push(`${request.method} ${request.url}`);
    response.writeHead(state.down ? 503 : 404, { "content-type": "application/xml" });
    response.end(`<Error><Code>${state.down ? "ServiceUnavailable" : "NoSuchKey"}</Code></Error>`);
  });
  await new Promise<void>((resolve) => http.listen(0, "127.0.0.1", resolve));
  closers.push(() => http.close());
  const settings = {
    endpoint: `http://127.0.0.1:${(http.address() as AddressInfo).port}`,
    region: "us-east-1",
    forcePathStyle: true,
    credentials: { accessKeyId: "k", secretAccessKey: "s" },
  };
  const client = () => {
    const made = createS3Client(settings);
    closers.push(() => made.destroy());
    return made;
  };
  return { state, client };
}

describe("the worker's S3 breaker", () => {
  it("opens on the jobs' outage failures, alerts once, probes once per due time across workers with a HeadBucket, and closes at the first answer", async () => {
    const now = { at: 1_700_000_000_000 };
    const redis = createRedisClient(server.url, { role: "worker" });
    server.closers.push(() => redis.quit());
    const store = createBreakerStore(redis, "s3", "127.0.0.1", DEFAULT_BREAKER_SETTINGS, {
      prefix: `{sb-${randomUUID()}}`,
    });
    const s3 = await s3Server();
    const gauge: boolean[] = [];
    const alerts: string[] = [];
    const make = () => {
      const breaker = new StorageBreaker({
        endpoint: "127.0.0.1",
        probeClient: s3.client(),
        // With no alerts route the alert is logged: the worker whose failure opened it raises it.
        logger: {
          ...logger,
          error: (object: { alert?: string }) => void alerts.push(object.alert ?? ""),
        } as never,
        metrics: { setBreaker: (service, _endpoint, open) => void gauge.push(service === "s3" && open) },
        now: () => now.at,
      });
      breaker.attach(store);
      return { breaker, jobs: breaker.guard(s3.client()) };
    };
    const [a, b] = [make(), make()];
    const get = (from: typeof a) =>
      from.jobs.send(new GetObjectCommand({ Bucket: "outputs", Key: "x.jpg" })).catch((error) => error);
    for (let i = 0; i < 4; i += 1) await get(i % 2 ? a : b);
    expect(a.breaker.openState()).toBeUndefined();
    await get(a);
    expect(a.breaker.openState()).toMatchObject({ service: "s3", open: true, problem: "answered 503" });
    await b.breaker.tick();
    expect(b.breaker.openState()?.openedAt).toBe(now.at);
    expect(gauge).toContain(true);
    await get(b);
    expect(alerts).toEqual(["storageOutage"]);

    s3.state.requests = [];
    await Promise.all([a.breaker.tick(), b.breaker.tick()]);
    expect(s3.state.requests).toEqual([]); // not due before 2 s
    now.at += 2000;
    await Promise.all([a.breaker.tick(), b.breaker.tick()]);
    // One probe (the SDK's own tries of one HeadBucket), of the bucket the jobs used.
    expect(new Set(s3.state.requests)).toEqual(new Set(["HEAD /outputs/"]));
    const probeRequests = s3.state.requests.length;
    now.at += 3999;
    await Promise.all([a.breaker.tick(), b.breaker.tick()]);
    expect(s3.state.requests).toHaveLength(probeRequests); // the next is 4 s after the failed one
    now.at += 1;
    s3.state.down = false;
    await Promise.all([a.breaker.tick(), b.breaker.tick()]);
    await Promise.all([a.breaker.tick(), b.breaker.tick()]);
    // The probe's 404 is an answer: S3 is back, for both workers.
    expect(a.breaker.openState()).toBeUndefined();
    expect(b.breaker.openState()).toBeUndefined();
    expect(gauge.at(-1)).toBe(false);
    // A job's 404 is an answer too: it neither counts nor opens anything.
    for (let i = 0; i < 6; i += 1) await get(a);
    expect(a.breaker.openState()).toBeUndefined();
  }, 60_000);
});
