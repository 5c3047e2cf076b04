import { PutObjectCommand, type S3Client } from "@aws-sdk/client-s3";
import { type EmbeddedS3, startEmbeddedS3 } from "@reframe/embedded-s3";
import { parseOutpaintJob } from "@reframe/jobs";
import { createS3Client } from "@reframe/storage";
import sharp from "sharp";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { estimateJob, estimateJobs, inspectSource, summarizeEstimates } from "./estimate.ts";
import { prefixItems } from "./expand.ts";

const job = (target: object, options: object = {}) =>
  parseOutpaintJob({
    source: { kind: "s3", bucket: "lib", key: "a.jpg", width: 1000, height: 1000 },
    target,
    output: { bucket: "out" },
    options,
  });
const size = (width: number, height: number) => ({ ok: true as const, size: { width, height } });

describe("estimateJob", () => {
  it("prices the planned canvas at $0.10 per started megapixel, per variant", () => {
    expect(estimateJob(job({ kind: "ratio", ratio: "16:9" }, { variants: 2 }), size(1000, 1000))).toEqual({
      kind: "outpaint",
      costUsd: 0.4,
      megapixels: ((1778 * 1000) / 1_048_576) * 2,
      output: { width: 1778, height: 1000 },
      sourceScale: 1,
      generatedShare: 1 - 1000 / 1778,
    });
  });

  it("prices an exact size at the fitted scale, and refuses what would be mostly generated", () => {
    const story = { kind: "preset", name: "instagram-story" };
    expect(estimateJob(job(story), size(512, 512))).toEqual({
      kind: "outpaint",
      costUsd: 0.2,
      megapixels: (1080 * 1920) / 1_048_576,
      output: { width: 1080, height: 1920 },
      sourceScale: 1080 / 512,
      generatedShare: 0.4375,
    });
    expect(estimateJob(job(story, { fit: "down-only" }), size(512, 512))).toMatchObject({ sourceScale: 1 });
    expect(estimateJob(job(story), size(32, 32))).toEqual({
      kind: "refused",
      code: "generated-share-over-limit",
      message:
        "99% of the canvas would be generated; the limit is 90% (the source 32×32 scaled ×4 to 128×128 on a 1080×1920 canvas)",
    });
    expect(estimateJob(job(story, { maxGeneratedShare: 1 }), size(32, 32))).toMatchObject({
      kind: "outpaint",
      costUsd: 0.2,
    });
    expect(estimateJob(job(story), size(540, 960))).toEqual({
      kind: "copy",
      output: { width: 1080, height: 1920 },
      sourceScale: 2,
    });
  });

  it("tells a pre-scaled canvas, a copy, a refusal and an unreadable source apart", () => {
    expect(estimateJob(job({ kind: "ratio", ratio: "4:1" }), size(2000, 2000))).toMatchObject({
      sourceScale: 0.2559744,
    });
    expect(estimateJob(job({ kind: "ratio", ratio: "1:1" }), size(500, 500))).toEqual({
      kind: "copy",
      output: { width: 500, height: 500 },
      sourceScale: 1,
    });
    expect(
      estimateJob(job({ kind: "ratio", ratio: "4:1" }, { overLimit: "fail" }), size(2000, 2000)),
    ).toMatchObject({ kind: "refused", code: "over-limit" });
    expect(
      estimateJob(job({ kind: "ratio", ratio: "1:1" }), { ok: false, code: "sourceNotFound", message: "x" }),
    ).toEqual({ kind: "unreadable", code: "sourceNotFound", message: "x" });
    expect(
      estimateJob(job({ kind: "ratio", ratio: "1:1" }), { ok: false, code: "sourceTooLarge", message: "x" }),
    ).toEqual({ kind: "refused", code: "sourceTooLarge", message: "x" });
    expect(
      estimateJob(job({ kind: "ratio", ratio: "1:1" }), {
        ok: false,
        code: "sourceUnsupported",
        message: "x",
      }),
    ).toEqual({ kind: "refused", code: "sourceUnsupported", message: "x" });
  });

  it("summarises counts, cost in whole cents and problems by code", () => {
    const summary = summarizeEstimates([
      estimateJob(job({ kind: "ratio", ratio: "16:9" }), size(1000, 1000)),
      estimateJob(job({ kind: "ratio", ratio: "4:1" }), size(2000, 2000)),
      estimateJob(job({ kind: "preset", name: "instagram-story" }), size(512, 512)),
      estimateJob(job({ kind: "preset", name: "instagram-story" }), size(32, 32)),
      { kind: "copy", output: { width: 500, height: 500 }, sourceScale: 1 },
      { kind: "unreadable", code: "sourceNotFound", message: "" },
      { kind: "unreadable", code: "sourceNotFound", message: "" },
    ]);
    expect(summary).toMatchObject({
      jobs: 7,
      outpaint: 3,
      prescaled: 1,
      upscaled: 1,
      copies: 1,
      refused: 1,
      unreadable: 2,
      // 1778×1000 is 2 started megapixels; 4:1 of 2000² pre-scales to 2048×512, exactly 1; a story 2.
      costUsd: 0.5,
      problems: { sourceNotFound: 2, "generated-share-over-limit": 1 },
    });
    expect(summary.generatedShare?.max).toBe(0.75);
    expect(summary.generatedShare?.mean).toBeCloseTo((1 - 1000 / 1778 + 0.75 + 0.4375) / 3, 12);
  });
});

describe("over the embedded S3", () => {
  let s3: EmbeddedS3;
  let client: S3Client;
  beforeAll(async () => {
    s3 = await startEmbeddedS3({
      buckets: ["lib", "out"],
      accessKeyId: "est-key",
      secretAccessKey: "est-secret",
    });
    client = createS3Client({
      endpoint: s3.endpoint,
      region: "us-east-1",
      forcePathStyle: true,
      credentials: { accessKeyId: "est-key", secretAccessKey: "est-secret" },
    });
    const png = (width: number, height: number) =>
      sharp({ create: { width, height, channels: 3, background: "#468" } })
        .png()
        .toBuffer();
    const put = async (Bucket: string, Key: string, Body: Buffer | string) =>
      client.send(new PutObjectCommand({ Bucket, Key, Body }));
    await put("lib", "photos/wide.png", await png(300, 100));
    await put("lib", "photos/sq.png", await png(200, 200));
    await put("lib", "photos/readme.txt", "not an image");
    await put("lib", "photos/fake.png", "not an image either");
    await put("lib", "photos/reformats/16x9/old.png", await png(160, 90));
  });
  afterAll(async () => {
    client?.destroy();
    await s3?.close();
  });

  it("lists a prefix's images with their ETags, leaving out the run's own output prefix", async () => {
    const items = [];
    for await (const item of prefixItems(
      client,
      { bucket: "lib", prefix: "photos/" },
      { neverSources: [{ bucket: "lib", prefix: "photos/reformats/" }] },
    ))
      items.push(item);
    expect(items.map((item) => item.origin).sort()).toEqual([
      "s3://lib/photos/fake.png",
      "s3://lib/photos/sq.png",
      "s3://lib/photos/wide.png",
    ]);
    expect(items[0]?.source).toMatchObject({ kind: "s3", etag: expect.stringMatching(/^[0-9a-f]{32}$/) });
  });

  it("reads each source's header once, and names what is missing or not an image", async () => {
    const read: string[] = [];
    const jobs = ["wide.png", "sq.png", "fake.png", "gone.png"].flatMap((key) =>
      ["16:9", "1:1"].map((ratio) =>
        parseOutpaintJob({
          source: { kind: "s3", bucket: "lib", key: `photos/${key}` },
          target: { kind: "ratio", ratio },
          output: { bucket: "out" },
        }),
      ),
    );
    const estimates = await estimateJobs(jobs, {
      dimensionsOf: (source) => {
        read.push(source.kind === "s3" ? source.key : source.url);
        return inspectSource(source, {
          s3: client,
          limits: { maxPixels: 100_000_000, maxBytes: 200_000_000 },
        });
      },
    });
    expect(read.sort()).toEqual(["photos/fake.png", "photos/gone.png", "photos/sq.png", "photos/wide.png"]);
    expect(
      estimates.map((estimate) => (estimate.kind === "unreadable" ? estimate.code : estimate.kind)),
    ).toEqual([
      "outpaint",
      "outpaint",
      "outpaint",
      "copy",
      "sourceUnreadable",
      "sourceUnreadable",
      "sourceNotFound",
      "sourceNotFound",
    ]);
  });
});
