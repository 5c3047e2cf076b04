import { randomUUID } from "node:crypto";
import { deflateRawSync } from "node:zlib";
import { createRedisClient } from "@reframe/redis";
import { useRedisServer } from "@reframe/testkit";
import type { Queue } from "bullmq";
import { describe, expect, it } from "vitest";
import { createAdmission } from "./admission.ts";
import { type BatchStore, batchKeys, createBatchStore } from "./batch-store.ts";
import { parseOutpaintJob } from "./enqueue.ts";
import { type OutpaintJob, outpaintJobId } from "./outpaint-job.ts";
import { createOutpaintQueue } from "./queues.ts";

const server = useRedisServer();
const BATCH = "bulk-0123456789ab";

function fixture() {
  const prefix = `{t-${randomUUID()}}`;
  const redis = createRedisClient(server.url, { role: "worker" });
  const store = createBatchStore(redis, { prefix });
  const queue = createOutpaintQueue({ connection: redis, prefix });
  server.closers.push(async () => {
    await queue.close();
    await redis.quit();
  });
  const keys = batchKeys(prefix, BATCH);
  return {
    redis,
    store,
    queue,
    keys,
    admission: (options: { store?: BatchStore; queue?: Queue } = {}) =>
      createAdmission(redis, {
        queue: options.queue ?? queue,
        store: options.store ?? store,
        prefix,
        chunkSize: 2,
      }),
    async register(jobs: readonly OutpaintJob[], window = 100) {
      const writer = createAdmission(redis, { queue, store, prefix }).writeStream(BATCH, { window });
      await writer.write(jobs);
      return writer.commit();
    },
  };
}

const job = (n: number): OutpaintJob =>
  parseOutpaintJob({
    source: { kind: "s3", bucket: "sources", key: `library/${n}.jpg` },
    target: { kind: "ratio", ratio: "4:5" },
    output: { bucket: "outputs" },
    labels: { batchId: BATCH, requester: "bulk" },
  });

describe("admission", () => {
  it("a slice whose adds failed after it joined the batch is admitted again, each job added and counted once", async () => {
    const f = fixture();
    await f.store.open(BATCH, { kind: "bulk", createdAt: 1 });
    const jobs = [1, 2, 3, 4, 5].map(job);
    await f.register(jobs);
    let failures = 1;
    const failing = new Proxy(f.queue, {
      get(target, property, receiver) {
        if (property === "addBulk" && failures > 0) {
          failures -= 1;
          return async () => {
            throw new Error("connection lost");
          };
        }
        return Reflect.get(target, property, receiver);
      },
    });
    await expect(f.admission({ queue: failing }).admit(BATCH)).rejects.toThrow("connection lost");
    // Every job joined the batch before the add that failed.
    expect((await f.store.status(BATCH))?.total).toBe(5);
    const result = await f.admission().admit(BATCH);
    expect(result).toMatchObject({ admitted: 5, finished: true, closed: false });
    expect(await f.queue.getWaitingCount()).toBe(5);
    expect((await f.queue.getJobs(["waiting"])).map((added) => added.id).sort()).toEqual(
      jobs.map(outpaintJobId).sort(),
    );
    expect(await f.store.status(BATCH)).toMatchObject({ total: 5, inFlight: 5 });
  });

  it("a run started again while the admitter seals after the last job: the batch stays open for the new stream and closes once", async () => {
    const f = fixture();
    await f.store.open(BATCH, { kind: "bulk", createdAt: 1 });
    await f.register([job(1)]);
    expect(await f.admission().admit(BATCH)).toMatchObject({ admitted: 1, finished: true, closed: false });
    // A stream wholly admitted whose last job ended: the record reads position = jobs, nothing
    // pending. Between the admitter's read and its seal, the same command runs again and registers a
    // stream with a new job.
    await f.redis.hdel(f.keys.batch, "sealedAt");
    await f.redis.del(f.keys.pending);
    const racing: BatchStore = {
      ...f.store,
      async seal(batchId, options) {
        if (options?.admitted) await f.register([job(1), job(2)]);
        racing.seal = f.store.seal;
        return f.store.seal(batchId, options);
      },
    };
    const result = await f.admission({ store: racing }).admit(BATCH);
    expect(result).toMatchObject({ admitted: 2, added: 1, existing: 1, finished: true, closed: false });
    const status = await f.store.status(BATCH);
    expect(status?.closedAt).toBeUndefined();
    expect(status).toMatchObject({ total: 2, inFlight: 1 });
    expect(await f.redis.smembers(f.keys.pending)).toEqual([outpaintJobId(job(2))]);
    // The sealed batch closes when the new job ends, and only then.
    expect(
      await f.store.recordEnd(BATCH, outpaintJobId(job(2)), {
        state: "completed",
        source: "s3://sources/library/2.jpg",
        target: "4x5",
        costUsd: 0.1,
        durationMs: 1_000,
        outputs: [],
        endedAt: 5_000,
      }),
    ).toBe("closed");
  });

  it("admits a stream registered before chunks carried job ids (a plain array of jobs)", async () => {
    const f = fixture();
    await f.store.open(BATCH, { kind: "bulk", createdAt: 1 });
    const jobs = [1, 2, 3].map(job);
    await f.register(jobs);
    await f.redis.lset(f.keys.stream, 0, deflateRawSync(JSON.stringify(jobs)));
    expect(await f.admission().admit(BATCH)).toMatchObject({ admitted: 3, added: 3, finished: true });
    expect((await f.queue.getJobs(["waiting"])).map((added) => added.id).sort()).toEqual(
      jobs.map(outpaintJobId).sort(),
    );
  });
});
