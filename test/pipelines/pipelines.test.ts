import { mkdtemp, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { ListObjectsV2Command, PutObjectCommand } from "@aws-sdk/client-s3";
import { enqueueMany, RUN_COMPLETED_EVENT_TYPE } from "@reframe/jobs";
import { LOCAL_BUCKETS, type LocalStack, startLocalStack } from "@reframe/local-stack";
import { BUDGET_EXCEEDED_EVENT_TYPE, createPipelineStore, pipelineSchema } from "@reframe/pipelines";
import { readImageDimensions } from "@reframe/storage";
import sharp from "sharp";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { job, type StackClients, stackClients, uploadSource } from "../outpaint-flow/stack-fixture.ts";
import { reframe } from "../reframe-cli.ts";

/**
 * Pipelines over real processes: the CLI applies a file to Redis, the worker process runs scheduled
 * runs, and the embedded S3's event stream feeds upload triggers, exactly as in `npm run demo -- --serve`.
 * Then the money guards: the runaway loop (outputs written where a trigger watches), a trigger's daily ceiling, and the workers'
 * SPEND_LIMIT_USD_PER_DAY (last: it replaces the stack's worker).
 */

const pipelinesFile = (cron: string) => `
pipelines:
  nightly:
    source: { bucket: ${LOCAL_BUCKETS.sources}, prefix: library/ }
    targets: ["16:9", "1:1"]
    output: { bucket: ${LOCAL_BUCKETS.outputs}, prefix: nightly/, format: PNG }
    schedule: { cron: "${cron}", timezone: Europe/Paris }
    route: [nightly-done]
  uploads:
    targets: ["1:1", "9:16"]
    output: { bucket: ${LOCAL_BUCKETS.sources}, prefix: reformats/, format: PNG }
    triggers: [{ bucket: ${LOCAL_BUCKETS.sources}, prefix: incoming/, suffix: [.jpg] }]
`;

/** The runaway loop: outputs land next to the uploads, where the trigger watches. */
const LOOP = {
  targets: ["16:9"],
  output: { bucket: LOCAL_BUCKETS.sources, prefix: "out/", keyTemplate: "{dir}{name}-{target}.{ext}" },
  triggers: [{ bucket: LOCAL_BUCKETS.sources, prefix: "drop/" }],
};

async function keysUnder(clients: StackClients, prefix: string): Promise<string[]> {
  const listed = await clients.s3.send(
    new ListObjectsV2Command({ Bucket: LOCAL_BUCKETS.sources, Prefix: prefix }),
  );
  return (listed.Contents ?? []).map((object) => object.Key!).sort();
}

describe("pipelines", () => {
  let stack: LocalStack;
  let clients: StackClients;
  let directory: string;
  beforeAll(async () => {
    directory = await mkdtemp(join(tmpdir(), "reframe-pipelines-"));
    stack = await startLocalStack({
      workers: 1,
      uploadTriggers: true,
      emulatorEnv: { EMULATOR_LATENCY_MS: "50-150" },
    });
    clients = stackClients(stack);
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

  it("a pipelines file applied twice changes nothing the second time", async () => {
    const first = await apply(pipelinesFile("0 2 * * *"));
    expect(first.code).toBe(0);
    expect(first.stdout).toMatch(/^nightly: created, next run \S+\nuploads: created\n$/);
    const listed = await reframe(["pipelines", "list"], stack.workerEnvironment);
    const second = await apply(pipelinesFile("0 2 * * *"));
    expect(second.stdout).toBe(first.stdout.replaceAll("created", "unchanged"));
    expect((await reframe(["pipelines", "list"], stack.workerEnvironment)).stdout).toBe(listed.stdout);
    expect(listed.stdout).toContain("nightly: 0 2 * * * Europe/Paris, next");
  });

  it("a bad file is refused with every problem named, and nothing changes", async () => {
    const result = await apply(pipelinesFile("0 25 * * *").replace('"1:1", "9:16"', '"1:1", "tall"'));
    expect(result.code).toBe(2);
    expect(result.stderr).toContain("pipeline nightly: schedule.cron 0 25 * * * is not a cron expression");
    expect(result.stderr).toContain("pipeline uploads: targets.1 tall: unknown preset tall");
    expect(result.stderr).not.toMatch(/\n\s+at /);
    expect((await reframe(["pipelines", "list"], stack.workerEnvironment)).stdout).toContain("0 2 * * *");
  });

  it("a scheduled run fires, enqueues the library, and announces run-completed when its last job ends", async () => {
    for (const name of ["a", "b", "c"]) await uploadSource(clients.s3, `library/${name}.jpg`, 96, 64);
    // Every two seconds, for this test; the first tick's run does the work, later ones find it done.
    expect((await apply(pipelinesFile("*/2 * * * * *"))).stdout).toContain("nightly: updated");
    const events = clients.routeQueue("nightly-done");
    await expect
      .poll(
        async () =>
          (await events.getJobs(["waiting"])).filter(
            (event) => event.name === RUN_COMPLETED_EVENT_TYPE && event.data.data.completed === 6,
          ).length,
        { timeout: 30_000, interval: 250 },
      )
      .toBeGreaterThanOrEqual(1);
    await apply(pipelinesFile("0 2 * * *"));
    const [completed] = (await events.getJobs(["waiting"])).filter(
      (event) => event.data.data.completed === 6,
    );
    expect(completed?.data).toMatchObject({
      type: RUN_COMPLETED_EVENT_TYPE,
      subject: expect.stringMatching(/^nightly-\d{8}T\d{6}Z$/),
      data: { pipeline: "nightly", total: 6, failed: 0 },
    });
    const dimensions = await readImageDimensions({
      client: clients.s3,
      bucket: LOCAL_BUCKETS.outputs,
      key: "nightly/16x9/library/a.png",
    });
    expect(dimensions).toMatchObject({ width: 114, height: 64 });
    // Later ticks over the unchanged library added nothing: six jobs in all.
    const runs = await reframe(["pipelines", "runs", "nightly"], stack.workerEnvironment);
    const lines = runs.stdout.trim().split("\n");
    expect(lines.filter((line) => line.includes("3 sources, 6 jobs, 6 added"))).toHaveLength(1);
    expect(
      lines
        .filter((line) => !line.includes("6 added"))
        .every((line) => line.includes(", 0 added, 6 already")),
    ).toBe(true);
  });

  it("an image dropped under the watched prefix gets its reformats; its outputs and a repeat trigger nothing", async () => {
    const bytes = await sharp({ create: { width: 120, height: 80, channels: 3, background: "#2a6" } })
      .jpeg()
      .toBuffer();
    const drop = (Key: string) =>
      clients.s3.send(new PutObjectCommand({ Bucket: LOCAL_BUCKETS.sources, Key, Body: bytes }));
    await drop("incoming/red flower.jpg");
    const expected = [
      { key: "reformats/1x1/incoming/red flower.png", width: 120, height: 120 },
      { key: "reformats/9x16/incoming/red flower.png", width: 120, height: 213 },
    ];
    for (const output of expected) {
      await expect
        .poll(
          () =>
            readImageDimensions({ client: clients.s3, bucket: LOCAL_BUCKETS.sources, key: output.key }).catch(
              () => undefined,
            ),
          { timeout: 20_000, interval: 250 },
        )
        .toMatchObject({ width: output.width, height: output.height });
    }
    await drop("incoming/red flower.jpg");
    await stack.uploads!.settled();
    const jobs = await clients.queue.getJobs(["completed", "waiting", "delayed", "active", "failed"]);
    const fromUploads = jobs.filter((job) => job.data.labels.pipeline === "uploads");
    expect(fromUploads).toHaveLength(2);
    expect(fromUploads.every((job) => job.data.source.key === "incoming/red flower.jpg")).toBe(true);
  });

  it("apply refuses the runaway loop's file, naming the pipeline and the rule, and changes nothing", async () => {
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
    const listed = await reframe(["pipelines", "list"], stack.workerEnvironment);
    expect(listed.stdout).toContain("uploads: no schedule");
    expect(listed.stdout).not.toContain("rockets");
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
      await expect.poll(() => limited.output()).toContain('"alert":"spendCeiling"');

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
