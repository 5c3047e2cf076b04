import { execFile } from "node:child_process";
import { mkdtemp, rm, writeFile } from "node:fs/promises";
import { availableParallelism, tmpdir } from "node:os";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { promisify } from "node:util";
import { PutObjectCommand, type S3Client } from "@aws-sdk/client-s3";
import { OUTPAINT_LIMITS, planCanvas, type Size } from "@reframe/geometry";
import { photoLike } from "@reframe/images/testing";
import { enqueueMany, type OutpaintJobInput } from "@reframe/jobs";
import { LOCAL_BUCKETS, startLocalStack, workerAllocatorEnv } from "@reframe/local-stack";
import { cliEnvironment, runCli } from "../bulk/bulk-fixture.ts";
import { startBenchStack, waitUntilDrained } from "./bench-stack.ts";
import { type BenchmarkResult, figure } from "./figures.ts";
import { cpuMeter, peakRssBytes, processPid, profilerEnv, redisPid, rssBytes } from "./process-stats.ts";

export const IMAGES_FIGURES = [
  "images.workerPeakRss",
  "images.sourcesPerSecond",
  "images.bulkWorkerPeakRss",
] as const;

export interface ImagesOptions {
  /** Sources pre-scaled and outpainted in the first run (200: 24 MP JPEGs, every tenth an 8000×6000 PNG). */
  sources: number;
  photo: Size;
  png: Size;
  /** Photos of the bulk run on the demo stack, to two targets (60). */
  bulkPhotos: number;
}

const run = promisify(execFile);
const BARE_SHARP = fileURLToPath(new URL("./bare-sharp.ts", import.meta.url));
/** The ceiling for the worker's peak RSS through image work: 320 MB (305 MiB). */
const RSS_TARGET = 320_000_000;
const TARGET = { kind: "ratio", ratio: "1:1", anchor: "center" } as const;
/** Distinct encoded photos; the run uploads the same bytes under many keys. */
const DISTINCT_PHOTOS = 4;

interface Generated {
  name: string;
  bytes: Buffer;
  contentType: string;
  size: Size;
}

/**
 * Image work at the worker's defaults (IMAGE_CONCURRENCY = the CPU count, WORKER_CONCURRENCY 50):
 * N sources of 24 MP and more, none with known dimensions, all pre-scaled (1:1 of a 6000×4000 photo
 * breaks the provider's 2048 px limit) and outpainted by the emulator in throughput mode. Against
 * the same resizes in a bare sharp loop, one process, same settings and concurrency, in the same
 * run. Then sixty 24 MP photos to two targets through `reframe bulk` on the demo stack as users run
 * it (the emulator rendering): the worker's peak RSS again.
 */
export async function runImages(options: ImagesOptions): Promise<BenchmarkResult> {
  const started = Date.now();
  const directory = await mkdtemp(join(tmpdir(), "reframe-bench-images-"));
  try {
    const generated = await generate(options);
    const prescaled = await prescaleRun(generated, options.sources);
    const bare = await bareSharpRate(directory, generated, options.sources);
    const bulk = await bulkRun(
      generated.filter((g) => g.contentType === "image/jpeg"),
      options.bulkPhotos,
    );
    return {
      name: "images",
      durationMs: Date.now() - started,
      setup: {
        sources: options.sources,
        photo: options.photo,
        png: options.png,
        pngShare: 0.1,
        encodedBytes: Object.fromEntries(generated.map((g) => [g.name, g.bytes.length])),
        imageConcurrency: availableParallelism(),
        target: "1:1",
        emulatorMode: "throughput",
        secondsToDrain: prescaled.seconds,
        medianEnqueueToSubmitMs: prescaled.medianToSubmitMs,
        medianSubmitToCompletedMs: prescaled.medianProviderMs,
        cpuSecondsByProcess: prescaled.cpuSeconds,
        bareSeconds: bare.seconds,
        bareCpuSeconds: bare.cpuSeconds,
        bulk: { photos: options.bulkPhotos, targets: ["1:1", "9:16"], emulatorMode: "render", ...bulk.setup },
      },
      figures: [
        figure({
          id: IMAGES_FIGURES[0],
          label: `worker peak RSS, ${options.sources} sources pre-scaled`,
          value: prescaled.peakRss,
          unit: "bytes",
          baseline: { value: prescaled.idleRss, label: "idle worker" },
          target: { on: "value", op: "<=", limit: RSS_TARGET },
        }),
        figure({
          id: IMAGES_FIGURES[1],
          label: `sources pre-scaled and outpainted, ${options.sources}`,
          value: options.sources / prescaled.seconds,
          unit: "sources/s",
          baseline: { value: options.sources / bare.seconds, label: "bare sharp loop, same resizes" },
          target: { on: "ratio", op: ">=", limit: 0.7 },
        }),
        figure({
          id: IMAGES_FIGURES[2],
          label: `worker peak RSS, reframe bulk of ${options.bulkPhotos} photos to 2 targets`,
          value: bulk.peakRss,
          unit: "bytes",
          baseline: { value: bulk.idleRss, label: "idle worker" },
          target: { on: "value", op: "<=", limit: RSS_TARGET },
        }),
      ],
    };
  } finally {
    await rm(directory, { recursive: true, force: true });
  }
}

/** Noisy photos (distinct seeds) and one large PNG, encoded once at bench time. */
async function generate(options: ImagesOptions): Promise<Generated[]> {
  const photos: Generated[] = [];
  for (let seed = 1; seed <= DISTINCT_PHOTOS; seed += 1) {
    const bytes = await (await photoLike(options.photo.width, options.photo.height, seed, 64))
      .jpeg({ quality: 90 })
      .toBuffer();
    photos.push({ name: `photo-${seed}.jpg`, bytes, contentType: "image/jpeg", size: options.photo });
  }
  const png = await (await photoLike(options.png.width, options.png.height, 99, 1)).png().toBuffer();
  return [...photos, { name: "large.png", bytes: png, contentType: "image/png", size: options.png }];
}

/** Source i: every tenth the PNG, else a photo. */
function sourceOf(generated: Generated[], i: number): Generated {
  return i % 10 === 9 ? generated.at(-1)! : generated[i % DISTINCT_PHOTOS]!;
}

async function upload(s3: S3Client, keys: { key: string; source: Generated }[]): Promise<void> {
  let next = 0;
  await Promise.all(
    Array.from({ length: 4 }, async () => {
      while (next < keys.length) {
        const { key, source } = keys[next++]!;
        await s3.send(
          new PutObjectCommand({
            Bucket: LOCAL_BUCKETS.sources,
            Key: key,
            Body: source.bytes,
            ContentType: source.contentType,
          }),
        );
      }
    }),
  );
}

async function prescaleRun(generated: Generated[], sources: number) {
  const bench = await startBenchStack({
    workers: 1,
    webhooks: true,
    emulatorEnv: { EMULATOR_LATENCY_MS: "0" },
    workerEnv: profilerEnv(),
  });
  const s3 = bench.stack.s3Client();
  try {
    const keys = Array.from({ length: sources }, (_, i) => {
      const source = sourceOf(generated, i);
      return { key: `images/${i}-${source.name}`, source };
    });
    await upload(s3, keys);
    const worker = bench.stack.workers[0]!;
    const idleRss = rssBytes(worker.pid);
    const jobs: OutpaintJobInput[] = keys.map(({ key }) => ({
      source: { kind: "s3", bucket: LOCAL_BUCKETS.sources, key },
      target: TARGET,
      output: { bucket: LOCAL_BUCKETS.outputs, prefix: "images/out/", format: "JPG" },
    }));
    // CPU of each process of the stack over the run: where the worker's path spends what the bare
    // loop does not (S3 serving the source and taking the copy, the emulator fetching it).
    const meter = cpuMeter({
      worker: worker.pid,
      s3: processPid(bench.stack, "s3"),
      emulator: processPid(bench.stack, "emulator"),
      webhooks: bench.stack.webhookReceivers[0]!.pid,
      redis: await redisPid(bench.redis),
    });
    const t0 = performance.now();
    await enqueueMany(bench.queue, jobs);
    await waitUntilDrained(bench.queue, { intervalMs: 200, alive: bench.assertRunning, stallMs: 300_000 });
    const seconds = (performance.now() - t0) / 1000;
    const cpuSeconds = Object.fromEntries(
      Object.entries(meter.read()).map(([name, ms]) => [name, Math.round(ms / 10) / 100]),
    );
    // Where a job's time went: enqueue to submit (waiting for a slot, planning, pre-scaling), and
    // submit to completion (the provider, the output check).
    const timings = (await bench.queue.getJobs(["completed"])).map((job) => job.returnvalue.timings);
    const median = (values: number[]) => values.sort((a, b) => a - b)[Math.floor(values.length / 2)] ?? 0;
    return {
      idleRss,
      peakRss: peakRssBytes(worker.pid),
      seconds,
      cpuSeconds,
      medianToSubmitMs: median(timings.map((t) => t.submittedAt - t.enqueuedAt)),
      medianProviderMs: median(timings.map((t) => t.providerMs)),
    };
  } finally {
    s3.destroy();
    await bench.close();
  }
}

/** The size the worker scales each distinct source to (1:1 within the provider's limits). */
function plannedSize(size: Size): Size {
  const planned = planCanvas({ source: size, target: TARGET, limits: OUTPAINT_LIMITS });
  if (!planned.ok) throw new Error(`${size.width}×${size.height} to 1:1: ${planned.message}`);
  return planned.plan.scaledSource;
}

async function bareSharpRate(directory: string, generated: Generated[], count: number) {
  // The bare loop cycles through its files in name order: lay them out in the run's source order.
  const order = Array.from({ length: 10 }, (_, i) => sourceOf(generated, i));
  await Promise.all(
    order.map((source, i) =>
      writeFile(join(directory, `source-${i}.${source.name.split(".").pop()}`), source.bytes),
    ),
  );
  const sizes = order.map((source) => {
    const size = plannedSize(source.size);
    return `${size.width}x${size.height}`;
  });
  // Its own process, with the worker's allocator, so that the two differ only by reframe's own work.
  const { stdout } = await run(
    process.execPath,
    [BARE_SHARP, directory, String(count), String(availableParallelism()), ...sizes],
    { env: { ...process.env, ...workerAllocatorEnv() } },
  );
  return JSON.parse(stdout.trim().split("\n").at(-1)!) as { seconds: number; cpuSeconds: number };
}

/** Photos through `reframe bulk` on the demo stack (the emulator rendering), to 1:1 and 9:16. */
async function bulkRun(photos: Generated[], count: number) {
  const stack = await startLocalStack({ workers: 1, emulatorEnv: { EMULATOR_LATENCY_MS: "50-200" } });
  const s3 = stack.s3Client();
  try {
    await upload(
      s3,
      Array.from({ length: count }, (_, i) => ({
        key: `bulk-photos/${i}.jpg`,
        source: photos[i % photos.length]!,
      })),
    );
    const worker = stack.workers[0]!;
    const idleRss = rssBytes(worker.pid);
    const t0 = performance.now();
    const run = await runCli(
      [
        "bulk",
        "--source",
        `s3://${LOCAL_BUCKETS.sources}/bulk-photos/`,
        "--target",
        "1:1",
        "--target",
        "9:16",
        "--prefix",
        "bulk-out/",
      ],
      cliEnvironment(stack),
    );
    if (run.code !== 0) throw new Error(`reframe bulk ended with ${run.code}:\n${run.stdout}\n${run.stderr}`);
    return {
      idleRss,
      peakRss: peakRssBytes(worker.pid),
      setup: { seconds: (performance.now() - t0) / 1000 },
    };
  } finally {
    s3.destroy();
    await stack.stop();
  }
}
