import { createServer } from "node:http";
import type { AddressInfo } from "node:net";
import { PassThrough } from "node:stream";
import type { S3Client } from "@aws-sdk/client-s3";
import { type JobPlan, outpaintJobSchema, type TaskOutcomeRecord, type TaskState } from "@reframe/jobs";
import { answersOf, type ImageInferenceTask } from "@reframe/runware";
import { createS3Client, PresignDeadlineError } from "@reframe/storage";
import { createLogger } from "@reframe/telemetry";
import fc from "fast-check";
import { afterAll, describe, expect, it } from "vitest";
import { buildProviderTask, sendTasks } from "./submit-step.ts";
import type { OutpaintDeps } from "./worker-deps.ts";

// Presigning is local computation: the client never connects.
const s3 = createS3Client({
  endpoint: "http://127.0.0.1:9",
  region: "us-east-1",
  forcePathStyle: true,
  credentials: { accessKeyId: "AKIDEXAMPLE", secretAccessKey: "secret" },
});
afterAll(() => s3.destroy());

const job = outpaintJobSchema.parse({
  source: { kind: "s3", bucket: "reframe-sources", key: "a.jpg" },
  target: { kind: "ratio", ratio: "16:9", anchor: "center" },
  output: { bucket: "reframe-outputs", format: "PNG" },
});

const plan: JobPlan = {
  margins: { top: 0, right: 16, bottom: 0, left: 16 },
  output: { width: 128, height: 72 },
  scaledSource: { width: 96, height: 72 },
  sourceScale: 1,
  generatedShare: 0.25,
  notes: [],
  costUsd: 0.1,
  exactSizeMet: true,
  requested: null,
  sourceRef: { kind: "s3", bucket: "reframe-sources", key: "a.jpg" },
  targetLabel: "16x9",
  contentType: "image/png",
};

function depsAt(now: number): OutpaintDeps {
  return {
    s3,
    now: () => now,
    webhook: undefined,
    logger: createLogger({ name: "submit-test", level: "silent", destination: new PassThrough() }),
  } as OutpaintDeps;
}

const task = (deadline: number): TaskState => ({
  variant: 0,
  generation: 0,
  taskUUID: "6f1d7a52-2f0e-5b9a-9d65-3c1f1b8b1a10",
  key: "16x9/a.png",
  confirmed: false,
  submitAttempts: 0,
  deadline,
});

/** When a SigV4 presigned URL stops working: X-Amz-Date plus X-Amz-Expires seconds (epoch ms). */
function expiryOf(url: string): number {
  const params = new URL(url).searchParams;
  const date = params
    .get("X-Amz-Date")!
    .replace(/^(\d{4})(\d{2})(\d{2})T(\d{2})(\d{2})(\d{2})Z$/, "$1-$2-$3T$4:$5:$6Z");
  return Date.parse(date) + Number(params.get("X-Amz-Expires")) * 1000;
}

describe("presigned URLs of a provider task", () => {
  const now = Date.parse("2026-11-24T10:00:00.700Z");

  it("expire at the task's deadline when it is less than a minute away, not a minute later", async () => {
    const deadline = now + 30_500;
    const built = await buildProviderTask(job, plan, task(deadline), depsAt(now));
    for (const url of [built.uploadEndpoint!, built.inputs.image as string]) {
      expect(new URL(url).searchParams.get("X-Amz-Expires")).toBe("31");
      expect(expiryOf(url)).toBeLessThanOrEqual(deadline);
    }
  });

  it("never outlive the deadline and fall short of it by less than a second, for any clock and deadline", async () => {
    await fc.assert(
      fc.asyncProperty(
        fc.integer({ min: Date.parse("2026-01-01"), max: Date.parse("2030-01-01") }),
        fc.integer({ min: 1_000, max: 86_400_000 }),
        async (at, remaining) => {
          const deadline = at + remaining;
          const built = await buildProviderTask(job, plan, task(deadline), depsAt(at));
          const expiry = expiryOf(built.uploadEndpoint!);
          expect(expiry).toBeLessThanOrEqual(deadline);
          expect(expiry).toBeGreaterThan(deadline - 1_000);
        },
      ),
      { numRuns: 50 },
    );
  });

  it("are refused once the deadline has passed", async () => {
    await expect(buildProviderTask(job, plan, task(now - 1), depsAt(now))).rejects.toBeInstanceOf(
      PresignDeadlineError,
    );
  });
});

describe("sending a parked job's tasks", () => {
  const now = Date.parse("2026-11-24T10:00:00.000Z");
  const sent = { ...task(now + 600_000), submitAttempts: 1 };

  /** The provider's reply to the submit, read as the client reads it; the stored outcomes, kept. */
  function sendWith(
    reply: {
      status: number;
      retryAfter?: string;
      envelope: { data: unknown[]; errors: never[] | { code: string; message: string; taskUUID: string }[] };
    },
    storage?: S3Client,
  ) {
    const stored: [string, TaskOutcomeRecord][] = [];
    const deps = {
      ...depsAt(now),
      ...(storage ? { s3: storage } : {}),
      batcher: {
        submit: async (providerTask: ImageInferenceTask) =>
          answersOf([providerTask.taskUUID], { retryAfter: undefined, ...reply }, "submit").get(
            providerTask.taskUUID,
          )!,
      },
      taskStore: {
        storeOutcome: async (taskUUID: string, record: TaskOutcomeRecord) => {
          stored.push([taskUUID, record]);
          return { stored: true, jobId: "op-1" };
        },
      },
    } as unknown as OutpaintDeps;
    const providerTask = { taskUUID: sent.taskUUID } as ImageInferenceTask;
    return { result: sendTasks("op-1", [sent], [providerTask], deps, "out"), stored };
  }

  it("backs off a task the provider refused for now (a per-task rate limit), no earlier than Retry-After", async () => {
    const { result, stored } = sendWith({
      status: 429,
      retryAfter: "5",
      envelope: {
        data: [],
        errors: [{ code: "rateLimitExceeded", message: "slow down", taskUUID: sent.taskUUID }],
      },
    });
    const { retryAt, confirmed, storedOutcome, pause } = await result;
    expect(retryAt).toBeGreaterThanOrEqual(now + 5000);
    expect(confirmed).toEqual([]);
    expect([storedOutcome, pause, stored]).toEqual([false, undefined, []]);
  });

  it("backs off a per-task refusal for now without Retry-After too", async () => {
    const { result } = sendWith({
      status: 200,
      envelope: {
        data: [],
        errors: [{ code: "providerUnavailable", message: "busy", taskUUID: sent.taskUUID }],
      },
    });
    const { retryAt } = await result;
    expect(retryAt).toBeGreaterThanOrEqual(now + 500);
  });

  it("gives back the attempt of a source the provider could not fetch while S3 does not answer", async () => {
    const downloadFailed = {
      status: 400,
      envelope: {
        data: [],
        errors: [{ code: "downloadFailed", message: "connection refused", taskUUID: sent.taskUUID }],
      },
    };
    // The deps' S3 is on a closed port: out.
    const out = await sendWith(downloadFailed).result;
    expect(out.outage).toEqual([sent.taskUUID]);
    expect(out.retryAt).toBeGreaterThan(now);
    // S3 answering (a 404 is an answer): the provider's failure is its own, the attempt counts.
    const answering = createServer((_request, response) => {
      response.writeHead(404);
      response.end();
    });
    await new Promise<void>((resolve) => answering.listen(0, "127.0.0.1", resolve));
    const there = createS3Client({
      endpoint: `http://127.0.0.1:${(answering.address() as AddressInfo).port}`,
      region: "us-east-1",
      forcePathStyle: true,
      credentials: { accessKeyId: "AKIDEXAMPLE", secretAccessKey: "secret" },
    });
    try {
      const own = await sendWith(downloadFailed, there).result;
      expect(own.outage).toEqual([]);
      expect(own.retryAt).toBeGreaterThan(now);
    } finally {
      there.destroy();
      answering.close();
    }
  });

  it("confirms an accepted task and stores nothing", async () => {
    const { result, stored } = sendWith({
      status: 200,
      envelope: { data: [{ taskType: "imageInference", taskUUID: sent.taskUUID }], errors: [] },
    });
    const { retryAt, confirmed } = await result;
    expect([retryAt, confirmed, stored]).toEqual([undefined, [sent.taskUUID], []]);
  });

  it("stores a terminal refusal as the task's outcome, for the job's next run to fail on", async () => {
    const { result, stored } = sendWith({
      status: 400,
      envelope: {
        data: [],
        errors: [{ code: "invalidOutputQuality", message: "too low", taskUUID: sent.taskUUID }],
      },
    });
    const { retryAt, storedOutcome } = await result;
    expect([retryAt, storedOutcome]).toEqual([undefined, true]);
    expect(stored).toEqual([[sent.taskUUID, expect.objectContaining({ kind: "error", via: "sync" })]]);
  });
});
