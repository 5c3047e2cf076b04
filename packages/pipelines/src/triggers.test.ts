import { randomUUID } from "node:crypto";
import { createOutpaintQueue } from "@reframe/jobs";
import { createRedisClient } from "@reframe/redis";
import type { CreatedObject } from "@reframe/storage";
import { useRedisServer } from "@reframe/testkit";
import { describe, expect, it } from "vitest";
import { parsePipelinesFile } from "./pipeline-file.ts";
import { type AppliedPipeline, pipelineDigest } from "./pipeline-store.ts";
import { dispositionOf, ingestCreatedObjects, triggerMatches } from "./triggers.ts";

const server = useRedisServer();

const applied: AppliedPipeline[] = Object.entries(
  parsePipelinesFile(`
pipelines:
  social:
    targets: ["1:1", "9:16"]
    output: { bucket: media, prefix: reformats/ }
    triggers: [{ bucket: media, prefix: uploads/, suffix: [.jpg, .png], maxSize: 1000 }]
  banners:
    targets: ["3:1"]
    output: { bucket: banners-out }
    triggers: [{ bucket: media, prefix: uploads/banners/ }]
`).pipelines,
).map(([name, definition]) => ({ name, definition, digest: pipelineDigest(definition), appliedAt: 0 }));

const object = (key: string, more: Partial<CreatedObject> = {}): CreatedObject => ({
  bucket: "media",
  key,
  size: 500,
  eTag: "e1",
  versionId: undefined,
  sequencer: "0055AED6DCD90281E5",
  ...more,
});

describe("trigger rules", () => {
  it("match bucket, prefix, suffix (any case) and size", () => {
    const trigger = applied[0]!.definition.triggers[0]!;
    expect(triggerMatches(trigger, object("uploads/a b.JPG"))).toBe(true);
    expect(triggerMatches(trigger, object("uploads/a.gif"))).toBe(false);
    expect(triggerMatches(trigger, object("elsewhere/a.jpg"))).toBe(false);
    expect(triggerMatches(trigger, object("uploads/a.jpg", { bucket: "other" }))).toBe(false);
    expect(triggerMatches(trigger, object("uploads/a.jpg", { size: 1001 }))).toBe(false);
    expect(triggerMatches(trigger, object("uploads/a.jpg", { size: undefined }))).toBe(true);
  });

  it("an object under any pipeline's output prefix is an output, whatever matches it", () => {
    expect(dispositionOf(object("reformats/uploads/a.jpg"), applied).disposition).toBe("output");
    expect(
      dispositionOf(object("scratch/x.png"), applied, [{ bucket: "media", prefix: "scratch/" }]).disposition,
    ).toBe("output");
    expect(dispositionOf(object("uploads/banners/b.jpg"), applied).pipelines.map((p) => p.name)).toEqual([
      "social",
      "banners",
    ]);
    expect(dispositionOf(object("other/c.jpg"), applied).disposition).toBe("unmatched");
  });
});

describe("ingestCreatedObjects", () => {
  it("adds each matching pipeline's jobs once; a repeated event and an output add none", async () => {
    const connection = createRedisClient(server.url, { role: "worker" });
    const queue = createOutpaintQueue({ connection, prefix: `{t-${randomUUID()}}` });
    server.closers.push(async () => {
      await queue.close();
      await connection.quit();
    });
    const events = [
      object("uploads/banners/red flower.jpg"),
      object("reformats/1x1/uploads/x.jpg"),
      object("misc/y.jpg"),
    ];
    const first = await ingestCreatedObjects(events, { pipelines: applied, queue });
    expect(first).toMatchObject({
      objects: 3,
      dispositions: { matched: 1, output: 1, unmatched: 1 },
      added: 3,
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

    const again = await ingestCreatedObjects([events[0]!, events[0]!], { pipelines: applied, queue });
    expect(again).toMatchObject({ added: 0, duplicates: 6 });
    const changed = await ingestCreatedObjects([object("uploads/banners/red flower.jpg", { eTag: "e2" })], {
      pipelines: applied,
      queue,
    });
    expect(changed.added).toBe(3);
  });

  it("without an ETag, the sequencer tells one object version from the next", async () => {
    const connection = createRedisClient(server.url, { role: "worker" });
    const queue = createOutpaintQueue({ connection, prefix: `{t-${randomUUID()}}` });
    server.closers.push(async () => {
      await queue.close();
      await connection.quit();
    });
    const v1 = object("uploads/banners/b.png", { eTag: undefined, sequencer: "01" });
    expect((await ingestCreatedObjects([v1, v1], { pipelines: applied, queue })).added).toBe(3);
    expect(
      (await ingestCreatedObjects([{ ...v1, sequencer: "02" }], { pipelines: applied, queue })).added,
    ).toBe(3);
  });
});
