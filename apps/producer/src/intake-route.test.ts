import { createOutpaintQueue } from "@reframe/jobs";
import {
  applyPipelines,
  createPipelineRunQueue,
  createPipelineStore,
  parsePipelinesFile,
} from "@reframe/pipelines";
import { createRedisClient, type RedisClient } from "@reframe/redis";
import { createLogger } from "@reframe/telemetry";
import { type LocalRedis, startRedisServer } from "@reframe/testkit";
import type { Queue } from "bullmq";
import { afterAll, beforeAll, beforeEach, describe, expect, it } from "vitest";
import { createApiServer } from "./api-server.ts";

const API_TOKEN = "api-token-0123456789";
const INTAKE_TOKEN = "intake-token-0123456789";
const PREFIX = "{intake-test}";

/** An AWS S3 notification as S3 sends it: the key URL-form-encoded ("red flower (1).jpg"). */
const awsEvent = (key: string, eTag = "0123abcd", bucket = "media") => ({
  Records: [
    {
      eventVersion: "2.1",
      eventSource: "aws:s3",
      eventName: "ObjectCreated:Put",
      s3: { bucket: { name: bucket }, object: { key, size: 2048, eTag, sequencer: "0062E99A88DC407460" } },
    },
  ],
});

describe("the S3 event intake", () => {
  let server: LocalRedis;
  let redis: RedisClient;
  let queue: Queue;
  let app: ReturnType<typeof createApiServer>;
  beforeAll(async () => {
    server = await startRedisServer();
    redis = createRedisClient(server.url, { role: "worker" });
    queue = createOutpaintQueue({ connection: redis, prefix: PREFIX });
    const runQueue = createPipelineRunQueue({ connection: redis, prefix: PREFIX });
    await applyPipelines(
      parsePipelinesFile(`
pipelines:
  social:
    targets: ["1:1", "9:16"]
    output: { bucket: media, prefix: reformats/ }
    triggers: [{ bucket: media, prefix: "uploads/", suffix: [.jpg, .png] }]
`),
      { store: createPipelineStore(redis, { prefix: PREFIX }), runQueue },
    );
    await runQueue.close();
    app = createApiServer({
      queue,
      redis,
      prefix: PREFIX,
      token: API_TOKEN,
      logger: createLogger({ name: "api", level: "silent" }),
      intake: { token: INTAKE_TOKEN, ignoreAreas: [{ bucket: "media", prefix: "_scratch/" }] },
    });
  });
  beforeEach(async () => {
    await queue.obliterate({ force: true });
  });
  afterAll(async () => {
    await app?.close();
    await queue?.close();
    await redis?.quit();
    await server?.stop();
  });

  const post = (payload: unknown, token = INTAKE_TOKEN) =>
    app.inject({
      method: "POST",
      url: "/v1/events/s3",
      headers: { authorization: `Bearer ${token}` },
      payload: payload as object,
    });

  it("an event with a URL-encoded key creates exactly the pipeline's jobs, for the decoded key", async () => {
    const response = await post(awsEvent("uploads/red+flower+%281%29.jpg"));
    expect(response.statusCode).toBe(202);
    expect(response.json()).toMatchObject({ objects: 1, matched: 1, added: 2, duplicates: 0 });
    const jobs = await queue.getJobs(["waiting"]);
    expect(jobs.map((job) => [job.data.source.key, job.data.target.ratio]).sort()).toEqual([
      ["uploads/red flower (1).jpg", "1:1"],
      ["uploads/red flower (1).jpg", "9:16"],
    ]);
    expect(jobs[0]?.data).toMatchObject({
      source: { bucket: "media", etag: "0123abcd" },
      labels: { pipeline: "social", requester: "s3-event" },
    });
  });

  it("a duplicate event creates none; a new version of the object does", async () => {
    await post(awsEvent("uploads/a.jpg"));
    const duplicate = await post(awsEvent("uploads/a.jpg"));
    expect(duplicate.json()).toMatchObject({ added: 0, duplicates: 2 });
    expect(await queue.count()).toBe(2);
    expect((await post(awsEvent("uploads/a.jpg", "ffff0000"))).json()).toMatchObject({ added: 2 });
  });

  it("an event for an output key, or a scratch key, creates none (the loop guard)", async () => {
    const output = await post(awsEvent("reformats/1x1/uploads/a.jpg"));
    expect(output.json()).toMatchObject({ objects: 1, outputs: 1, added: 0 });
    expect((await post(awsEvent("_scratch/op-1.png"))).json()).toMatchObject({ outputs: 1, added: 0 });
    expect(await queue.count()).toBe(0);
  });

  it("accepts MinIO's and EventBridge's shapes", async () => {
    const minio = {
      EventName: "s3:ObjectCreated:Put",
      Key: "media/uploads/m.png",
      Records: [
        {
          eventVersion: "2.0",
          eventSource: "minio:s3",
          eventName: "s3:ObjectCreated:Put",
          s3: { bucket: { name: "media" }, object: { key: "uploads/m.png", size: 10, eTag: "m1" } },
        },
      ],
    };
    const bridge = {
      source: "aws.s3",
      "detail-type": "Object Created",
      detail: { bucket: { name: "media" }, object: { key: "uploads/e b.png", size: 10, etag: "b1" } },
    };
    expect((await post(minio)).json()).toMatchObject({ added: 2 });
    expect((await post(bridge)).json()).toMatchObject({ added: 2 });
    const keys = (await queue.getJobs(["waiting"])).map((job) => job.data.source.key);
    expect(new Set(keys)).toEqual(new Set(["uploads/m.png", "uploads/e b.png"]));
  });

  it("answers 401 without the intake token (the API token does not open it), 400 for a body it cannot read", async () => {
    expect((await post(awsEvent("uploads/a.jpg"), API_TOKEN)).statusCode).toBe(401);
    expect(
      (await app.inject({ method: "POST", url: "/v1/events/s3", payload: awsEvent("uploads/a.jpg") }))
        .statusCode,
    ).toBe(401);
    const bad = await post({ hello: "world" });
    expect(bad.statusCode).toBe(400);
    expect(bad.json().issues[0]).toMatchObject({ path: "(body)" });
    expect(await queue.count()).toBe(0);
    // …and the intake token opens nothing else.
    expect(
      (
        await app.inject({
          method: "GET",
          url: "/v1/jobs/x",
          headers: { authorization: `Bearer ${INTAKE_TOKEN}` },
        })
      ).statusCode,
    ).toBe(401);
  });
});
