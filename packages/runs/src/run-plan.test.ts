import { mkdtemp, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { createAdmission, createBatchStore, createOutpaintQueue } from "@reframe/jobs";
import { createRedisClient } from "@reframe/redis";
import { createS3Client } from "@reframe/storage";
import { useRedisServer } from "@reframe/testkit";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { planRun, type RunRequest } from "./run-plan.ts";
import { openSources } from "./run-sources.ts";
import { streamPlan } from "./run-start.ts";

const server = useRedisServer();
let directory: string;

beforeAll(async () => {
  directory = await mkdtemp(join(tmpdir(), "reframe-plan-"));
});
afterAll(async () => {
  await rm(directory, { recursive: true, force: true });
});

/** Never called: every row carries its size. */
const s3 = createS3Client({
  endpoint: "http://127.0.0.1:9",
  region: "us-east-1",
  forcePathStyle: true,
  credentials: { accessKeyId: "unused", secretAccessKey: "unused" },
});

/** What `reframe bulk --manifest FILE --target 1:1 --bucket outputs` asks for. */
function manifestRun(batchId: string): RunRequest {
  return {
    batchId,
    template: {
      targets: [{ kind: "ratio", ratio: "1:1" }],
      output: { bucket: "outputs" },
      labels: { batchId, requester: "bulk" },
    },
    estimate: true,
  };
}

async function plan(request: RunRequest, manifest: string, deps: Parameters<typeof planRun>[2]) {
  const sources = await openSources(
    { kind: "manifest", path: manifest, format: "csv" },
    { s3, neverSources: [] },
  );
  return { plan: await planRun(request, sources, deps), sources };
}

describe("a streamed plan and its stream", () => {
  it("count a job repeated chunks apart once, admit each once, and add nothing when run again", async () => {
    const prefix = "{plan-test}";
    const redis = createRedisClient(server.url, { role: "worker" });
    const queue = createOutpaintQueue({ connection: redis, prefix });
    const store = createBatchStore(redis, { prefix });
    try {
      // 2,500 rows, the last 500 repeating the first 500: more than two plan chunks apart.
      const rows = Array.from(
        { length: 2500 },
        (_, i) => `lib,k${i % 2000}.jpg,${640 + ((i % 2000) % 3) * 64},480`,
      );
      const manifest = join(directory, "rows.csv");
      await writeFile(manifest, ["bucket,key,width,height", ...rows].join("\n"));
      const request = manifestRun("bulk-plan-test");
      const deps = {
        s3,
        queue,
        store,
        sourceFetch: () => Promise.reject(new Error("no URL sources here")),
        sourceLimits: { maxPixels: 100_000_000, maxBytes: 200_000_000 },
      };
      const first = await plan(request, manifest, deps);
      expect(first.plan).toMatchObject({ sources: 2500, jobs: 2000, duplicates: 500, toRun: 2000, done: 0 });
      expect(first.plan.estimate?.jobs).toBe(2000);
      expect(first.plan.planned?.total).toBe(2000);
      expect(first.plan.planned?.listed).toHaveLength(20);
      expect(await queue.getWaitingCount()).toBe(0);

      await store.open(first.plan.batchId, { kind: "bulk", createdAt: 1 });
      const admission = createAdmission(redis, { queue, store, prefix, chunkSize: 100 });
      const context = { queue, store };
      const window = { window: 10_000 };
      expect(await streamPlan(request, first.plan, first.sources, context, admission, window)).toEqual({
        jobs: 2000,
        stopped: false,
      });
      await first.sources.close();
      expect(await queue.getWaitingCount()).toBe(0);
      expect((await store.status(first.plan.batchId))?.waiting).toBe(2000);
      expect(await admission.admit(first.plan.batchId)).toMatchObject({ added: 2000, existing: 0 });
      expect(await queue.getWaitingCount()).toBe(2000);
      expect(await store.status(first.plan.batchId)).toMatchObject({ total: 2000, waiting: 0 });

      const again = await plan(request, manifest, deps);
      expect(again.plan).toMatchObject({
        batchId: first.plan.batchId,
        jobs: 2000,
        toRun: 0,
        inFlightInBatch: 2000,
      });
      // Every job is the batch's and in the queue: the stream is empty, nothing waits.
      expect(await streamPlan(request, again.plan, again.sources, context, admission, window)).toEqual({
        jobs: 0,
        stopped: false,
      });
      await again.sources.close();
      expect(await admission.admit(first.plan.batchId)).toBeUndefined();
      expect(await queue.getWaitingCount()).toBe(2000);
      expect((await store.status(first.plan.batchId))?.total).toBe(2000);
    } finally {
      await queue.close();
      redis.disconnect();
    }
  }, 60_000);

  it("names every bad row once the whole manifest was read, and writes nothing", async () => {
    const redis = createRedisClient(server.url, { role: "worker" });
    const queue = createOutpaintQueue({ connection: redis, prefix: "{plan-bad}" });
    try {
      const rows = Array.from({ length: 1500 }, (_, i) =>
        i === 1400 ? "lib,bad.jpg,0,480" : `lib,k${i}.jpg,640,480`,
      );
      const manifest = join(directory, "bad.csv");
      await writeFile(manifest, ["bucket,key,width,height", ...rows].join("\n"));
      await expect(
        plan(manifestRun("bulk-plan-bad"), manifest, {
          s3,
          queue,
          store: createBatchStore(redis, { prefix: "{plan-bad}" }),
          sourceFetch: () => Promise.reject(new Error("no URL sources here")),
          sourceLimits: { maxPixels: 100_000_000, maxBytes: 200_000_000 },
        }),
      ).rejects.toThrow(/1 bad row\n {2}line 1402: width must be at least 1/);
      expect(await redis.keys("{plan-bad}:batch*")).toEqual([]);
    } finally {
      await queue.close();
      redis.disconnect();
    }
  }, 60_000);
});
