import { mkdir, writeFile } from "node:fs/promises";
import { join, resolve } from "node:path";
import { GetObjectCommand, type S3Client } from "@aws-sdk/client-s3";
import { createOutpaintQueue, enqueueMany, type OutpaintJobInput, readOutpaintResult } from "@reframe/jobs";
import { callerRedisEnv, LOCAL_BUCKETS, type LocalStack, startLocalStack } from "@reframe/local-stack";
import { ServiceUnreachableError } from "@reframe/reachability";
import { createRedisClient } from "@reframe/redis";
import type { Queue } from "bullmq";
import { type DemoRow, writeDemoReport } from "./demo-report.ts";
import { type UploadedSample, uploadSampleScenes } from "./sample-scenes.ts";
import { serve } from "./serve.ts";

/**
 * The quick-start demo: the whole outpaint flow on embedded defaults. Sample scenes go into the embedded
 * S3, a batch of reformats is enqueued, the worker drives the emulator (async submit, webhook or
 * polling, uploadEndpoint into S3), and each output's key and size is printed and shown in a page.
 */

const TARGETS = ["16:9", "9:16", "4:5", "preset:x-header"] as const;
const OUT_DIR = resolve(process.env.DEMO_OUT_DIR ?? "out/demo");
const TIMEOUT_MS = 5 * 60_000;

async function main(): Promise<number> {
  if (process.argv.includes("--serve")) return serve(OUT_DIR);
  const started = Date.now();
  console.log("starting Redis, the embedded S3, the emulator, the webhook receiver and a worker…");
  const redisEnv = callerRedisEnv(process.env);
  const stack = await startLocalStack(redisEnv ? { redisEnv } : {});
  try {
    return await runDemo(stack, started);
  } finally {
    await stack.stop();
  }
}

async function runDemo(stack: LocalStack, started: number): Promise<number> {
  const s3 = stack.s3Client();
  const connection = createRedisClient(stack.redisSettings, { role: "producer" });
  const queue = createOutpaintQueue({ connection, prefix: stack.redisSettings.prefix });
  try {
    const sources = await uploadSampleScenes(s3);
    const batchId = `demo-${new Date().toISOString().slice(0, 19).replace(/[-:T]/g, "")}`;
    const jobs: { sourceKey: string; target: string; input: OutpaintJobInput }[] = sources.flatMap((source) =>
      TARGETS.map((target) => ({ sourceKey: source.key, target, input: demoJob(source, target, batchId) })),
    );
    const { jobIds, added } = await enqueueMany(
      queue,
      jobs.map((job) => job.input),
    );
    console.log(
      `enqueued ${added} jobs (${sources.length} sources × ${TARGETS.length} targets), batch ${batchId}`,
    );
    const finished = await waitForAll(queue, jobIds);
    const rows = await collectRows(s3, sources, jobs, jobIds, finished);
    printRows(rows);
    const report = await writeDemoReport(OUT_DIR, rows);
    const failed = rows.reduce((n, row) => n + row.failures.length, 0);
    console.log(
      `\n${jobIds.length - failed} completed, ${failed} failed in ${((Date.now() - started) / 1000).toFixed(1)} s`,
    );
    console.log(`report: ${report}`);
    return failed === 0 ? 0 : 1;
  } finally {
    await queue.close();
    connection.disconnect();
    s3.destroy();
  }
}

function demoJob(source: UploadedSample, target: string, batchId: string): OutpaintJobInput {
  const spec = target.startsWith("preset:")
    ? { kind: "preset", name: target.slice("preset:".length) }
    : { kind: "ratio", ratio: target };
  return {
    source: { kind: "s3", bucket: LOCAL_BUCKETS.sources, key: source.key },
    target: { ...spec, anchor: "center" },
    output: { bucket: LOCAL_BUCKETS.outputs, prefix: "reformats/" },
    options: { mode: "high" },
    route: ["demo-completed"],
    labels: { batchId, pipeline: "demo", requester: "demo" },
  } as OutpaintJobInput;
}

type Finished = Map<string, { state: "completed" | "failed"; returnvalue: unknown; failedReason: string }>;

async function waitForAll(queue: Queue, jobIds: string[]): Promise<Finished> {
  const finished: Finished = new Map();
  let reported = -1;
  const deadline = Date.now() + TIMEOUT_MS;
  while (finished.size < jobIds.length) {
    if (Date.now() > deadline)
      throw new Error(`${jobIds.length - finished.size} jobs did not finish within ${TIMEOUT_MS / 1000} s`);
    for (const jobId of jobIds) {
      if (finished.has(jobId)) continue;
      const job = await queue.getJob(jobId);
      const state = job ? await job.getState() : "unknown";
      if (job && (state === "completed" || state === "failed")) {
        finished.set(jobId, { state, returnvalue: job.returnvalue, failedReason: job.failedReason });
      }
    }
    // A terminal gets one line redrawn; a log gets a line per change.
    if (process.stdout.isTTY) process.stdout.write(`\r${finished.size}/${jobIds.length} finished`);
    else if (finished.size !== reported) console.log(`${finished.size}/${jobIds.length} finished`);
    reported = finished.size;
    if (finished.size < jobIds.length) await new Promise((r) => setTimeout(r, 300));
  }
  if (process.stdout.isTTY) process.stdout.write("\n");
  return finished;
}

async function collectRows(
  s3: S3Client,
  sources: UploadedSample[],
  jobs: { sourceKey: string; target: string }[],
  jobIds: string[],
  finished: Finished,
): Promise<DemoRow[]> {
  const rows = new Map<string, DemoRow>();
  await mkdir(join(OUT_DIR, "sources"), { recursive: true });
  await mkdir(join(OUT_DIR, "outputs"), { recursive: true });
  for (const source of sources) {
    const file = `sources/${source.name}.jpg`;
    await writeFile(join(OUT_DIR, file), source.bytes);
    rows.set(source.key, {
      source: { key: source.key, file, width: source.width, height: source.height },
      outputs: [],
      failures: [],
    });
  }
  for (const [index, job] of jobs.entries()) {
    const row = rows.get(job.sourceKey)!;
    const done = finished.get(jobIds[index]!)!;
    if (done.state === "failed") {
      row.failures.push({ target: job.target, reason: done.failedReason });
      continue;
    }
    const result = readOutpaintResult(done.returnvalue);
    if (!result) throw new Error(`job ${jobIds[index]} completed without a result`);
    for (const variant of result.variants) {
      const file = `outputs/${variant.key.replaceAll("/", "_")}`;
      const object = await s3.send(new GetObjectCommand({ Bucket: result.bucket, Key: variant.key }));
      await writeFile(join(OUT_DIR, file), await object.Body!.transformToByteArray());
      row.outputs.push({
        target: job.target,
        key: variant.key,
        file,
        width: variant.width,
        height: variant.height,
        size: variant.size,
        costUsd: result.costUsd,
      });
    }
  }
  return [...rows.values()];
}

function printRows(rows: DemoRow[]): void {
  for (const row of rows) {
    console.log(`\n${row.source.key} (${row.source.width}×${row.source.height})`);
    for (const o of row.outputs) {
      console.log(
        `  ${o.target.padEnd(16)} s3://${LOCAL_BUCKETS.outputs}/${o.key}  ${o.width}×${o.height}  ${o.size} bytes`,
      );
    }
    for (const f of row.failures) console.log(`  ${f.target.padEnd(16)} FAILED: ${f.reason}`);
  }
}

try {
  process.exitCode = await main();
} catch (error) {
  // A service that does not answer (a REDIS_URL given) is one line, not a stack trace.
  if (!(error instanceof ServiceUnreachableError)) throw error;
  console.error(`demo: ${error.message}`);
  process.exitCode = 1;
}
