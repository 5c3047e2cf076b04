import { randomUUID } from "node:crypto";
import { PutObjectCommand, type S3Client } from "@aws-sdk/client-s3";
import { type EmbeddedS3, startEmbeddedS3 } from "@reframe/embedded-s3";
import {
  BATCH_COMPLETED_EVENT_TYPE,
  createBatchStore,
  createOutpaintQueue,
  openRouteQueues,
  RUN_COMPLETED_EVENT_TYPE,
} from "@reframe/jobs";
import { createRedisClient } from "@reframe/redis";
import { createS3Client } from "@reframe/storage";
import { useRedisServer } from "@reframe/testkit";
import type { Queue } from "bullmq";
import sharp from "sharp";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { applyPipelines } from "./apply.ts";
import { parsePipelinesFile } from "./pipeline-file.ts";
import { createPipelineStore } from "./pipeline-store.ts";
import { executeRun } from "./run.ts";
import { RUN_REFUSED_EVENT_TYPE } from "./run-events.ts";
import { createPipelineRunQueue } from "./run-queue.ts";

const server = useRedisServer();
let s3: EmbeddedS3;
let client: S3Client;

beforeAll(async () => {
  s3 = await startEmbeddedS3({
    buckets: ["library", "outputs"],
    accessKeyId: "run-key",
    secretAccessKey: "run-secret",
  });
  client = createS3Client({
    endpoint: s3.endpoint,
    region: "us-east-1",
    forcePathStyle: true,
    credentials: { accessKeyId: "run-key", secretAccessKey: "run-secret" },
  });
});
afterAll(async () => {
  client?.destroy();
  await s3?.close();
});

const png = (width: number, height: number, background = "#468") =>
  sharp({ create: { width, height, channels: 3, background } })
    .png()
    .toBuffer();
const put = async (Key: string, Body: Buffer) =>
  client.send(new PutObjectCommand({ Bucket: "library", Key, Body }));

async function fixture(budget = "") {
  const prefix = `{t-${randomUUID()}}`;
  const area = `run-${randomUUID().slice(0, 8)}/`;
  const connection = createRedisClient(server.url, { role: "worker" });
  const outpaintQueue = createOutpaintQueue({ connection, prefix });
  const runQueue = createPipelineRunQueue({ connection, prefix });
  const routes = openRouteQueues({ connection, prefix });
  const routeQueue = (name: string) => routes.queue(name) as Queue;
  server.closers.push(async () => {
    await Promise.all([outpaintQueue.close(), runQueue.close(), routes.close()]);
    await connection.quit();
  });
  const store = createPipelineStore(connection, { prefix });
  const batches = createBatchStore(connection, { prefix });
  await applyPipelines(
    parsePipelinesFile(`
pipelines:
  nightly:
    source: { bucket: library, prefix: ${area} }
    targets: ["16:9", "1:1"]
    output: { bucket: library, prefix: ${area}reformats/ }
    route: [done]
    ${budget}
`),
    { store, runQueue },
  );
  return {
    area,
    store,
    batches,
    outpaintQueue,
    routeQueue,
    deps: {
      store,
      batches,
      outpaintQueue,
      redis: connection,
      prefix,
      s3: client,
      routes,
      sourceLimits: { maxPixels: 100_000_000, maxBytes: 200_000_000 },
    },
  };
}

describe("executeRun", () => {
  it("enqueues every source × target into the run's batch, skipping its own outputs", async () => {
    const f = await fixture();
    await put(`${f.area}a.png`, await png(300, 100));
    await put(`${f.area}b.png`, await png(100, 300));
    await put(`${f.area}reformats/16x9/old.png`, await png(160, 90));
    const run = await executeRun("nightly", "nightly-r1", "manual", f.deps);
    expect(run).toMatchObject({ state: "enqueued", sources: 2, jobs: 4, added: 4, skipped: 0 });
    expect(await f.outpaintQueue.count()).toBe(4);
    expect(await f.batches.status("nightly-r1")).toMatchObject({
      total: 4,
      inFlight: 4,
      info: { kind: "pipeline-run", pipeline: "nightly", route: ["done"] },
    });
    const job = await f.outpaintQueue.getJob((await f.outpaintQueue.getJobs(["waiting"]))[0]!.id!);
    expect(job?.data.labels).toEqual({ batchId: "nightly-r1", pipeline: "nightly" });
    expect((await f.store.runs("nightly")).map((record) => record.runId)).toEqual(["nightly-r1"]);
  });

  it("the next run over an unchanged library adds nothing, closes at once and announces run-completed", async () => {
    const f = await fixture();
    await put(`${f.area}a.png`, await png(300, 100));
    await executeRun("nightly", "nightly-r1", "schedule", f.deps);
    const second = await executeRun("nightly", "nightly-r2", "schedule", f.deps);
    expect(second).toMatchObject({ added: 0, skipped: 2 });
    expect(await f.batches.status("nightly-r2")).toMatchObject({
      total: 0,
      skipped: { inFlight: 2 },
      closedAt: expect.any(Number),
    });
    const events = await f.routeQueue("done").getJobs(["waiting"]);
    expect(events.map((event) => [event.name, event.data.subject])).toEqual([
      [RUN_COMPLETED_EVENT_TYPE, "nightly-r2"],
    ]);
    expect(BATCH_COMPLETED_EVENT_TYPE).not.toBe(RUN_COMPLETED_EVENT_TYPE);

    await put(`${f.area}a.png`, await png(300, 100, "#a42"));
    const third = await executeRun("nightly", "nightly-r3", "schedule", f.deps);
    expect(third).toMatchObject({ added: 2, skipped: 0 });
  });

  it("running the same run id again (a retried run) adds nothing twice", async () => {
    const f = await fixture();
    await put(`${f.area}a.png`, await png(300, 100));
    await executeRun("nightly", "nightly-r1", "schedule", f.deps);
    const retried = await executeRun("nightly", "nightly-r1", "schedule", f.deps);
    expect(retried).toMatchObject({ added: 0 });
    expect(await f.batches.status("nightly-r1")).toMatchObject({ total: 2 });
    expect((await f.store.runs("nightly")).length).toBe(1);
  });

  it("admits a window of the run at a time: the rest waits in the batch's stream, not in the queue", async () => {
    const f = await fixture();
    for (const name of ["a", "b", "c"]) await put(`${f.area}${name}.png`, await png(300, 100));
    const run = await executeRun("nightly", "nightly-r1", "manual", { ...f.deps, window: 2 });
    expect(run).toMatchObject({ state: "enqueued", sources: 3, jobs: 6, added: 6, skipped: 0 });
    expect(await f.outpaintQueue.count()).toBe(2);
    expect(await f.batches.status("nightly-r1")).toMatchObject({
      total: 2,
      inFlight: 2,
      waiting: 4,
      sealedAt: undefined,
    });
  });

  it("a run estimated over its budget is refused: nothing enqueued, an event to the route", async () => {
    const f = await fixture("budget: { maxCostUsd: 0.3 }");
    await put(`${f.area}a.png`, await png(300, 100));
    await put(`${f.area}b.png`, await png(100, 300));
    const run = await executeRun("nightly", "nightly-r1", "schedule", f.deps);
    expect(run).toMatchObject({
      state: "refused",
      jobs: 4,
      estimatedCostUsd: 0.4,
      reason: expect.stringContaining("over the budget of $0.30"),
    });
    expect(await f.outpaintQueue.count()).toBe(0);
    const events = await f.routeQueue("done").getJobs(["waiting"]);
    expect(events.map((event) => event.name)).toEqual([RUN_REFUSED_EVENT_TYPE]);
    expect((await f.store.runs("nightly"))[0]).toMatchObject({ state: "refused" });
  });
});
