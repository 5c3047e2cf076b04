import { randomUUID } from "node:crypto";
import { PutObjectCommand, type S3Client } from "@aws-sdk/client-s3";
import { type EmbeddedS3, startEmbeddedS3 } from "@reframe/embedded-s3";
import { createOutpaintQueue, openRouteQueues } from "@reframe/jobs";
import { createRedisClient } from "@reframe/redis";
import { type CreatedObject, createS3Client } from "@reframe/storage";
import { useRedisServer } from "@reframe/testkit";
import { Queue } from "bullmq";
import sharp from "sharp";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { parsePipelinesFile, pipelineSchema } from "./pipeline-file.ts";
import { type AppliedPipeline, createPipelineStore, pipelineDigest } from "./pipeline-store.ts";
import { BUDGET_EXCEEDED_EVENT_TYPE } from "./run-events.ts";
import { type IntakeDeps, ingestCreatedObjects, matchUpload, triggerMatches } from "./triggers.ts";
import { createUploadBudgets } from "./upload-budget.ts";
import { createWrittenObjects } from "./written-objects.ts";

const server = useRedisServer();
let s3: EmbeddedS3;
let client: S3Client;

beforeAll(async () => {
  s3 = await startEmbeddedS3({ buckets: ["media"], accessKeyId: "t-key", secretAccessKey: "t-secret" });
  client = createS3Client({
    endpoint: s3.endpoint,
    region: "us-east-1",
    forcePathStyle: true,
    credentials: { accessKeyId: "t-key", secretAccessKey: "t-secret" },
  });
});
afterAll(async () => {
  client?.destroy();
  await s3?.close();
});

/** An image in the bucket: 640×480 costs $0.10 per 1:1, 9:16 or 3:1 job ($0.10 per started megapixel). */
async function upload(key: string, width = 640, height = 480) {
  const body = await sharp({ create: { width, height, channels: 3, background: "#357" } })
    .jpeg()
    .toBuffer();
  await client.send(new PutObjectCommand({ Bucket: "media", Key: key, Body: body }));
}

const appliedOf = (text: string): AppliedPipeline[] =>
  Object.entries(parsePipelinesFile(text).pipelines).map(([name, definition]) => ({
    name,
    definition,
    digest: pipelineDigest(definition),
    appliedAt: 0,
  }));

const applied = appliedOf(`
pipelines:
  social:
    targets: ["1:1", "9:16"]
    output: { bucket: media, prefix: reformats/ }
    triggers: [{ bucket: media, prefix: uploads/, suffix: [.jpg, .png], maxSize: 100000 }]
  banners:
    targets: ["3:1"]
    output: { bucket: banners-out }
    triggers: [{ bucket: media, prefix: uploads/banners/ }]
`);

/** The loop, as a pipeline stored without apply's check (an older reframe applied it). */
const loop: AppliedPipeline = (() => {
  const definition = pipelineSchema.parse({
    targets: ["16:9"],
    output: { bucket: "media", prefix: "out/", keyTemplate: "{dir}{name}-{target}.{ext}" },
    triggers: [{ bucket: "media", prefix: "drop/" }],
  });
  return { name: "rockets", definition, digest: pipelineDigest(definition), appliedAt: 0 };
})();

const object = (key: string, more: Partial<CreatedObject> = {}): CreatedObject => ({
  bucket: "media",
  key,
  size: 500,
  eTag: "e1",
  versionId: undefined,
  sequencer: "0055AED6DCD90281E5",
  ...more,
});

function intake(pipelines: AppliedPipeline[], more: Partial<IntakeDeps> = {}) {
  const prefix = `{t-${randomUUID()}}`;
  const connection = createRedisClient(server.url, { role: "worker" });
  const queue = createOutpaintQueue({ connection, prefix });
  const routes = openRouteQueues({ connection, prefix });
  // Reads what was published to a route queue.
  const readers = new Map<string, Queue>();
  const routeQueue = (name: string) => {
    if (!readers.has(name)) readers.set(name, new Queue(name, { connection, prefix }));
    return readers.get(name)!;
  };
  server.closers.push(async () => {
    await Promise.all([
      queue.close(),
      routes.close(),
      ...[...readers.values()].map((reader) => reader.close()),
    ]);
    await connection.quit();
  });
  const written = createWrittenObjects(connection, { prefix });
  const deps: IntakeDeps = {
    pipelines,
    queue,
    s3: client,
    sourceLimits: { maxPixels: 100_000_000, maxBytes: 200_000_000 },
    written,
    budgets: createUploadBudgets(connection, { prefix }),
    routes,
    scratch: [{ bucket: "media", prefix: "_scratch/" }],
    ...more,
  };
  return {
    queue,
    written,
    routeQueue,
    store: createPipelineStore(connection, { prefix }),
    ingest: (objects: CreatedObject[]) => ingestCreatedObjects(objects, deps),
  };
}

describe("trigger rules", () => {
  it("match bucket, prefix, suffix (any case) and size", () => {
    const trigger = applied[0]!.definition.triggers[0]!;
    expect(triggerMatches(trigger, object("uploads/a b.JPG"))).toBe(true);
    expect(triggerMatches(trigger, object("uploads/a.gif"))).toBe(false);
    expect(triggerMatches(trigger, object("elsewhere/a.jpg"))).toBe(false);
    expect(triggerMatches(trigger, object("uploads/a.jpg", { bucket: "other" }))).toBe(false);
    expect(triggerMatches(trigger, object("uploads/a.jpg", { size: 100001 }))).toBe(false);
    expect(triggerMatches(trigger, object("uploads/a.jpg", { size: undefined }))).toBe(true);
  });

  it("an object in an output area or the scratch area is an output, whatever matches it", () => {
    expect(matchUpload(object("reformats/1x1/uploads/a.jpg"), applied).match).toBe("output");
    expect(
      matchUpload(object("_scratch/x.png"), applied, [{ bucket: "media", prefix: "_scratch/" }]).match,
    ).toBe("output");
    expect(matchUpload(object("uploads/banners/b.jpg"), applied).pipelines.map((p) => p.name)).toEqual([
      "social",
      "banners",
    ]);
    expect(matchUpload(object("other/c.jpg"), applied).match).toBe("unmatched");
  });

  it("an output area holding all a trigger watches leaves its uploads to the record of written objects", () => {
    // The area of {dir}{name}-{target}.{ext} is the whole bucket: it cannot tell uploads from outputs.
    expect(matchUpload(object("drop/rocket.jpg"), [loop]).match).toBe("matched");
    expect(matchUpload(object("drop/rocket-16x9.jpg"), [loop]).match).toBe("matched");
  });
});

describe("ingestCreatedObjects", () => {
  it("adds each matching pipeline's jobs once, without size hints (the worker reads the header for the format too); a repeated event and an output add none", async () => {
    await upload("uploads/banners/red flower.jpg", 640, 480);
    const { ingest, queue } = intake(applied);
    const events = [
      object("uploads/banners/red flower.jpg"),
      object("reformats/1x1/uploads/x.jpg"),
      object("misc/y.jpg"),
    ];
    const first = await ingest(events);
    expect(first).toMatchObject({
      objects: 3,
      byMatch: { matched: 1, output: 1, unmatched: 1 },
      added: 3,
      overBudget: 0,
    });
    const jobs = await queue.getJobs(["waiting"]);
    expect(jobs.map((job) => job.data.source)).toContainEqual({
      kind: "s3",
      bucket: "media",
      key: "uploads/banners/red flower.jpg",
      etag: "e1",
      sequencer: "0055AED6DCD90281E5",
    });
    expect(jobs.map((job) => job.data.labels.pipeline).sort()).toEqual(["banners", "social", "social"]);

    const again = await ingest([events[0]!, events[0]!]);
    expect(again).toMatchObject({ added: 0, duplicates: 6 });
    expect((await ingest([object("uploads/banners/red flower.jpg", { eTag: "e2" })])).added).toBe(3);
  });

  it("without an ETag, the sequencer tells one object version from the next", async () => {
    await upload("uploads/banners/b.png");
    const { ingest } = intake(applied);
    const v1 = object("uploads/banners/b.png", { eTag: undefined, sequencer: "01" });
    expect((await ingest([v1, v1])).added).toBe(3);
    expect((await ingest([{ ...v1, sequencer: "02" }])).added).toBe(3);
  });

  it("never starts a job for an object reframe recorded as written, in an area a trigger watches", async () => {
    await upload("drop/rocket.jpg");
    await upload("drop/rocket-16x9.jpg");
    const { ingest, written, store } = intake([loop]);
    // The store keeps the watched areas the worker records against.
    await store.put(loop.name, loop.definition, 0);
    await written.record("media", ["drop/rocket-16x9.jpg", "elsewhere/not-watched.jpg"]);
    expect(
      await written.written([object("drop/rocket-16x9.jpg"), object("elsewhere/not-watched.jpg")]),
    ).toEqual([true, false]);
    expect(await ingest([object("drop/rocket.jpg")])).toMatchObject({
      byMatch: { matched: 1 },
      added: 1,
    });
    expect(await ingest([object("drop/rocket-16x9.jpg")])).toMatchObject({
      byMatch: { output: 1, matched: 0 },
      added: 0,
    });
  });

  it("stops adding a pipeline's jobs at its daily ceiling, says so once on its route, and fails no other job", async () => {
    for (const name of ["a", "b", "c", "d"]) await upload(`uploads/${name}.jpg`);
    await upload("uploads/banners/e.jpg");
    const [social, banners] = appliedOf(`
pipelines:
  social:
    targets: ["1:1", "9:16"]
    output: { bucket: media, prefix: reformats/ }
    route: [social-events]
    budget: { uploadsPerDayUsd: 0.5 }
    triggers: [{ bucket: media, prefix: uploads/ }]
  banners:
    targets: ["3:1"]
    output: { bucket: banners-out }
    triggers: [{ bucket: media, prefix: uploads/banners/ }]
`);
    const announced: string[] = [];
    const spend = new Map<string, [number, number]>();
    const { ingest, queue, routeQueue } = intake([social!, banners!], {
      onBudgetExceeded: (event) => announced.push(event.data.reason.message),
      onSpend: (pipeline, usage, ceilings) => spend.set(pipeline, [usage.dayUsd, ceilings.perDayUsd]),
    });
    // Two jobs of $0.10 each per image: a, b fit ($0.40), c's first fits ($0.50), the rest do not.
    const first = await ingest([object("uploads/a.jpg"), object("uploads/b.jpg"), object("uploads/c.jpg")]);
    expect(first).toMatchObject({ added: 5, overBudget: 1 });
    // What the spend gauges show: the day's counted spend against the ceiling ($10 by default).
    expect(spend.get("social")?.[1]).toBe(0.5);
    expect(spend.get("social")?.[0]).toBeCloseTo(0.5, 6);
    const second = await ingest([object("uploads/d.jpg"), object("uploads/banners/e.jpg")]);
    expect(second).toMatchObject({ added: 1, overBudget: 4 });
    const jobs = await queue.getJobs(["waiting"]);
    expect(jobs.map((job) => `${job.data.labels.pipeline} ${job.data.source.key}`).sort()).toEqual([
      "banners uploads/banners/e.jpg",
      "social uploads/a.jpg",
      "social uploads/a.jpg",
      "social uploads/b.jpg",
      "social uploads/b.jpg",
      "social uploads/c.jpg",
    ]);
    const events = await routeQueue("social-events").getJobs(["waiting"]);
    expect(events.map((event) => event.data)).toEqual([
      expect.objectContaining({
        type: BUDGET_EXCEEDED_EVENT_TYPE,
        subject: "social",
        data: expect.objectContaining({
          pipeline: "social",
          window: "day",
          ceilingUsd: 0.5,
          spentUsd: 0.5,
          refused: expect.objectContaining({
            source: "s3://media/uploads/c.jpg",
            target: "9x16",
            costUsd: 0.1,
          }),
        }),
      }),
    ]);
    expect(announced).toEqual([
      "s3://media/uploads/c.jpg (9x16, $0.10) was not added: pipeline social's uploads spent $0.50 of $0.50 in the last 24 hours",
    ]);
  });

  it("counts nothing for a file that is no image: the worker fails it at plan, without a provider call", async () => {
    await client.send(
      new PutObjectCommand({ Bucket: "media", Key: "uploads/notes.jpg", Body: "not an image" }),
    );
    const [social] = appliedOf(`
pipelines:
  social:
    targets: ["1:1"]
    output: { bucket: media, prefix: reformats/ }
    budget: { uploadsPerDayUsd: 0.01 }
    triggers: [{ bucket: media, prefix: uploads/ }]
`);
    const { ingest } = intake([social!]);
    expect(await ingest([object("uploads/notes.jpg")])).toMatchObject({ added: 1, overBudget: 0 });
  });

  it("throws when a header cannot be read now (S3 unreachable), so that the notifier retries the event", async () => {
    const unreachable = createS3Client({
      endpoint: "http://127.0.0.1:9",
      region: "us-east-1",
      forcePathStyle: true,
      credentials: { accessKeyId: "x", secretAccessKey: "y" },
    });
    const { ingest, queue } = intake(applied, { s3: unreachable });
    await expect(ingest([object("uploads/banners/red flower.jpg")])).rejects.toThrow();
    expect(await queue.count()).toBe(0);
    unreachable.destroy();
  });
});
