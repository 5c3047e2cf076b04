import { mkdtemp, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { PutObjectCommand } from "@aws-sdk/client-s3";
import { OUTPAINT_LIMITS, parseTargetSpec, planCanvas, type Target } from "@reframe/geometry";
import { type AwkwardFileName, awkwardLibrary } from "@reframe/images/testing";
import { readOutpaintResult } from "@reframe/jobs";
import { LOCAL_BUCKETS, type LocalStack, startLocalStack } from "@reframe/local-stack";
import type { Job } from "bullmq";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { cliEnvironment, planNumber, runCli } from "../bulk/bulk-fixture.ts";
import { type StackClients, stackClients } from "../outpaint-flow/stack-fixture.ts";
import { reframe } from "../reframe-cli.ts";

/**
 * A library of awkward files, the kind real libraries hold, through `reframe bulk` and through an
 * upload trigger (the API's S3 event intake), over real processes: Redis, the embedded S3, the
 * emulator rendering (it refuses 16-bit and CMYK inputs, as the provider may), the worker and the
 * API. Every file ends completed with its planned size, or failed with its terminal reason on the
 * first attempt.
 */

const TARGETS = ["16:9", "preset:instagram-story"] as const;
type TargetSpec = (typeof TARGETS)[number];

type ExpectedEnd =
  | { completed: true; prepared?: { conversions: string[]; animated?: boolean } }
  | { failed: string };
const completed = (prepared?: { conversions: string[]; animated?: boolean }): ExpectedEnd => ({
  completed: true,
  ...(prepared ? { prepared } : {}),
});
const failed = (code: string): ExpectedEnd => ({ failed: code });

/**
 * What each file must become, for both targets (the expected size is planCanvas of what a viewer
 * sees). Mostly generated canvases are refused at plan by the generated-share guard (90% by default):
 * the panorama at both targets, the 120×90 GIF and the 32×32 icon as a 1080×1920 story.
 */
const LIBRARY: Record<AwkwardFileName, Record<TargetSpec, ExpectedEnd>> = {
  "phone-rotated-6.jpg": both(completed({ conversions: ["EXIF orientation 6"] })),
  "phone-rotated-8.jpg": both(completed({ conversions: ["EXIF orientation 8"] })),
  "deep-16bit.png": both(completed({ conversions: ["16-bit"] })),
  "print-cmyk.jpg": both(completed({ conversions: ["CMYK"] })),
  "grey.jpg": both(completed({ conversions: ["grey"] })),
  "cutout-alpha.png": both(completed({ conversions: ["alpha"] })),
  "cutout-alpha.webp": both(completed({ conversions: ["WebP"] })),
  "scan.tiff": both(completed({ conversions: ["TIFF"] })),
  "photo.avif": both(completed({ conversions: ["AVIF"] })),
  "animated.gif": {
    "16:9": completed({ conversions: ["GIF"], animated: true }),
    // 120×90 scaled ×4 (the upscale cap) is 480×360 on 1080×1920: 92% generated.
    "preset:instagram-story": failed("generated-share-over-limit"),
  },
  // 8000×300 is 93% generated at 16:9 (2047×1151 around 2047×76) and 98% as a story.
  "panorama.jpg": both(failed("generated-share-over-limit")),
  // 57×32 at 16:9 is under the provider's 64 px minimum side; as a story, 99% would be generated.
  "icon-32.png": {
    "16:9": failed("too-small"),
    "preset:instagram-story": failed("generated-share-over-limit"),
  },
  "truncated.jpg": both(failed("sourceUnreadable")),
  "empty.jpg": both(failed("sourceUnreadable")),
  "notes.jpg": both(failed("sourceUnreadable")),
  "drawing.svg": both(failed("sourceUnsupported")),
  "bomb-40000.png": both(failed("sourceTooLarge")),
};

function both(outcome: ExpectedEnd): Record<TargetSpec, ExpectedEnd> {
  return { "16:9": outcome, "preset:instagram-story": outcome };
}

function targetOf(spec: TargetSpec): Target {
  const parsed = parseTargetSpec(spec);
  if (!parsed.ok) throw new Error(parsed.message);
  return parsed.target;
}

/** The output size planCanvas gives a source of the displayed size for the target. */
function plannedSize(displayed: { width: number; height: number }, spec: TargetSpec) {
  const planned = planCanvas({ source: displayed, target: targetOf(spec), limits: OUTPAINT_LIMITS });
  if (planned.ok) return planned.plan.output;
  throw new Error(`${JSON.stringify(displayed)} to ${spec}: ${planned.message}`);
}

let stack: LocalStack;
let clients: StackClients;
let files: Awaited<ReturnType<typeof awkwardLibrary>>;
let directory: string;

beforeAll(async () => {
  [stack, files] = await Promise.all([
    startLocalStack({ workers: 1, api: true, emulatorEnv: { EMULATOR_LATENCY_MS: "20-80" } }),
    awkwardLibrary(),
  ]);
  clients = stackClients(stack);
  directory = await mkdtemp(join(tmpdir(), "reframe-awkward-"));
}, 180_000);

afterAll(async () => {
  await clients?.close();
  await stack?.stop();
  if (directory) await rm(directory, { recursive: true, force: true });
});

async function upload(prefix: string): Promise<Map<string, { etag: string; size: number }>> {
  const uploaded = new Map<string, { etag: string; size: number }>();
  for (const file of files) {
    const reply = await clients.s3.send(
      new PutObjectCommand({
        Bucket: LOCAL_BUCKETS.sources,
        Key: `${prefix}${file.name}`,
        Body: file.bytes,
        ContentType: file.contentType,
      }),
    );
    uploaded.set(file.name, { etag: (reply.ETag ?? "").replaceAll('"', ""), size: file.bytes.length });
  }
  return uploaded;
}

/** Every job whose source is under `prefix`, once none of them is unfinished. */
async function finishedJobs(prefix: string, count: number): Promise<Job[]> {
  const mine = async () =>
    (await clients.queue.getJobs(["completed", "failed", "waiting", "active", "delayed"])).filter((job) =>
      String(job.data.source.key).startsWith(prefix),
    );
  await expect
    .poll(
      async () => {
        const jobs = await mine();
        const states = await Promise.all(jobs.map((job) => job.getState()));
        return states.filter((state) => state === "completed" || state === "failed").length;
      },
      { timeout: 240_000, interval: 500 },
    )
    .toBe(count);
  return Promise.all((await mine()).map(async (job) => (await clients.queue.getJob(job.id!))!));
}

/** Checks every job against the table: one job per file and target. */
function checkOutcomes(jobs: Job[], prefix: string): void {
  const seen: string[] = [];
  for (const job of jobs) {
    const name = String(job.data.source.key).slice(prefix.length) as AwkwardFileName;
    const spec: TargetSpec = job.data.target.kind === "preset" ? "preset:instagram-story" : "16:9";
    const expected = LIBRARY[name][spec];
    const where = `${name} → ${spec}`;
    seen.push(where);
    if ("failed" in expected) {
      // Failed on its first attempt: a terminal reason is known at plan and never retried.
      expect(job.attemptsMade, where).toBe(1);
      expect(job.finishedOn && !job.returnvalue, where).toBe(true);
      expect(job.failedReason, where).toMatch(new RegExp(`^${expected.failed}: `));
      continue;
    }
    expect(job.failedReason, where).toBeFalsy();
    const file = files.find((candidate) => candidate.name === name)!;
    const size = plannedSize(file.displayed!, spec);
    expect(readOutpaintResult(job.returnvalue)!.variants[0], where).toMatchObject({
      width: size.width,
      height: size.height,
    });
    if (expected.prepared) {
      expect(readOutpaintResult(job.returnvalue)!.preparedSource, where).toMatchObject({
        conversions: expected.prepared.conversions,
        animated: expected.prepared.animated ?? false,
      });
    }
  }
  expect(seen.sort()).toEqual(
    Object.keys(LIBRARY)
      .flatMap((name) => TARGETS.map((spec) => `${name} → ${spec}`))
      .sort(),
  );
}

describe("an awkward library", () => {
  it("through reframe bulk: the dry run counts the refusals, and every file ends as the table says", async () => {
    const prefix = "awkward-bulk/";
    await upload(prefix);
    const env = cliEnvironment(stack);
    const args = ["bulk", "--source", `s3://${LOCAL_BUCKETS.sources}/${prefix}`, "--include", "**/*"];
    for (const spec of TARGETS) args.push("--target", spec);
    args.push("--prefix", "awkward-out/");
    const dryRun = await runCli([...args, "--dry-run"], env);
    expect(dryRun.code, dryRun.stderr).toBe(0);
    const failures = Object.values(LIBRARY)
      .flatMap((row) => Object.values(row))
      .flatMap((outcome) => ("failed" in outcome ? [outcome.failed] : []));
    const unreadable = failures.filter((code) => code === "sourceUnreadable").length;
    expect(planNumber(dryRun.stdout, "refused")).toBe(failures.length - unreadable);
    expect(planNumber(dryRun.stdout, "unreadable")).toBe(unreadable);
    expect(dryRun.stdout).toContain("sourceTooLarge 2");
    expect(dryRun.stdout).toContain("sourceUnsupported 2");

    const run = await runCli(args, env);
    expect(run.code, run.stderr).toBe(1);
    checkOutcomes(await finishedJobs(prefix, files.length * TARGETS.length), prefix);
  }, 300_000);

  it("through an upload trigger and the API's S3 event intake: the same outcomes", async () => {
    const prefix = "awkward-drop/";
    const pipelines = join(directory, "pipelines.yaml");
    await writeFile(
      pipelines,
      `pipelines:
  awkward-uploads:
    targets: ["${TARGETS.join('", "')}"]
    output: { bucket: ${LOCAL_BUCKETS.outputs}, prefix: awkward-uploads/ }
    triggers: [{ bucket: ${LOCAL_BUCKETS.sources}, prefix: ${prefix} }]
`,
    );
    const applied = await reframe(["pipelines", "apply", pipelines], stack.workerEnvironment);
    expect(applied.code, applied.stderr).toBe(0);
    const uploaded = await upload(prefix);
    const records = [...uploaded].map(([name, object], index) => ({
      eventVersion: "2.1",
      eventSource: "aws:s3",
      eventName: "ObjectCreated:Put",
      s3: {
        bucket: { name: LOCAL_BUCKETS.sources },
        object: {
          key: encodeURIComponent(`${prefix}${name}`).replaceAll("%2F", "/"),
          size: object.size,
          eTag: object.etag,
          sequencer: `00${String(index).padStart(14, "0")}`,
        },
      },
    }));
    const response = await fetch(`${stack.api!.url}/v1/events/s3`, {
      method: "POST",
      headers: { "content-type": "application/json", authorization: `Bearer ${stack.api!.intakeToken}` },
      body: JSON.stringify({ Records: records }),
    });
    expect(response.status, await response.clone().text()).toBe(202);
    expect(await response.json()).toMatchObject({ added: files.length * TARGETS.length });
    checkOutcomes(await finishedJobs(prefix, files.length * TARGETS.length), prefix);
  }, 300_000);
});
