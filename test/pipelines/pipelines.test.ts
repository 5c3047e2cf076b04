import { mkdtemp, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { PutObjectCommand } from "@aws-sdk/client-s3";
import { LOCAL_BUCKETS, type LocalStack, startLocalStack } from "@reframe/demo";
import { RUN_COMPLETED_EVENT_TYPE } from "@reframe/jobs";
import { readImageDimensions } from "@reframe/storage";
import sharp from "sharp";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { type PipelineClients, pipelineClients, uploadSource } from "../pipeline/pipeline-fixture.ts";
import { reframe } from "../reframe-cli.ts";

/**
 * Pipelines over real processes: the CLI applies a file to Redis, the worker process runs scheduled
 * runs, and the embedded S3's event stream feeds upload triggers, exactly as in `npm run demo -- --serve`.
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

describe("pipelines", () => {
  let stack: LocalStack;
  let clients: PipelineClients;
  let directory: string;
  beforeAll(async () => {
    directory = await mkdtemp(join(tmpdir(), "reframe-pipelines-"));
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
});
