import { randomUUID } from "node:crypto";
import { createRedisClient } from "@reframe/redis";
import { useRedisServer } from "@reframe/testkit";
import type { Queue } from "bullmq";
import { describe, expect, it, vi } from "vitest";
import { enqueueMany, parseOutpaintJobs } from "./enqueue.ts";
import { formatIssuePath, JobValidationError } from "./errors.ts";
import { type OutpaintJobInput, outpaintJobSchema } from "./outpaint-job.ts";
import { createOutpaintQueue } from "./queues.ts";

const server = useRedisServer();
const { closers } = server;

/** A fresh queue under its own prefix, so tests never see each other's jobs. */
function freshQueue(): Queue {
  const connection = createRedisClient(server.url, { role: "producer" });
  const queue = createOutpaintQueue({ connection, prefix: `{t-${randomUUID()}}` });
  closers.push(async () => {
    await queue.close();
    await connection.quit();
  });
  return queue;
}

function input(n: number): OutpaintJobInput {
  return {
    source: { kind: "s3", bucket: "sources", key: `library/${n}.jpg`, etag: `etag-${n}` },
    target: { kind: "ratio", ratio: "4:5" },
    output: { bucket: "outputs" },
    labels: { batchId: "b1" },
  };
}

describe("enqueueMany, one job", () => {
  it("adds the job once: the same work enqueued again reports it as existing", async () => {
    const queue = freshQueue();
    const first = await enqueueMany(queue, [input(1)]);
    const second = await enqueueMany(queue, [{ ...input(1), labels: { batchId: "b2" } }]);
    expect(first.added).toBe(1);
    expect(second).toMatchObject({ jobIds: first.jobIds, added: 0, existing: 1 });
    expect(await queue.getJobCounts("wait", "delayed")).toEqual({ wait: 1, delayed: 0 });
    const job = await queue.getJob(first.jobIds[0]!);
    expect(job?.name).toBe("outpaint");
    expect(job?.data).toMatchObject({ labels: { batchId: "b1" }, options: { variants: 1 } });
  });

  it("refuses invalid input with a JobValidationError naming the field and adds nothing", async () => {
    const queue = freshQueue();
    const error = await enqueueMany(queue, [
      {
        ...input(1),
        output: { bucket: "outputs", format: "GIF" },
      } as never,
    ]).catch((caught: unknown) => caught);
    expect(error).toBeInstanceOf(JobValidationError);
    expect((error as JobValidationError).issues).toEqual([
      { path: ["inputs", 0, "output", "format"], rule: "must be one of JPG, PNG, WEBP" },
    ]);
    expect(await queue.count()).toBe(0);
  });

  it("honours delay", async () => {
    const queue = freshQueue();
    await enqueueMany(queue, [input(1)], { delay: 60_000 });
    expect(await queue.getJobCounts("wait", "delayed")).toEqual({ wait: 0, delayed: 1 });
  });
});

describe("parseOutpaintJobs", () => {
  it("gives exactly what parsing each job whole gives, shared fields or not", () => {
    const inputs: unknown[] = [
      ...Array.from({ length: 50 }, (_, n) => input(n)),
      { ...input(1), target: { kind: "preset", name: "x-header", anchor: "top" }, route: ["b", "a", "b"] },
      { ...input(2), options: { mode: "fast", variants: 2 }, output: { bucket: "outputs", format: "PNG" } },
      {
        source: { kind: "url", url: "https://x.example/a.jpg" },
        target: { kind: "ratio", ratio: "1:1" },
        output: { bucket: "outputs" },
      },
    ];
    expect(parseOutpaintJobs(inputs)).toEqual(inputs.map((one) => outpaintJobSchema.parse(one)));
  });

  it("names an unknown field and a bad shared field on every job that has it", () => {
    const bad = { bucket: "outputs", quality: 5 };
    const error = (() => {
      try {
        parseOutpaintJobs([
          { ...input(1), output: bad },
          { ...input(2), colour: "red" },
          { ...input(3), output: bad },
        ]);
      } catch (caught) {
        return caught as JobValidationError;
      }
    })();
    expect(error?.issues.map((issue) => formatIssuePath(issue.path))).toEqual([
      "inputs[0].output.quality",
      "inputs[1]",
      "inputs[2].output.quality",
    ]);
  });
});

describe("enqueueMany", () => {
  it("adds 1,200 inputs with 100 repeats through addBulk in chunks, once each", async () => {
    const queue = freshQueue();
    const addBulk = vi.spyOn(queue, "addBulk");
    const inputs = [
      ...Array.from({ length: 1_100 }, (_, n) => input(n)),
      ...Array.from({ length: 100 }, (_, n) => input(n * 7)),
    ];
    const result = await enqueueMany(queue, inputs);
    expect(result).toMatchObject({ added: 1_100, existing: 0, duplicates: 100 });
    expect(result.jobIds).toHaveLength(1_200);
    expect(result.jobIds[1_100 + 3]).toBe(result.jobIds[21]);
    expect(addBulk.mock.calls.map(([jobs]) => jobs.length)).toEqual([500, 500, 100]);
    expect(await queue.count()).toBe(1_100);

    const again = await enqueueMany(queue, inputs, { chunkSize: 1_000 });
    expect(again).toMatchObject({ added: 0, existing: 1_100, duplicates: 100 });
    expect(again.jobIds).toEqual(result.jobIds);
    expect(await queue.count()).toBe(1_100);
  });

  it("counts work already in the queue as existing", async () => {
    const queue = freshQueue();
    await enqueueMany(queue, [input(2)]);
    expect(await enqueueMany(queue, [input(1), input(2), input(3)])).toMatchObject({
      added: 2,
      existing: 1,
      duplicates: 0,
    });
  });

  it("adds nothing when inputs are invalid and names every one by index", async () => {
    const queue = freshQueue();
    const inputs = [input(1), { ...input(2), route: ["a:b"] }, { ...input(3), options: { variants: 0 } }];
    const error = await enqueueMany(queue, inputs).catch((caught: unknown) => caught);
    expect((error as JobValidationError).issues).toEqual([
      {
        path: ["inputs", 1, "route", 0],
        rule: "must be a queue name (letters, digits, '.', '_', '-') or webhook:<endpoint name> (no other ':')",
      },
      { path: ["inputs", 2, "options", "variants"], rule: "must be at least 1" },
    ]);
    expect(await queue.count()).toBe(0);
  });
});
