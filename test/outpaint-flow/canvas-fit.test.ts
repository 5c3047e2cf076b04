import { mkdtemp, readFile, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { GetObjectCommand, PutObjectCommand } from "@aws-sdk/client-s3";
import { enqueueMany, type OutpaintJobInput, outpaintEventSchema, readOutpaintResult } from "@reframe/jobs";
import { LOCAL_BUCKETS, type LocalStack, startLocalStack } from "@reframe/local-stack";
import sharp from "sharp";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { cliEnvironment, planNumber, runCli } from "../bulk/bulk-fixture.ts";
import { emulatorCounters, jobStates, type StackClients, stackClients } from "./stack-fixture.ts";

/**
 * Canvases that fit, over real processes (Redis, the embedded S3, the emulator rendering, a worker,
 * the CLI): a 512×512 photo sent to an Instagram story fills its width, and the pixels read back from
 * the output are the photo's, resized, at its anchor; a 32×32 image is refused at plan, on its first
 * attempt, and the dry run counts it as refused.
 */

const QUADRANTS = ["#e0163a", "#16c060", "#2050e8", "#f0d020"] as const;

/** Four flat quadrants: a source misplaced, misscaled or flipped does not match. */
function quadrants(side: number): Promise<Buffer> {
  const half = side / 2;
  const [a, b, c, d] = QUADRANTS;
  const svg = `<svg xmlns="http://www.w3.org/2000/svg" width="${side}" height="${side}">
  <rect width="${half}" height="${half}" fill="${a}"/><rect x="${half}" width="${half}" height="${half}" fill="${b}"/>
  <rect y="${half}" width="${half}" height="${half}" fill="${c}"/><rect x="${half}" y="${half}" width="${half}" height="${half}" fill="${d}"/>
</svg>`;
  return sharp(Buffer.from(svg)).flatten().png().toBuffer();
}

async function upload(clients: StackClients, key: string, body: Buffer): Promise<void> {
  await clients.s3.send(
    new PutObjectCommand({ Bucket: LOCAL_BUCKETS.sources, Key: key, Body: body, ContentType: "image/png" }),
  );
}

async function download(clients: StackClients, bucket: string, key: string): Promise<Buffer> {
  const object = await clients.s3.send(new GetObjectCommand({ Bucket: bucket, Key: key }));
  return Buffer.from(await object.Body!.transformToByteArray());
}

/** Mean absolute difference per channel (0–255) of two RGB images of one size. */
async function meanDifference(a: sharp.Sharp, b: sharp.Sharp): Promise<number> {
  const [x, y] = await Promise.all([a.removeAlpha().raw().toBuffer(), b.removeAlpha().raw().toBuffer()]);
  expect(x.length).toBe(y.length);
  let sum = 0;
  for (let i = 0; i < x.length; i += 1) sum += Math.abs(x[i]! - y[i]!);
  return sum / x.length;
}

/** The anchor is not part of the output key: each anchor gets a prefix of its own. */
const story = (key: string, anchor?: "bottom"): OutpaintJobInput => ({
  source: { kind: "s3", bucket: LOCAL_BUCKETS.sources, key },
  target: { kind: "preset", name: "instagram-story", ...(anchor ? { anchor } : {}) },
  output: { bucket: LOCAL_BUCKETS.outputs, prefix: `fit-${anchor ?? "center"}/`, format: "PNG" },
  route: ["fit-done"],
});

let stack: LocalStack;
let clients: StackClients;
let photo: Buffer;
let reports: string;

beforeAll(async () => {
  stack = await startLocalStack({
    workers: 1,
    webhooks: true,
    emulatorEnv: { EMULATOR_LATENCY_MS: "50-150" },
  });
  clients = stackClients(stack);
  photo = await quadrants(512);
  reports = await mkdtemp(join(tmpdir(), "reframe-fit-"));
});

afterAll(async () => {
  await clients?.close();
  await stack?.stop();
  if (reports) await rm(reports, { recursive: true, force: true });
});

describe("canvases that fit", () => {
  it("a 512×512 photo to instagram-story comes out 1080×1920 with the photo filling the width, at its anchor", async () => {
    await upload(clients, "fit/photo.png", photo);
    const { jobIds } = await enqueueMany(clients.queue, [
      story("fit/photo.png"),
      story("fit/photo.png", "bottom"),
    ]);
    await expect
      .poll(() => jobStates(clients.queue, jobIds), { timeout: 60_000, interval: 250 })
      .toEqual({ completed: 2 });
    // The photo at the planned scale, resized as the worker does (sharp's Lanczos).
    const expected = await sharp(photo).resize(1080, 1080, { fit: "fill" }).png().toBuffer();
    const events = await clients.routeQueue("fit-done").getJobs(["waiting", "completed", "delayed"]);
    for (const [index, top] of [420, 840].entries()) {
      const done = await clients.queue.getJob(jobIds[index]!);
      expect(done!.returnvalue).toMatchObject({
        sourceScale: 1080 / 512,
        generatedShare: 0.4375,
        exactSizeMet: true,
        variants: [{ width: 1080, height: 1920, contentType: "image/png" }],
      });
      const output = await download(
        clients,
        LOCAL_BUCKETS.outputs,
        readOutpaintResult(done!.returnvalue)!.variants[0]!.key,
      );
      expect(await sharp(output).metadata()).toMatchObject({ width: 1080, height: 1920 });
      // The source's pixels fill the width, from `top` down, 1080 rows: the story's middle for the
      // centre anchor, its bottom for the bottom anchor.
      const region = sharp(output).extract({ left: 0, top, width: 1080, height: 1080 });
      expect(await meanDifference(region, sharp(expected))).toBeLessThan(2);
      // Each quadrant's colour sits where the scaled photo puts it.
      const pixel = async (x: number, y: number) => [
        ...(await sharp(output)
          .extract({ left: x, top: y, width: 1, height: 1 })
          .removeAlpha()
          .raw()
          .toBuffer()),
      ];
      const rgb = (hex: string) => [1, 3, 5].map((at) => Number.parseInt(hex.slice(at, at + 2), 16));
      const corners: [number, number][] = [
        [8, top + 8],
        [1071, top + 8],
        [8, top + 1071],
        [1071, top + 1071],
      ];
      for (const [corner, [x, y]] of corners.entries()) {
        const found = await pixel(x, y);
        const colour = rgb(QUADRANTS[corner]!);
        for (const channel of [0, 1, 2])
          expect(Math.abs(found[channel]! - colour[channel]!)).toBeLessThanOrEqual(3);
      }
      const event = events.find((e) => outpaintEventSchema.parse(e.data).data.jobId === jobIds[index]);
      expect(event?.data).toMatchObject({
        type: "reframe.outpaint.completed.v1",
        data: { sourceScale: 1080 / 512, generatedShare: 0.4375 },
      });
    }
  });

  it("a source of the story's shape is a copy at the planned scale: resized to 1080×1920, no provider call, no cost", async () => {
    const small = await sharp(photo).resize(540, 960, { fit: "fill" }).png().toBuffer();
    await upload(clients, "fit-copy/tall.png", small);
    const submitsBefore = (await emulatorCounters(stack)).totals.submits ?? 0;
    const { jobIds } = await enqueueMany(clients.queue, [story("fit-copy/tall.png")]);
    await expect
      .poll(() => jobStates(clients.queue, jobIds), { timeout: 30_000, interval: 250 })
      .toEqual({ completed: 1 });
    const done = await clients.queue.getJob(jobIds[0]!);
    expect(done!.returnvalue).toMatchObject({
      costUsd: 0,
      sourceScale: 2,
      generatedShare: 0,
      variants: [{ width: 1080, height: 1920 }],
    });
    const output = await download(
      clients,
      LOCAL_BUCKETS.outputs,
      readOutpaintResult(done!.returnvalue)!.variants[0]!.key,
    );
    const expected = await sharp(small).resize(1080, 1920, { fit: "fill" }).png().toBuffer();
    expect(await meanDifference(sharp(output), sharp(expected))).toBeLessThan(2);
    expect((await emulatorCounters(stack)).totals.submits ?? 0).toBe(submitsBefore);
  });

  it("a 32×32 image to a story is refused at plan on its first attempt; the dry run counts it as refused; the report shows scale and share", async () => {
    await upload(clients, "fit-run/photo.png", photo);
    await upload(clients, "fit-run/tiny.png", await quadrants(32));
    const env = cliEnvironment(stack);
    const args = [
      "bulk",
      "--source",
      `s3://${LOCAL_BUCKETS.sources}/fit-run/`,
      "--target",
      "preset:instagram-story",
      "--prefix",
      "fit-run-out/",
      "--format",
      "png",
    ];
    const dry = await runCli([...args, "--dry-run"], env);
    expect(dry.code).toBe(0);
    expect(planNumber(dry.stdout, "outpaint")).toBe(1);
    expect(planNumber(dry.stdout, "scaled up")).toBe(1);
    expect(planNumber(dry.stdout, "refused")).toBe(1);
    expect(dry.stdout).toContain("reasons: generated-share-over-limit 1");
    expect(planNumber(dry.stdout, "estimated cost")).toBe(0.2);
    expect(dry.stdout).toContain(
      "fit-run/photo.png → instagram-story  1080×1920  source ×2.11  44% generated  $0.20",
    );
    expect(dry.stdout).toContain(
      "fit-run/tiny.png → instagram-story  refused: generated-share-over-limit: 99% of the canvas would be generated; the limit is 90%",
    );

    const submitsBefore = (await emulatorCounters(stack)).totals.submits ?? 0;
    const report = join(reports, "index.html");
    const run = await runCli([...args, "--report", report], env);
    expect(run.code, run.stderr).toBe(1);
    expect(run.stdout).toMatch(/cost\s+\$0\.20 \(estimated \$0\.20\)/);
    const failed = (await clients.queue.getFailed()).filter(
      (job) => job.data.source.key === "fit-run/tiny.png",
    );
    expect(failed).toHaveLength(1);
    expect(failed[0]!.attemptsMade).toBe(1);
    expect(failed[0]!.failedReason).toBe(
      "generated-share-over-limit: 99% of the canvas would be generated; the limit is 90% (the source 32×32 scaled ×4 to 128×128 on a 1080×1920 canvas)",
    );
    // Only the photo reached the provider.
    expect((await emulatorCounters(stack)).totals.submits).toBe(submitsBefore + 1);
    const html = await readFile(report, "utf8");
    expect(html).toContain("instagram-story → 1080×1920, source ×2.11, 44% generated");
    expect(html).toContain("generated-share-over-limit");
  });
});
