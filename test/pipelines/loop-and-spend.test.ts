import { mkdtemp, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { ListObjectsV2Command } from "@aws-sdk/client-s3";
import { LOCAL_BUCKETS, type LocalStack, startLocalStack } from "@reframe/demo";
import { enqueueMany } from "@reframe/jobs";
import { BUDGET_EXCEEDED_EVENT_TYPE, createPipelineStore, pipelineSchema } from "@reframe/pipelines";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { job, type PipelineClients, pipelineClients, uploadSource } from "../pipeline/pipeline-fixture.ts";
import { reframe } from "../reframe-cli.ts";

/**
 * The money guards over real processes: the worker, the emulator writing through presigned URLs
 * into the embedded S3, whose own object-created events feed the upload triggers (the intake's
 * code), and the CLI as a user runs it.
 */

/** The runaway loop: outputs land next to the uploads, where the trigger watches. */
const LOOP = {
  targets: ["16:9"],
  output: { bucket: LOCAL_BUCKETS.sources, prefix: "out/", keyTemplate: "{dir}{name}-{target}.{ext}" },
  triggers: [{ bucket: LOCAL_BUCKETS.sources, prefix: "drop/" }],
};

async function keysUnder(clients: PipelineClients, prefix: string): Promise<string[]> {
  const listed = await clients.s3.send(
    new ListObjectsV2Command({ Bucket: LOCAL_BUCKETS.sources, Prefix: prefix }),
  );
  return (listed.Contents ?? []).map((object) => object.Key!).sort();
}

describe("money guards", () => {
  let stack: LocalStack;
  let clients: PipelineClients;
  let directory: string;
  beforeAll(async () => {
    directory = await mkdtemp(join(tmpdir(), "reframe-loop-"));
    stack = await startLocalStack({
      workers: 1,
      uploadTriggers: true,
      emulatorEnv: { EMULATOR_LATENCY_MS: "50-150" },
    });
    clients = pipelineClients(stack);
  });
  afterAll(async () => {
    await clients?.close();
    await stack?.stop();
    if (directory) await rm(directory, { recursive: true, force: true });
  });

  const apply = async (text: string) => {
    const file = join(directory, "pipelines.yaml");
    await writeFile(file, text);
    return reframe(["pipelines", "apply", file], stack.workerEnvironment);
  };

  it("apply refuses the issue's loop file, naming the pipeline and the rule, and stores nothing", async () => {
    const result = await apply(`
pipelines:
  rockets:
    targets: ["16:9"]
    output: { bucket: ${LOCAL_BUCKETS.sources}, prefix: out/, keyTemplate: "{dir}{name}-{target}.{ext}" }
    triggers: [{ bucket: ${LOCAL_BUCKETS.sources}, prefix: drop/ }]
`);
    expect(result.code).toBe(2);
    expect(result.stderr).toContain(
      `pipeline rockets: triggers.0 watches s3://${LOCAL_BUCKETS.sources}/drop/, where pipeline rockets writes its outputs (its key template {dir}{name}-{target}.{ext} starts with a per-source field, so its outputs can land anywhere in s3://${LOCAL_BUCKETS.sources}/)`,
    );
    expect(result.stderr).toContain("A trigger must not watch any pipeline's output area");
    expect((await reframe(["pipelines", "list"], stack.workerEnvironment)).stdout).toContain(
      "no pipelines applied",
    );
  });

  it("the same pipeline stored without apply's check makes exactly one output: the intake skips what the worker wrote", async () => {
    const store = createPipelineStore(clients.connection);
    await store.put("rockets", pipelineSchema.parse(LOOP), Date.now());
    await uploadSource(clients.s3, "drop/rocket.jpg", 96, 64);
    await expect
      .poll(() => keysUnder(clients, "drop/"), { timeout: 20_000, interval: 200 })
      .toEqual(["drop/rocket-16x9.jpg", "drop/rocket.jpg"]);
    const rockets = () => clients.queue.getJobs(["completed", "waiting", "delayed", "active", "failed"]);
    await expect
      .poll(async () => (await rockets()).filter((found) => found.data.labels.pipeline === "rockets").length)
      .toBe(1);
    const [only] = (await rockets()).filter((found) => found.data.labels.pipeline === "rockets");
    await expect.poll(() => only!.getState(), { timeout: 20_000 }).toBe("completed");
    // The output's own event has been taken by now (it left S3 before the job could complete).
    await stack.uploads!.settled();
    expect((await rockets()).filter((found) => found.data.labels.pipeline === "rockets")).toHaveLength(1);
    expect(await keysUnder(clients, "drop/")).toEqual(["drop/rocket-16x9.jpg", "drop/rocket.jpg"]);
    await store.remove("rockets");
  });

  it("a trigger over its daily ceiling stops adding jobs, says so once on its route, and fails none", async () => {
    const applied = await apply(`
pipelines:
  capped:
    targets: ["1:1"]
    output: { bucket: ${LOCAL_BUCKETS.outputs}, prefix: capped/ }
    route: [capped-events]
    budget: { uploadsPerDayUsd: 0.25 }
    triggers: [{ bucket: ${LOCAL_BUCKETS.sources}, prefix: capped/ }]
`);
    expect(applied.code).toBe(0);
    // Each upload is one job of $0.10 (one started megapixel): two fit under $0.25, two do not.
    for (const name of ["a", "b", "c", "d"]) await uploadSource(clients.s3, `capped/${name}.jpg`, 96, 64);
    await stack.uploads!.settled();
    const capped = async () =>
      (await clients.queue.getJobs(["completed", "waiting", "delayed", "active", "failed"])).filter(
        (found) => found.data.labels.pipeline === "capped",
      );
    await expect
      .poll(async () => Promise.all((await capped()).map((found) => found.getState())), { timeout: 20_000 })
      .toEqual(["completed", "completed"]);
    const events = (await clients.routeQueue("capped-events").getJobs(["waiting"])).filter(
      (event) => event.data.type === BUDGET_EXCEEDED_EVENT_TYPE,
    );
    // Announced once for the window, though two jobs were refused.
    expect(events).toHaveLength(1);
    expect(events[0]!.data.data).toMatchObject({
      pipeline: "capped",
      window: "day",
      ceilingUsd: 0.25,
      spentUsd: 0.2,
    });
    const runs = await reframe(["pipelines", "runs", "capped"], stack.workerEnvironment);
    expect(runs.stdout).toContain(
      "upload triggers spent $0.20 of $0.25 in the last 24 hours; 2 job(s) refused over a ceiling",
    );
    expect(runs.stdout).toMatch(
      /refused \S+: s3:\/\/reframe-sources\/capped\/[cd]\.jpg 1x1 \$0\.10 \(over the 24-hour ceiling\)/,
    );
    const list = await reframe(["pipelines", "list"], stack.workerEnvironment);
    expect(list.stdout).toContain(
      "capped: no schedule, 1 upload trigger(s)\n  upload triggers spent $0.20 of $0.25 in the last 24 hours",
    );
  });

  describe("SPEND_LIMIT_USD_PER_DAY", () => {
    it("pauses the queue at the ceiling, loses nothing, refuses a resume while it holds, and goes on under a higher one", async () => {
      // This stack's own worker goes: the limited one must be the only one taking jobs.
      await stack.workers[0]!.stop("SIGTERM");
      const limited = await stack.startWorker({ SPEND_LIMIT_USD_PER_DAY: "0.25", JOB_RECHECK_MS: "1000" });
      const keys = ["a", "b", "c", "d"].map((name) => `spend/${name}.jpg`);
      for (const key of keys) await uploadSource(clients.s3, key, 96, 64);
      // Four jobs of $0.10: two are sent, the third would pass $0.25.
      const { jobIds } = await enqueueMany(
        clients.queue,
        keys.map((key) => job(key, "16:9")),
      );
      await expect.poll(() => clients.queue.isPaused(), { timeout: 20_000 }).toBe(true);
      const states = async () =>
        (await Promise.all(jobIds.map(async (id) => (await clients.queue.getJob(id))!.getState()))).sort();
      // Paused: jobs already sent wait for a worker like the others; none has failed.
      expect(await states()).not.toContain("failed");
      expect(limited.output()).toContain('"alert":"spend-ceiling"');

      const list = await reframe(["pipelines", "list"], stack.workerEnvironment);
      expect(list.stdout).toMatch(
        /all jobs today \(UTC \d{4}-\d\d-\d\d\): \$0\.20 of \$0\.25 \(SPEND_LIMIT_USD_PER_DAY\); the queue is paused/,
      );
      const resume = await reframe(["queue", "resume"], stack.workerEnvironment);
      expect(resume.code).toBe(3);
      expect(resume.stdout).toContain("not resumed: the workers' planned spend today");
      expect(await clients.queue.isPaused()).toBe(true);

      // A higher ceiling: the restarted worker lifts the pause by itself, and the parked jobs finish.
      await limited.stop("SIGTERM");
      await stack.startWorker({ SPEND_LIMIT_USD_PER_DAY: "5", JOB_RECHECK_MS: "1000" });
      await expect.poll(() => clients.queue.isPaused(), { timeout: 20_000 }).toBe(false);
      await expect
        .poll(states, { timeout: 30_000 })
        .toEqual(["completed", "completed", "completed", "completed"]);
      expect((await reframe(["queue", "resume"], stack.workerEnvironment)).code).toBe(0);
    });
  });
});
