import { PutObjectCommand } from "@aws-sdk/client-s3";
import { createBatchStore, enqueueMany, readOutpaintResult } from "@reframe/jobs";
import { LOCAL_BUCKETS, type LocalStack, startLocalStack } from "@reframe/local-stack";
import sharp from "sharp";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { reframe } from "../reframe-cli.ts";
import {
  emulatorCounters,
  job,
  jobStates,
  type StackClients,
  stackClients,
  uploadSource,
} from "./stack-fixture.ts";

describe("operating the outpaint flow", () => {
  let stack: LocalStack;
  let clients: StackClients;
  beforeAll(async () => {
    stack = await startLocalStack({
      workers: 1,
      webhooks: true,
      emulatorEnv: { EMULATOR_LATENCY_MS: "100-300" },
    });
    clients = stackClients(stack);
  });
  afterAll(async () => {
    await clients?.close();
    await stack?.stop();
  });

  it("reframe enqueue --wait prints the job id and, at the end, the output key and size", async () => {
    await uploadSource(clients.s3, "cli/a.jpg");
    const result = await reframe(
      ["enqueue", "--source", `s3://${LOCAL_BUCKETS.sources}/cli/a.jpg`, "--target", "16:9", "--wait"],
      stack.workerEnvironment,
    );
    expect(result.code).toBe(0);
    const [jobId] = result.stdout.trim().split("\n");
    expect(jobId).toMatch(/^op-[0-9a-f]+$/);
    expect(result.stdout).toMatch(
      new RegExp(`${jobId}: completed\\n {2}s3://${LOCAL_BUCKETS.outputs}/\\S+ {2}114x64 {2}\\d+ bytes`),
    );
    const status = await reframe(["status", jobId!], stack.workerEnvironment);
    expect(status.stdout).toContain(`${jobId}: completed`);
  });

  it("reframe enqueue --batch joins the batch: the job's end is counted there", async () => {
    await uploadSource(clients.s3, "cli/b.jpg");
    const result = await reframe(
      [
        "enqueue",
        "--source",
        `s3://${LOCAL_BUCKETS.sources}/cli/b.jpg`,
        "--target",
        "4:5",
        "--batch",
        "cli-batch",
        "--wait",
      ],
      stack.workerEnvironment,
    );
    expect(result.code).toBe(0);
    expect(await createBatchStore(clients.connection).status("cli-batch")).toMatchObject({
      info: { kind: "cli" },
      total: 1,
      completed: 1,
      inFlight: 0,
    });
  });

  it("scripts read --json; --version and each command's --help stand alone", async () => {
    const env = stack.workerEnvironment;
    const [version, bulkHelp, counts, listed, batch] = await Promise.all([
      reframe(["--version"], {}),
      reframe(["bulk", "--help"], {}),
      reframe(["queue", "counts", "--json"], env),
      reframe(["batch", "list", "--json"], env),
      reframe(["batch", "status", "cli-batch", "--json"], env),
    ]);
    expect(version.stdout).toMatch(/^reframe \d+\.\d+\.\d+\n$/);
    expect(bulkHelp.stdout).toMatch(/^reframe bulk --source/);
    expect(bulkHelp.stdout).not.toContain("reframe enqueue");
    expect(JSON.parse(counts.stdout)).toMatchObject({
      paused: false,
      counts: { completed: expect.any(Number) },
    });
    expect(JSON.parse(listed.stdout)).toEqual(
      expect.arrayContaining([expect.objectContaining({ batchId: "cli-batch", kind: "cli", completed: 1 })]),
    );
    expect(JSON.parse(batch.stdout)).toMatchObject({
      batchId: "cli-batch",
      total: 1,
      completed: 1,
      failed: 0,
    });
  });

  it("enqueueing the same work twice says so and adds nothing", async () => {
    const args = ["enqueue", "--source", `s3://${LOCAL_BUCKETS.sources}/cli/a.jpg`, "--target", "16:9"];
    const again = await reframe(args, stack.workerEnvironment);
    expect(again.stdout).toMatch(/already queued/);
  });

  it("bad input gets a message naming the flag and the rule, exit code 2, no stack trace", async () => {
    const badTarget = await reframe(
      ["enqueue", "--source", "s3://bucket/k.jpg", "--target", "16-9"],
      stack.workerEnvironment,
    );
    expect(badTarget.code).toBe(2);
    expect(badTarget.stderr).toMatch(/--target 16-9: expected a ratio/);
    expect(badTarget.stderr).not.toMatch(/\n\s+at /);
    const badQuality = await reframe(
      ["enqueue", "--source", "s3://bucket/k.jpg", "--target", "1:1", "--quality", "5"],
      stack.workerEnvironment,
    );
    expect(badQuality.code).toBe(2);
    // The same words as reframe bulk: the flag, not the job's field.
    expect(badQuality.stderr).toBe("reframe: --quality: must be at least 20\n");
    const noRedis = await reframe(["status", "op-x"], { REDIS_URL: "" });
    expect(noRedis.code).toBe(2);
    expect(noRedis.stderr).toContain("REDIS_URL: is required");
  });

  it("a refused API key pauses the queue and fails no job; jobs complete after a fix and a resume", async () => {
    const [worker] = stack.workers;
    await worker!.stop();
    const refused = await stack.startWorker({ RUNWARE_API_KEY: "revoked-key", JOB_RECHECK_MS: "2000" });
    await uploadSource(clients.s3, "pause/a.jpg");
    const { jobIds } = await enqueueMany(clients.queue, [
      job("pause/a.jpg", "16:9"),
      job("pause/a.jpg", "1:1"),
    ]);
    await expect.poll(() => clients.queue.isPaused(), { timeout: 20_000 }).toBe(true);
    expect((await jobStates(clients.queue, jobIds)).failed).toBeUndefined();
    expect(refused.output()).toMatch(/"alert":"queuePaused".*paused the outpaint queue/);
    await refused.stop();
    await stack.startWorker();
    expect((await reframe(["queue", "resume"], stack.workerEnvironment)).code).toBe(0);
    await expect
      .poll(() => jobStates(clients.queue, jobIds), { timeout: 90_000, interval: 500 })
      .toEqual({ completed: 2 });
  });

  it("a phone photo with EXIF orientation 6 is planned as displayed (portrait), not as stored", async () => {
    const stored = await sharp({ create: { width: 96, height: 64, channels: 3, background: "#468" } })
      .jpeg()
      .withMetadata({ orientation: 6 })
      .toBuffer();
    await clients.s3.send(
      new PutObjectCommand({ Bucket: LOCAL_BUCKETS.sources, Key: "exif/phone.jpg", Body: stored }),
    );
    const { jobIds } = await enqueueMany(clients.queue, [job("exif/phone.jpg", "16:9")]);
    await expect.poll(() => jobStates(clients.queue, jobIds), { timeout: 30_000 }).toEqual({ completed: 1 });
    const done = await clients.queue.getJob(jobIds[0]!);
    expect(readOutpaintResult(done!.returnvalue)!.variants[0]).toMatchObject({ width: 171, height: 96 });
  });

  it("a source already at the target completes as a copy, without a provider call or cost", async () => {
    await uploadSource(clients.s3, "at-target/a.jpg");
    const before = await emulatorCounters(stack);
    const { jobIds } = await enqueueMany(clients.queue, [job("at-target/a.jpg", "3:2")]);
    await expect.poll(() => jobStates(clients.queue, jobIds), { timeout: 30_000 }).toEqual({ completed: 1 });
    const done = await clients.queue.getJob(jobIds[0]!);
    expect(done!.returnvalue).toMatchObject({
      costUsd: 0,
      variants: [{ width: 96, height: 64, contentType: "image/png" }],
    });
    const after = await emulatorCounters(stack);
    expect(after.totals.submits).toBe(before.totals.submits);
  });

  it("a URL source on a private or metadata address fails the job as refused, without fetching it", async () => {
    const inputs = ["http://169.254.169.254/latest/meta-data/a.jpg", "http://127.0.0.1:9/a.jpg"].map(
      (url) => ({
        ...job("unused.jpg", "16:9"),
        source: { kind: "url", url },
      }),
    );
    const { jobIds } = await enqueueMany(clients.queue, inputs as never);
    await expect.poll(() => jobStates(clients.queue, jobIds), { timeout: 30_000 }).toEqual({ failed: 2 });
    for (const jobId of jobIds)
      expect((await clients.queue.getJob(jobId))!.failedReason).toMatch(/^sourceRefused: /);
  });

  it("SIGTERM stops a worker within its bound with exit code 0, and its jobs finish on another worker", async () => {
    const keys = Array.from({ length: 6 }, (_, i) => `sigterm/${i}.jpg`);
    for (const key of keys) await uploadSource(clients.s3, key);
    const { jobIds } = await enqueueMany(
      clients.queue,
      keys.map((key) => job(key, "9:16")),
    );
    const current = stack.workers.at(-1)!;
    const started = Date.now();
    expect(await current.stop("SIGTERM")).toBe(0);
    expect(Date.now() - started).toBeLessThan(20_000);
    await stack.startWorker();
    await expect
      .poll(() => jobStates(clients.queue, jobIds), { timeout: 90_000, interval: 500 })
      .toEqual({ completed: jobIds.length });
  });
});
