import { randomUUID } from "node:crypto";
import { createRedisClient } from "@reframe/redis";
import { useRedisServer } from "@reframe/testkit";
import { Worker } from "bullmq";
import { describe, expect, it } from "vitest";
import { applyPipelines } from "./apply.ts";
import { parsePipelinesFile } from "./pipeline-file.ts";
import { createPipelineStore } from "./pipeline-store.ts";
import { createPipelineRunQueue, PIPELINE_RUNS_QUEUE, schedulerIdOf } from "./run-queue.ts";

const server = useRedisServer();

function fixture() {
  const prefix = `{t-${randomUUID()}}`;
  const connection = createRedisClient(server.url, { role: "worker" });
  const runQueue = createPipelineRunQueue({ connection, prefix });
  const store = createPipelineStore(connection, { prefix });
  server.closers.push(async () => {
    await runQueue.close();
    await connection.quit();
  });
  return { prefix, connection, runQueue, store };
}

const file = (cron: string, extra = "") =>
  parsePipelinesFile(`
pipelines:
  nightly:
    source: { bucket: library, prefix: banners/ }
    targets: ["16:9"]
    output: { bucket: outputs, prefix: out/ }
    schedule: { cron: "${cron}", timezone: Europe/Paris }
  manual:
    source: { bucket: library }
    targets: ["1:1"]
    output: { bucket: outputs, prefix: square/ }
${extra}`);

describe("applyPipelines", () => {
  it("creates schedulers, and applying the same file again changes nothing", async () => {
    const f = fixture();
    const first = await applyPipelines(file("0 2 * * *"), f);
    expect(first.map(({ pipeline, change }) => [pipeline, change])).toEqual([
      ["nightly", "created"],
      ["manual", "created"],
    ]);
    const scheduler = await f.runQueue.getJobScheduler(schedulerIdOf("nightly"));
    expect(scheduler).toMatchObject({ pattern: "0 2 * * *", tz: "Europe/Paris", next: first[0]?.nextRunAt });
    // 02:00 in Paris is 00:00 or 01:00 UTC, depending on the season.
    expect([0, 1]).toContain(new Date(first[0]!.nextRunAt!).getUTCHours());
    const storedBefore = await f.store.all();

    const second = await applyPipelines(file("0 2 * * *"), f);
    expect(second.map(({ change }) => change)).toEqual(["unchanged", "unchanged"]);
    expect(await f.runQueue.getJobScheduler(schedulerIdOf("nightly"))).toEqual(scheduler);
    expect(await f.store.all()).toEqual(storedBefore);
    expect(await f.runQueue.getJobSchedulersCount()).toBe(1);
  });

  it("updates a changed pipeline, removes one no longer in the file, and restores a deleted scheduler", async () => {
    const f = fixture();
    await applyPipelines(file("0 2 * * *"), f);
    await f.runQueue.removeJobScheduler(schedulerIdOf("nightly"));
    const restored = await applyPipelines(file("0 2 * * *"), f);
    expect(restored[0]?.change).toBe("updated");
    expect(await f.runQueue.getJobScheduler(schedulerIdOf("nightly"))).toBeDefined();

    const changed = await applyPipelines(
      parsePipelinesFile(`
pipelines:
  nightly:
    source: { bucket: library, prefix: banners/ }
    targets: ["16:9"]
    output: { bucket: outputs, prefix: out/ }
    schedule: { cron: "30 3 * * *" }
`),
      f,
    );
    expect(changed.map(({ pipeline, change }) => [pipeline, change])).toEqual([
      ["nightly", "updated"],
      ["manual", "removed"],
    ]);
    expect(await f.runQueue.getJobScheduler(schedulerIdOf("nightly"))).toMatchObject({
      pattern: "30 3 * * *",
      tz: "UTC",
    });
    expect((await f.store.all()).map((applied) => applied.name)).toEqual(["nightly"]);
  });

  it("a schedule fires: its scheduler adds a run job for the pipeline", async () => {
    const f = fixture();
    await applyPipelines(file("* * * * * *"), f);
    const runs: unknown[] = [];
    const worker = new Worker(
      PIPELINE_RUNS_QUEUE,
      async (job) => void runs.push({ id: job.id, data: job.data }),
      {
        connection: f.connection,
        prefix: f.prefix,
      },
    );
    server.closers.unshift(() => worker.close());
    await expect.poll(() => runs.length, { timeout: 5_000 }).toBeGreaterThanOrEqual(1);
    expect(runs[0]).toEqual({
      id: expect.stringMatching(/^repeat:pipeline-nightly:\d+$/),
      data: { pipeline: "nightly", trigger: "schedule" },
    });
  });
});
