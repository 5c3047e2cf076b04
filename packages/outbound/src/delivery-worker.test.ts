import { randomUUID } from "node:crypto";
import { PassThrough } from "node:stream";
import { createGuardedFetch } from "@reframe/egress";
import { DELIVERY_QUEUE, openRouteQueues, publishEvent } from "@reframe/jobs";
import { createRedisClient } from "@reframe/redis";
import { createLogger, createMetrics } from "@reframe/telemetry";
import { startWebhookReceiver, useRedisServer, type WebhookAnswer } from "@reframe/testkit";
import { Queue } from "bullmq";
import { describe, expect, it } from "vitest";
import { listDeliveries, retryDeliveries } from "./delivery-records.ts";
import { type DeliverySettings, startDeliveryWorker } from "./delivery-worker.ts";
import { createEndpointStore } from "./endpoint-store.ts";

const server = useRedisServer();

const event = (n: number, type = "reframe.outpaint.completed.v1") => ({
  specversion: "1.0",
  id: `evt-${n}-${randomUUID().slice(0, 8)}`,
  source: "/reframe/worker",
  type,
  subject: `a${n}.jpg`,
  time: new Date().toISOString(),
  datacontenttype: "application/json",
  data: { jobId: `op-${n}` },
});

async function fixture(
  options: {
    answer?: (n: number) => WebhookAnswer;
    settings?: Partial<DeliverySettings>;
    allowHosts?: string[];
    eventTypes?: string[];
  } = {},
) {
  const prefix = `{t-${randomUUID()}}`;
  const connection = createRedisClient(server.url, { role: "worker" });
  const endpoints = createEndpointStore(connection, { prefix });
  const logLines: string[] = [];
  const logStream = new PassThrough();
  logStream.on("data", (chunk: Buffer) => logLines.push(...chunk.toString().split("\n").filter(Boolean)));
  const logger = createLogger({ name: "deliveries-test", level: "debug", destination: logStream });
  let requests = 0;
  const { generatedSecret } = await endpoints.add({ name: "dam", url: "http://placeholder.invalid/" });
  const secret = generatedSecret!;
  const receiver = await startWebhookReceiver({
    secrets: [secret],
    answer: () => options.answer?.(++requests) ?? { status: 200 },
  });
  // The receiver's URL is known only now: declare the endpoint again with it.
  await connection.hdel(`${prefix}:endpoints`, "dam");
  await endpoints.add({
    name: "dam",
    url: receiver.url,
    secret,
    ...(options.eventTypes ? { eventTypes: options.eventTypes } : {}),
  });
  const guard = createGuardedFetch({
    allowHosts: options.allowHosts ?? ["127.0.0.1"],
    returnRedirects: true,
  });
  const metrics = createMetrics({ process: "worker", defaultMetrics: false });
  const routes = openRouteQueues({ connection, prefix });
  const worker = startDeliveryWorker({
    connection,
    metrics,
    alerts: { route: ["alerts"], routes, logger, now: Date.now },
    prefix,
    concurrency: 4,
    endpoints,
    fetch: guard.fetch,
    settings: { schedule: [50, 50, 50], timeoutMs: 2_000, disableAfterMs: 60_000, ...options.settings },
    logger,
    now: Date.now,
  });
  const queue = new Queue(DELIVERY_QUEUE, { connection, prefix });
  server.closers.push(async () => {
    await worker.close(true);
    await routes.close();
    await queue.close();
    await guard.close();
    await receiver.close();
    await connection.quit();
  });
  const publish = (published: ReturnType<typeof event>, route = ["webhook:dam"]) =>
    publishEvent(routes, route, published);
  const settled = async (count: number) => {
    await expect
      .poll(async () => (await queue.getJobCounts("completed", "failed")) as Record<string, number>, {
        timeout: 15_000,
      })
      .toSatisfy((counts: Record<string, number>) => (counts.completed ?? 0) + (counts.failed ?? 0) >= count);
  };
  const metricText = (name: string) => metrics.registry.getSingleMetricAsString(name);
  return {
    prefix,
    connection,
    endpoints,
    receiver,
    queue,
    publish,
    settled,
    secret,
    logLines,
    worker,
    metricText,
  };
}

describe("delivery worker", () => {
  it("POSTs the CloudEvent signed per Standard Webhooks, verified by the standardwebhooks package", async () => {
    const f = await fixture();
    const sent = event(1);
    await f.publish(sent);
    await f.publish(sent); // published twice (a retried finalize): one delivery
    await f.settled(1);
    expect(f.receiver.received).toHaveLength(1);
    const [request] = f.receiver.received;
    expect(request).toMatchObject({ id: sent.id, verified: true, body: sent });
    expect(request!.contentType).toBe("application/cloudevents+json; charset=utf-8");
    expect(Math.abs(request!.timestamp - Date.now() / 1000)).toBeLessThan(10);
    const [record] = await listDeliveries(f.queue);
    expect(record).toMatchObject({ endpoint: "dam", eventId: sent.id, state: "delivered" });
    expect(record!.attempts).toEqual([expect.objectContaining({ status: 200, result: "delivered" })]);
    expect(record!.lagMs).toBeGreaterThanOrEqual(0);
    expect((await f.endpoints.get("dam"))?.state).toMatchObject({ attempts: 1, delivered: 1, failed: 0 });
  });

  it("retries a 500, a closed connection and a timeout with the same webhook-id until a 2xx", async () => {
    const answers: WebhookAnswer[] = [{ status: 500 }, { close: true }, { status: 200, delayMs: 1_500 }];
    const f = await fixture({
      answer: (n) => answers[n - 1] ?? { status: 204 },
      settings: { timeoutMs: 500 },
    });
    const sent = event(2);
    await f.publish(sent);
    await f.settled(1);
    expect(f.receiver.received.map((request) => [request.id, request.verified])).toEqual(
      Array(4).fill([sent.id, true]),
    );
    const [record] = await listDeliveries(f.queue, { endpoint: "dam" });
    expect(record!.state).toBe("delivered");
    expect(record!.attempts.map((attempt) => attempt.status ?? attempt.error)).toEqual([
      500,
      expect.stringMatching(/socket|closed|ECONNRESET|terminated/i),
      "no answer within 500 ms",
      204,
    ]);
    // The operator's view: attempts by endpoint and result, and one delivery's lag.
    const attempts = await f.metricText("reframe_endpoint_delivery_attempts_total");
    expect(attempts).toContain(
      'reframe_endpoint_delivery_attempts_total{endpoint="dam",result="retryable"} 3',
    );
    expect(attempts).toContain(
      'reframe_endpoint_delivery_attempts_total{endpoint="dam",result="delivered"} 1',
    );
    expect(await f.metricText("reframe_endpoint_delivery_lag_seconds")).toMatch(
      /reframe_endpoint_delivery_lag_seconds_count\{endpoint="dam"\} 1/,
    );
  });

  it("gives up after the schedule, and says why", async () => {
    const f = await fixture({ answer: () => ({ status: 503 }) });
    await f.publish(event(3));
    await f.settled(1);
    expect(f.receiver.received).toHaveLength(4);
    const [record] = await listDeliveries(f.queue, { failed: true });
    expect(record).toMatchObject({ state: "failed" });
    expect(record!.lastError).toMatch(
      /^attemptsExhausted: HTTP 503: bad signature|^attemptsExhausted: HTTP 503/,
    );
    expect((await f.endpoints.get("dam"))?.state).toMatchObject({ attempts: 4, failed: 1 });
  });

  it("disables the endpoint on 410 Gone, with an alert, and sends nothing more to it", async () => {
    const f = await fixture({ answer: () => ({ status: 410 }) });
    await f.publish(event(4));
    await f.settled(1);
    expect((await f.endpoints.get("dam"))?.state.disabledReason).toMatch(/^410 Gone/);
    expect(f.logLines.some((line) => line.includes('"alert":"endpointDisabled"'))).toBe(true);
    const alertsQueue = new Queue("alerts", { connection: f.connection, prefix: f.prefix });
    const [alert] = await alertsQueue.getJobs(["waiting"]);
    await alertsQueue.close();
    expect(alert?.data).toMatchObject({
      type: "reframe.alert.endpoint-disabled.v1",
      subject: "dam",
      data: { kind: "endpointDisabled", endpoint: "dam", reason: expect.stringMatching(/^410 Gone/) },
    });
    await f.publish(event(5));
    await f.settled(2);
    expect(f.receiver.received).toHaveLength(1);
    const attempts = await f.metricText("reframe_endpoint_delivery_attempts_total");
    expect(attempts).toContain('reframe_endpoint_delivery_attempts_total{endpoint="dam",result="gone"} 1');
    expect(attempts).toContain(
      'reframe_endpoint_delivery_attempts_total{endpoint="dam",result="disabled"} 1',
    );
    const records = await listDeliveries(f.queue, { failed: true });
    expect(records.map((record) => record.lastError?.split(":")[0]).sort()).toEqual([
      "endpointDisabled",
      "endpointGone",
    ]);
    // Enabled again, the held delivery is sent with a retry, under the same webhook-id.
    await f.endpoints.enable("dam");
    f.receiver.received.length = 0;
    const held = records.find((record) => record.lastError?.startsWith("endpointDisabled"))!;
    expect((await retryDeliveries(f.queue, { id: held.id })).retried).toEqual([held.id]);
    await expect.poll(() => f.receiver.received.map((request) => request.id)).toEqual([held.eventId]);
  });

  it("disables an endpoint that has failed for longer than allowed", async () => {
    const f = await fixture({ answer: () => ({ status: 500 }), settings: { disableAfterMs: 60 } });
    await f.publish(event(6));
    await f.settled(1);
    expect((await f.endpoints.get("dam"))?.state.disabledReason).toMatch(/^failing since/);
    const [record] = await listDeliveries(f.queue, { failed: true });
    expect(record!.lastError).toMatch(/^endpointFailing:/);
  });

  it("skips events of types the endpoint does not take, without a request", async () => {
    const f = await fixture({ eventTypes: ["reframe.batch.completed.v1"] });
    await f.publish(event(7, "reframe.outpaint.completed.v1"));
    await f.publish(event(8, "reframe.batch.completed.v1"));
    await f.settled(2);
    expect(f.receiver.received.map((request) => (request.body as { type: string }).type)).toEqual([
      "reframe.batch.completed.v1",
    ]);
    expect((await listDeliveries(f.queue)).map((record) => record.state).sort()).toEqual([
      "delivered",
      "skipped",
    ]);
  });

  it("refuses an endpoint on a private address that is not allow-listed, reaching nothing", async () => {
    const f = await fixture({ allowHosts: [] });
    await f.publish(event(9));
    await f.settled(1);
    expect(f.receiver.received).toEqual([]);
    const [record] = await listDeliveries(f.queue, { failed: true });
    expect(record!.lastError).toMatch(/^egressRefused: egress refused: 127\.0\.0\.1 is not a public address/);
  });

  it("signs with both secrets during a rotation: receivers holding either one verify", async () => {
    const f = await fixture();
    const { secret: next } = await f.endpoints.rotateSecret("dam", { graceMs: 60_000 });
    f.receiver.setSecrets([next]);
    await f.publish(event(10));
    await f.settled(1);
    f.receiver.setSecrets([f.secret]);
    const again = event(11);
    await f.publish(again);
    await f.settled(2);
    expect(f.receiver.received.map((request) => request.verified)).toEqual([true, true]);
    // After the grace period only the new secret signs.
    await f.endpoints.rotateSecret("dam", { secret: next, graceMs: 0 });
    const endpoint = await f.endpoints.get("dam");
    expect(endpoint!.secrets.filter((entry) => (entry.expiresAt ?? Infinity) > Date.now())).toHaveLength(1);
  });

  it("keeps secrets out of the delivery records and the logs", async () => {
    const f = await fixture({ answer: (n) => (n === 1 ? { status: 500 } : { status: 200 }) });
    await f.publish(event(12));
    await f.settled(1);
    const keys = await f.connection.keys(`${f.prefix}:${DELIVERY_QUEUE}:*`);
    expect(keys.length).toBeGreaterThan(0);
    const secretBody = f.secret.slice("whsec_".length);
    for (const key of keys) {
      const type = await f.connection.type(key);
      const dump =
        type === "hash"
          ? JSON.stringify(await f.connection.hgetall(key))
          : type === "list"
            ? JSON.stringify(await f.connection.lrange(key, 0, -1))
            : type === "zset"
              ? JSON.stringify(await f.connection.zrange(key, 0, -1))
              : type === "string"
                ? String(await f.connection.get(key))
                : "";
      expect(dump).not.toContain(secretBody);
    }
    expect(f.logLines.join("\n")).not.toContain(secretBody);
  });
});
