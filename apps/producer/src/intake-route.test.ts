import { DEFAULT_SOURCE_LIMITS } from "@reframe/config";
import { type EmbeddedS3, startEmbeddedS3 } from "@reframe/embedded-s3";
import { createOutpaintQueue } from "@reframe/jobs";
import {
  applyPipelines,
  createPipelineRunQueue,
  createPipelineStore,
  parsePipelinesFile,
} from "@reframe/pipelines";
import { createRedisClient, type RedisClient } from "@reframe/redis";
import { createS3Client } from "@reframe/storage";
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
  let s3: EmbeddedS3;
  let s3Client: ReturnType<typeof createS3Client>;
  beforeAll(async () => {
    server = await startRedisServer();
    s3 = await startEmbeddedS3({
      buckets: ["media"],
      accessKeyId: "intake-key",
      secretAccessKey: "intake-secret",
    });
    s3Client = createS3Client({
      endpoint: s3.endpoint,
      region: "us-east-1",
      forcePathStyle: true,
      credentials: { accessKeyId: "intake-key", secretAccessKey: "intake-secret" },
    });
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
      intake: {
        token: INTAKE_TOKEN,
        scratch: [{ bucket: "media", prefix: "_scratch/" }],
        s3: s3Client,
        sourceLimits: DEFAULT_SOURCE_LIMITS,
      },
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
    s3Client?.destroy();
    await s3?.close();
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

  it("answers S3's test message and events it does not act on with 202, each counted as ignored", async () => {
    const testEvent = await post({
      Service: "Amazon S3",
      Event: "s3:TestEvent",
      Time: "2026-11-25T15:57:02.089Z",
      Bucket: "media",
      RequestId: "5582815E1AEA5ADF",
      HostId: "8cLeGAmw098X5cv4Zkwcmo8vvZa3eH3eKxsPzbB9wrR+YstdA6Knx4Ip8EXAMPLE",
    });
    expect(testEvent.statusCode).toBe(202);
    expect(testEvent.json()).toMatchObject({ objects: 0, ignored: 1, added: 0 });
    const deleted = await post({
      version: "0",
      id: "2ee9cc15-d022-99ea-1fb8-1b1bac4850f9",
      "detail-type": "Object Deleted",
      source: "aws.s3",
      account: "111122223333",
      time: "2026-11-25T00:00:00Z",
      region: "eu-west-1",
      resources: ["arn:aws:s3:::media"],
      detail: {
        version: "0",
        bucket: { name: "media" },
        object: {
          key: "uploads/a.jpg",
          etag: "d41d8cd98f00b204e9800998ecf8427e",
          sequencer: "617f0837b476e463",
        },
        "request-id": "0BH729840619AG5K",
        requester: "123456789012",
        "source-ip-address": "1.2.3.4",
        reason: "DeleteObject",
        "deletion-type": "Permanently Deleted",
      },
    });
    expect(deleted.statusCode).toBe(202);
    expect(deleted.json()).toMatchObject({ objects: 0, ignored: 1, added: 0 });
    const removed = awsEvent("uploads/b.jpg");
    const mixed = await post({
      Records: [
        { ...removed.Records[0]!, eventName: "ObjectRemoved:Delete" },
        awsEvent("uploads/c.jpg").Records[0],
      ],
    });
    expect(mixed.json()).toMatchObject({ objects: 1, ignored: 1, matched: 1, added: 2 });
    expect(await queue.count()).toBe(2);
  });

  it("answers 503 and adds nothing when it cannot read the image's header, so that the notifier retries", async () => {
    const unreachable = createS3Client({
      endpoint: "http://127.0.0.1:9",
      region: "us-east-1",
      forcePathStyle: true,
      credentials: { accessKeyId: "x", secretAccessKey: "y" },
    });
    const offline = createApiServer({
      queue,
      redis,
      prefix: PREFIX,
      token: API_TOKEN,
      logger: createLogger({ name: "api", level: "silent" }),
      intake: { token: INTAKE_TOKEN, scratch: [], s3: unreachable, sourceLimits: DEFAULT_SOURCE_LIMITS },
    });
    try {
      const response = await offline.inject({
        method: "POST",
        url: "/v1/events/s3",
        headers: { authorization: `Bearer ${INTAKE_TOKEN}` },
        payload: awsEvent("uploads/a.jpg"),
      });
      expect(response.statusCode).toBe(503);
      expect(response.json()).toEqual({
        error: "unavailable",
        message: "the event could not be taken now; retry",
      });
      expect(await queue.count()).toBe(0);
    } finally {
      await offline.close();
      unreachable.destroy();
    }
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
