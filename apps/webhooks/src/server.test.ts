import { randomUUID } from "node:crypto";
import { connect } from "node:net";
import { PassThrough } from "node:stream";
import { createOutpaintQueue, createTaskStore, type TaskStore } from "@reframe/jobs";
import { createRedisClient, type RedisClient, waitForRedisReady } from "@reframe/redis";
import { taskWebhookURL } from "@reframe/runware";
import { createLogger, createMetrics } from "@reframe/telemetry";
import { type LocalRedis, startRedisServer } from "@reframe/testkit";
import type { Queue } from "bullmq";
import type { FastifyInstance } from "fastify";
import { afterAll, afterEach, beforeAll, describe, expect, it } from "vitest";
import { createWebhookServer, type WebhookServerOptions } from "./server.ts";

const SECRET = "test-secret-0123456789abcdef";

let server: LocalRedis;
const closers: (() => Promise<unknown>)[] = [];

beforeAll(async () => {
  server = await startRedisServer();
});
afterEach(async () => {
  for (const close of closers.splice(0).reverse()) await close();
});
afterAll(async () => {
  await server?.stop();
});

interface Harness {
  app: FastifyInstance;
  redis: RedisClient;
  queue: Queue;
  taskStore: TaskStore;
  logs(): string;
}

async function harness(
  overrides: Partial<WebhookServerOptions> = {},
  redisUrl = server.url,
): Promise<Harness> {
  const redis = createRedisClient(redisUrl, { role: "producer" });
  redis.on("error", () => undefined);
  closers.push(async () => redis.disconnect());
  await waitForRedisReady(redis);
  const prefix = `{t-${randomUUID()}}`;
  const queue = createOutpaintQueue({ connection: redis, prefix });
  queue.on("error", () => undefined);
  closers.push(() => queue.close().catch(() => undefined));
  const taskStore = createTaskStore(redis, { prefix });
  const sink = new PassThrough();
  let output = "";
  sink.on("data", (chunk: Buffer) => {
    output += chunk.toString();
  });
  const logger = createLogger({ name: "webhooks-test", level: "debug", destination: sink });
  const app = createWebhookServer({ redis, queue, taskStore, secret: SECRET, logger, ...overrides });
  closers.push(() => app.close());
  return { app, redis, queue, taskStore, logs: () => output };
}

/** The path and query the provider would call for this task. */
function deliveryPath(taskUUID: string, secret = SECRET): string {
  const url = new URL(taskWebhookURL({ baseUrl: "https://hooks.example.com", taskUUID, secret }));
  return `${url.pathname}${url.search}`;
}

function resultBody(taskUUID: string, imageUUID: string = randomUUID()) {
  return {
    data: [
      {
        taskType: "imageInference",
        taskUUID,
        imageUUID,
        imageURL: `https://im.runware.ai/image/${imageUUID}.jpg`,
        seed: 1234,
        cost: 0.1,
      },
    ],
  };
}

async function parkedJob(h: Harness, taskUUID: string, jobId = `op-${randomUUID()}`): Promise<string> {
  await h.queue.add("outpaint", { n: 1 }, { jobId, delay: 3_600_000 });
  await h.taskStore.registerTasks([
    { taskUUID, jobId, deadline: Date.now() + 900_000, nextCheckAt: Date.now() + 30_000 },
  ]);
  return jobId;
}

describe("POST /runware/:taskUUID", () => {
  it("stores a valid delivery and promotes the parked job", async () => {
    const h = await harness();
    const taskUUID = randomUUID();
    const jobId = await parkedJob(h, taskUUID);
    const response = await h.app.inject({
      method: "POST",
      url: deliveryPath(taskUUID),
      payload: resultBody(taskUUID, "img-1"),
    });
    expect(response.statusCode).toBe(200);
    expect(response.json()).toEqual({ ok: true, stored: true });
    const outcome = (await h.taskStore.getOutcomes([taskUUID])).get(taskUUID);
    expect(outcome).toMatchObject({
      kind: "success",
      via: "webhook",
      result: { imageUUID: "img-1", taskUUID },
    });
    expect(await h.queue.getJobState(jobId)).toBe("waiting");
    expect(await h.taskStore.pendingCount()).toBe(0);
  });

  it("stores nothing for a task still processing, and counts it as notFinal", async () => {
    const metrics = createMetrics({ process: "webhooks", defaultMetrics: false });
    const h = await harness({ metrics });
    const taskUUID = randomUUID();
    const jobId = await parkedJob(h, taskUUID);
    const response = await h.app.inject({
      method: "POST",
      url: deliveryPath(taskUUID),
      payload: { data: [{ taskType: "imageInference", taskUUID, status: "processing", progress: 40 }] },
    });
    expect(response.statusCode).toBe(200);
    expect(response.json()).toEqual({ ok: true, stored: false });
    expect((await h.taskStore.getOutcomes([taskUUID])).size).toBe(0);
    expect(await h.queue.getJobState(jobId)).toBe("delayed");
    expect(await h.taskStore.pendingCount()).toBe(1);
    expect(await metrics.registry.metrics()).toContain(
      'reframe_webhook_deliveries_total{result="notFinal"} 1',
    );
    // The final delivery that follows is stored as usual.
    const final = await h.app.inject({
      method: "POST",
      url: deliveryPath(taskUUID),
      payload: resultBody(taskUUID),
    });
    expect(final.json()).toEqual({ ok: true, stored: true });
  });

  it("stores a success without an image as an error, not a completion", async () => {
    const h = await harness();
    const taskUUID = randomUUID();
    await parkedJob(h, taskUUID);
    const response = await h.app.inject({
      method: "POST",
      url: deliveryPath(taskUUID),
      payload: { data: [{ taskType: "imageInference", taskUUID, status: "success", cost: 0.02 }] },
    });
    expect(response.json()).toEqual({ ok: true, stored: true });
    expect((await h.taskStore.getOutcomes([taskUUID])).get(taskUUID)).toMatchObject({
      kind: "error",
      error: { code: "resultWithoutImage" },
      via: "webhook",
    });
  });

  it("answers a duplicate with 200 stored:false and keeps the first outcome", async () => {
    const h = await harness();
    const taskUUID = randomUUID();
    const jobId = await parkedJob(h, taskUUID);
    await h.app.inject({
      method: "POST",
      url: deliveryPath(taskUUID),
      payload: resultBody(taskUUID, "img-first"),
    });
    const again = await h.app.inject({
      method: "POST",
      url: deliveryPath(taskUUID),
      payload: resultBody(taskUUID, "img-second"),
    });
    expect(again.statusCode).toBe(200);
    expect(again.json()).toEqual({ ok: true, stored: false });
    expect((await h.taskStore.getOutcomes([taskUUID])).get(taskUUID)).toMatchObject({
      result: { imageUUID: "img-first" },
    });
    expect(await h.queue.getJobState(jobId)).toBe("waiting");
  });

  it("refuses a wrong token with 401, stores nothing and never logs the token", async () => {
    const h = await harness();
    const taskUUID = randomUUID();
    const jobId = await parkedJob(h, taskUUID);
    const response = await h.app.inject({
      method: "POST",
      url: `/runware/${taskUUID}?token=not-the-token-at-all`,
      payload: resultBody(taskUUID),
    });
    expect(response.statusCode).toBe(401);
    expect((await h.taskStore.getOutcomes([taskUUID])).size).toBe(0);
    expect(await h.queue.getJobState(jobId)).toBe("delayed");
    expect(h.logs()).toContain("bad token");
    expect(h.logs()).not.toContain("not-the-token-at-all");
  });

  it("counts deliveries by result and refused verifications (reframe_webhook_*)", async () => {
    const metrics = createMetrics({ process: "webhooks", defaultMetrics: false });
    const h = await harness({ metrics });
    const taskUUID = randomUUID();
    await parkedJob(h, taskUUID);
    const deliver = (url: string, payload: unknown) =>
      h.app.inject({ method: "POST", url, payload: payload as object });
    await deliver(deliveryPath(taskUUID), resultBody(taskUUID, "img-1"));
    await deliver(deliveryPath(taskUUID), resultBody(taskUUID, "img-2"));
    await deliver(`/runware/${taskUUID}?token=wrong`, resultBody(taskUUID));
    await deliver(deliveryPath(taskUUID), { data: "not a webhook body" });
    const text = await metrics.registry.metrics();
    expect(text).toContain('reframe_webhook_deliveries_total{result="stored"} 1');
    expect(text).toContain('reframe_webhook_deliveries_total{result="duplicate"} 1');
    expect(text).toContain('reframe_webhook_deliveries_total{result="refused"} 2');
    expect(text).toContain("reframe_webhook_verifications_refused_total 1");
  });

  it("refuses the token of another task and a missing token with 401", async () => {
    const h = await harness();
    const taskUUID = randomUUID();
    const other = deliveryPath(randomUUID());
    const stolenToken = new URLSearchParams(other.split("?")[1]).get("token");
    const withOtherToken = await h.app.inject({
      method: "POST",
      url: `/runware/${taskUUID}?token=${encodeURIComponent(stolenToken ?? "")}`,
      payload: resultBody(taskUUID),
    });
    expect(withOtherToken.statusCode).toBe(401);
    const withoutToken = await h.app.inject({
      method: "POST",
      url: `/runware/${taskUUID}`,
      payload: resultBody(taskUUID),
    });
    expect(withoutToken.statusCode).toBe(401);
    expect((await h.taskStore.getOutcomes([taskUUID])).size).toBe(0);
    expect(h.logs()).not.toContain(stolenToken);
  });

  it("refuses a body about another task with 400 taskUUID mismatch and stores nothing", async () => {
    const h = await harness();
    const taskUUID = randomUUID();
    const otherTask = randomUUID();
    const response = await h.app.inject({
      method: "POST",
      url: deliveryPath(taskUUID),
      payload: resultBody(otherTask),
    });
    expect(response.statusCode).toBe(400);
    expect(response.json()).toMatchObject({ ok: false, error: "taskUUID mismatch" });
    expect((await h.taskStore.getOutcomes([taskUUID, otherTask])).size).toBe(0);
  });

  it("refuses malformed JSON and a body that is not a webhook with 400", async () => {
    const h = await harness();
    const taskUUID = randomUUID();
    const malformed = await h.app.inject({
      method: "POST",
      url: deliveryPath(taskUUID),
      headers: { "content-type": "application/json" },
      payload: '{"data": [',
    });
    expect(malformed.statusCode).toBe(400);
    const notAWebhook = await h.app.inject({
      method: "POST",
      url: deliveryPath(taskUUID),
      payload: { hello: "world" },
    });
    expect(notAWebhook.statusCode).toBe(400);
    expect((await h.taskStore.getOutcomes([taskUUID])).size).toBe(0);
  });

  it("refuses a body over the limit with 413", async () => {
    const h = await harness({ bodyLimitBytes: 4_096 });
    const taskUUID = randomUUID();
    const body = resultBody(taskUUID);
    const response = await h.app.inject({
      method: "POST",
      url: deliveryPath(taskUUID),
      payload: { ...body, padding: "x".repeat(8_192) },
    });
    expect(response.statusCode).toBe(413);
    expect((await h.taskStore.getOutcomes([taskUUID])).size).toBe(0);
  });

  it("stores a provider error as an error outcome and a lost task as a resubmit", async () => {
    const h = await harness();
    const failed = randomUUID();
    const lost = randomUUID();
    await parkedJob(h, failed);
    await parkedJob(h, lost);
    const errorBody = (taskUUID: string, code: string) => ({
      errors: [{ code, message: `${code} happened`, taskUUID }],
    });
    const first = await h.app.inject({
      method: "POST",
      url: deliveryPath(failed),
      payload: errorBody(failed, "contentPolicyViolation"),
    });
    expect(first.json()).toEqual({ ok: true, stored: true });
    const second = await h.app.inject({
      method: "POST",
      url: deliveryPath(lost),
      payload: errorBody(lost, "taskNotFound"),
    });
    expect(second.json()).toEqual({ ok: true, stored: true });
    const outcomes = await h.taskStore.getOutcomes([failed, lost]);
    expect(outcomes.get(failed)).toMatchObject({
      kind: "error",
      error: { code: "contentPolicyViolation" },
      via: "webhook",
    });
    expect(outcomes.get(lost)).toMatchObject({ kind: "resubmit", code: "taskNotFound", via: "webhook" });
  });

  it("cuts off a body trickled slower than the body timeout", async () => {
    const h = await harness({ bodyTimeoutMs: 300 });
    const taskUUID = randomUUID();
    const address = await h.app.listen({ port: 0, host: "127.0.0.1" });
    const { port } = new URL(address);
    const socket = connect(Number(port), "127.0.0.1");
    let answer = "";
    socket.on("data", (chunk) => {
      answer += chunk.toString();
    });
    const closed = new Promise<void>((resolve) => socket.on("close", () => resolve()));
    socket.write(
      `POST ${deliveryPath(taskUUID)} HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nContent-Length: 1000\r\n\r\n{`,
    );
    const trickle = setInterval(() => socket.write(" "), 50);
    try {
      await closed;
    } finally {
      clearInterval(trickle);
      socket.destroy();
    }
    expect(answer).toMatch(/^HTTP\/1\.1 408/);
    expect((await h.taskStore.getOutcomes([taskUUID])).size).toBe(0);
  });
});

describe("GET /healthz", () => {
  it("answers 200 while Redis answers PING", async () => {
    const h = await harness();
    const response = await h.app.inject({ method: "GET", url: "/healthz" });
    expect(response.statusCode).toBe(200);
    expect(response.json()).toEqual({ ok: true, redis: "up" });
  });

  it("answers 503 when Redis is gone, and so does a delivery (the provider delivers again)", async () => {
    const lone = await startRedisServer();
    closers.push(() => lone.stop());
    const h = await harness({}, lone.url);
    await lone.stop();
    await expect.poll(() => h.redis.status).not.toBe("ready");
    const health = await h.app.inject({ method: "GET", url: "/healthz" });
    expect(health.statusCode).toBe(503);
    const taskUUID = randomUUID();
    const delivery = await h.app.inject({
      method: "POST",
      url: deliveryPath(taskUUID),
      payload: resultBody(taskUUID),
    });
    expect(delivery.statusCode).toBe(503);
    expect(delivery.json()).toEqual({ ok: false, error: "unavailable" });
  });
});
