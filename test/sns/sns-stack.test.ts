import { readOutpaintResult } from "@reframe/jobs";
import { LOCAL_BUCKETS, type LocalStack, startLocalStack } from "@reframe/local-stack";
import {
  applyPipelines,
  createPipelineRunQueue,
  createPipelineStore,
  parsePipelinesFile,
} from "@reframe/pipelines";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { type StackClients, stackClients, uploadSource } from "../outpaint-flow/stack-fixture.ts";

/**
 * S3 → SNS → reframe over real processes, as `npm run demo -- --serve` runs it: the embedded S3's
 * bucket notifications are published to a local SNS topic (its own CA and signing certificate),
 * whose subscription (confirmed by the intake at start, Basic credentials in its URL) is the API
 * process's intake; the intake verifies each envelope and the worker makes the outputs.
 */
describe("S3 → SNS → reframe", () => {
  let stack: LocalStack;
  let clients: StackClients;
  beforeAll(async () => {
    stack = await startLocalStack({
      workers: 1,
      api: true,
      sns: true,
      uploadTriggers: "sns",
      emulatorEnv: { EMULATOR_LATENCY_MS: "50-150" },
    });
    clients = stackClients(stack);
    const runQueue = createPipelineRunQueue({ connection: clients.connection });
    await applyPipelines(
      parsePipelinesFile(`
pipelines:
  uploads:
    targets: ["1:1", "16:9"]
    output: { bucket: ${LOCAL_BUCKETS.outputs}, prefix: sns/ }
    triggers: [{ bucket: ${LOCAL_BUCKETS.sources}, prefix: incoming/, suffix: [.jpg] }]
`),
      { store: createPipelineStore(clients.connection), runQueue },
    );
    await runQueue.close();
  });
  afterAll(async () => {
    await clients?.close();
    await stack?.stop();
  });

  it("the intake confirmed the topic's subscription once at start, and logged it", () => {
    expect(stack.sns!.confirmations).toHaveLength(1);
    expect(stack.outputs()).toContain("SNS subscription confirmed");
  });

  it("an image dropped under the watched prefix gets its outputs, through SNS; the same event again adds nothing", async () => {
    await uploadSource(clients.s3, "incoming/red flower.jpg", 320, 200);
    await expect
      .poll(async () => (await clients.queue.getJobCounts("completed")).completed, { timeout: 30_000 })
      .toBe(2);
    const outputs = (await clients.queue.getJobs(["completed"])).flatMap((job) =>
      (readOutpaintResult(job.returnvalue)?.variants ?? []).map((variant) => variant.key),
    );
    expect(outputs.sort()).toEqual(["sns/16x9/incoming/red flower.jpg", "sns/1x1/incoming/red flower.jpg"]);
    const [answer] = await stack.sns!.publish(
      JSON.stringify({
        Records: [
          {
            eventName: "ObjectCreated:Put",
            s3: {
              bucket: { name: LOCAL_BUCKETS.sources },
              object: {
                key: "incoming/red+flower.jpg",
                eTag: (await clients.queue.getJobs(["completed"]))[0]!.data.source.etag,
              },
            },
          },
        ],
      }),
    );
    expect(answer!.status).toBe(202);
    expect(JSON.parse(answer!.body)).toMatchObject({ matched: 1, added: 0, duplicates: 2 });
  });
});
