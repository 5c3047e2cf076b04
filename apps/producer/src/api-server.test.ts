import { createOutpaintQueue, createRedisConnection } from "@reframe/jobs";
import { createLogger } from "@reframe/telemetry";
import { type LocalRedis, startRedisServer } from "@reframe/testkit";
import type { Queue } from "bullmq";
import type { Redis } from "ioredis";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { createApiServer } from "./api-server.ts";

const TOKEN = "test-token-0123456789";
const auth = { authorization: `Bearer ${TOKEN}` };
const job = (key: string, batchId?: string) => ({
  source: { kind: "s3", bucket: "sources", key },
  target: { kind: "ratio", ratio: "16:9" },
  output: { bucket: "outputs" },
  ...(batchId ? { labels: { batchId } } : {}),
});

describe("the HTTP API", () => {
  let server: LocalRedis;
  let redis: Redis;
  let queue: Queue;
  let app: ReturnType<typeof createApiServer>;
  beforeAll(async () => {
    server = await startRedisServer();
    redis = createRedisConnection(server.url, { role: "worker" });
    queue = createOutpaintQueue({ connection: redis, prefix: "{api-test}" });
    app = createApiServer({
      queue,
      redis,
      prefix: "{api-test}",
      token: TOKEN,
      logger: createLogger({ name: "api", level: "silent" }),
    });
  });
  afterAll(async () => {
    await app?.close();
    await queue?.close();
    await redis?.quit();
    await server?.stop();
  });

  it("refuses a request without the bearer token with 401, and adds nothing", async () => {
    const response = await app.inject({ method: "POST", url: "/v1/jobs", payload: job("a.jpg") });
    expect(response.statusCode).toBe(401);
    expect(
      (await app.inject({ method: "GET", url: "/v1/jobs/x", headers: { authorization: "Bearer wrong" } }))
        .statusCode,
    ).toBe(401);
    expect(await queue.count()).toBe(0);
  });

  it("accepts one job with 202 and its id; the same job again adds nothing", async () => {
    const first = await app.inject({ method: "POST", url: "/v1/jobs", headers: auth, payload: job("a.jpg") });
    expect(first.statusCode).toBe(202);
    expect(first.json()).toMatchObject({ added: 1, jobIds: [expect.stringMatching(/^op-/)] });
    const again = await app.inject({ method: "POST", url: "/v1/jobs", headers: auth, payload: job("a.jpg") });
    expect(again.json()).toMatchObject({ added: 0, existing: 1, jobIds: first.json().jobIds });
  });

  it("names each bad field with its path and rule (400) and adds none of the request's jobs", async () => {
    const before = await queue.count();
    const response = await app.inject({
      method: "POST",
      url: "/v1/jobs",
      headers: auth,
      payload: { jobs: [job("ok.jpg"), { ...job("b.jpg"), output: { bucket: "outputs", quality: 5 } }] },
    });
    expect(response.statusCode).toBe(400);
    expect(response.json().issues).toEqual([expect.objectContaining({ path: "jobs[1].output.quality" })]);
    expect(await queue.count()).toBe(before);
  });

  it("GET a job gives its state; an unknown id is 404", async () => {
    const { jobIds } = (
      await app.inject({ method: "POST", url: "/v1/jobs", headers: auth, payload: job("c.jpg") })
    ).json();
    const response = await app.inject({ method: "GET", url: `/v1/jobs/${jobIds[0]}`, headers: auth });
    expect(response.json()).toMatchObject({ jobId: jobIds[0], state: "waiting" });
    expect((await app.inject({ method: "GET", url: "/v1/jobs/op-none", headers: auth })).statusCode).toBe(
      404,
    );
    const single = await app.inject({
      method: "POST",
      url: "/v1/jobs",
      headers: auth,
      payload: { ...job("e.jpg"), target: { kind: "ratio", ratio: "wide" } },
    });
    expect(single.json().issues).toEqual([expect.objectContaining({ path: "target.ratio" })]);
  });

  it("GET a batch counts its jobs: awaited, in flight, done, and what they cost", async () => {
    const payload = { jobs: [job("d1.jpg", "batch-1"), job("d2.jpg", "batch-1"), job("d3.jpg", "batch-1")] };
    expect((await app.inject({ method: "POST", url: "/v1/jobs", headers: auth, payload })).statusCode).toBe(
      202,
    );
    const response = await app.inject({ method: "GET", url: "/v1/batches/batch-1", headers: auth });
    expect(response.json()).toMatchObject({
      batchId: "batch-1",
      kind: "api",
      total: 3,
      inFlight: 3,
      completed: 0,
      failed: 0,
      costUsd: 0,
    });
    expect((await app.inject({ method: "GET", url: "/v1/batches/none", headers: auth })).statusCode).toBe(
      404,
    );
  });

  it("serves its OpenAPI document without a token, with the job schema from the validator", async () => {
    const response = await app.inject({ method: "GET", url: "/openapi.json" });
    const document = response.json();
    expect(document.openapi).toBe("3.1.0");
    expect(Object.keys(document.paths)).toEqual([
      "/v1/jobs",
      "/v1/jobs/{jobId}",
      "/v1/batches/{batchId}",
      "/v1/events/s3",
    ]);
    expect(document.components.schemas.OutpaintJob.properties).toHaveProperty("source");
    expect(document.components.schemas.OutpaintJob.properties.options.properties).toMatchObject({
      fit: { enum: ["fit", "down-only"] },
      maxUpscale: { type: "number", minimum: 1 },
      maxGeneratedShare: { type: "number", minimum: 0, maximum: 1 },
    });
  });

  it("takes the canvas policy in a job's options, and names a bad one", async () => {
    const options = { fit: "down-only", maxUpscale: 2, maxGeneratedShare: 0.95 };
    const accepted = await app.inject({
      method: "POST",
      url: "/v1/jobs",
      headers: auth,
      payload: { ...job("policy.jpg"), options },
    });
    expect(accepted.statusCode).toBe(202);
    const saved = await queue.getJob(accepted.json().jobIds[0]);
    expect(saved?.data.options).toMatchObject(options);
    const refused = await app.inject({
      method: "POST",
      url: "/v1/jobs",
      headers: auth,
      payload: { ...job("policy.jpg"), options: { maxGeneratedShare: 90 } },
    });
    expect(refused.statusCode).toBe(400);
    expect(refused.json().issues).toEqual([
      { path: "options.maxGeneratedShare", rule: "must be from 0 to 1" },
    ]);
  });
});
