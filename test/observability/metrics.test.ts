import {
  alertEventType,
  createBatchStore,
  createOutpaintQueue,
  enqueueMany,
  type OutpaintJobInput,
} from "@reframe/jobs";
import { type LocalStack, startLocalStack } from "@reframe/local-stack";
import { createRedisClient } from "@reframe/redis";
import { type PrometheusSample, parsePrometheusText, sumSamples } from "@reframe/testkit";
import { Queue } from "bullmq";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { job, uploadSource } from "../outpaint-flow/stack-fixture.ts";

/**
 * The demo stack (worker, webhook receiver, API: each with METRICS_PORT) after one batch: every
 * process's /metrics answers on its own listener with the counters the README lists, and the worker's
 * completed-jobs counter matches the batch.
 */

let stack: LocalStack;
const sources = ["m/a.jpg", "m/b.jpg", "m/c.jpg"];
const ratios = ["16:9", "1:1"];

async function scrape(name: string): Promise<PrometheusSample[]> {
  const url = stack.metricsUrls.get(name);
  if (!url) throw new Error(`no metrics URL for ${name}`);
  const response = await fetch(url);
  expect(response.status).toBe(200);
  expect(response.headers.get("content-type")).toContain("text/plain");
  return parsePrometheusText(await response.text());
}

const names = (samples: PrometheusSample[]) => new Set(samples.map((sample) => sample.name));

describe("metrics on the demo stack", () => {
  let batchStatus: { total: number; completed: number; failed: number };
  let apiJobId: string;

  // Five processes start here; on a busy 2-core machine that alone can take most of a minute.
  beforeAll(async () => {
    stack = await startLocalStack({ api: true, workers: 1 });
  }, 180_000);

  afterAll(async () => {
    await stack?.stop();
  });

  it("runs one batch to its end (seven jobs complete, one a copy; one fails) and one API job", async () => {
    const s3 = stack.s3Client();
    const connection = createRedisClient(stack.redisSettings, { role: "worker" });
    const queue = createOutpaintQueue({ connection, prefix: "{reframe}" });
    try {
      for (const key of sources) await uploadSource(s3, key);
      // One job through the API (its metrics count requests and jobs added)…
      const posted = await fetch(`${stack.api!.url}/v1/jobs`, {
        method: "POST",
        headers: { authorization: `Bearer ${stack.api!.token}`, "content-type": "application/json" },
        body: JSON.stringify({ ...job("m/a.jpg", "4:5", []), labels: { batchId: "metrics-api" } }),
      });
      expect(posted.status).toBe(202);
      apiJobId = ((await posted.json()) as { jobIds: string[] }).jobIds[0]!;
      // …and a batch as `reframe bulk` makes one: six jobs that complete, one whose source is missing.
      const batches = createBatchStore(connection, { prefix: "{reframe}" });
      await batches.open("metrics-batch", { kind: "bulk", createdAt: Date.now() });
      const inBatch = (input: OutpaintJobInput) => ({ ...input, labels: { batchId: "metrics-batch" } });
      const inputs: OutpaintJobInput[] = [
        ...sources.flatMap((key) => ratios.map((ratio) => inBatch(job(key, ratio, [])))),
        // 96×64 is 3:2 already: copied without the provider (image work, no park).
        inBatch(job("m/a.jpg", "3:2", [])),
        inBatch(job("m/missing.jpg", "16:9", [])),
      ];
      await enqueueMany(queue, inputs, { batch: { store: batches, batchId: "metrics-batch" } });
      await batches.seal("metrics-batch");
      await expect
        .poll(async () => (await batches.status("metrics-batch"))?.closedAt, { timeout: 45_000 })
        .toBeDefined();
      batchStatus = (await batches.status("metrics-batch"))!;
      await expect
        .poll(async () => (await queue.getJob(apiJobId))?.getState(), { timeout: 30_000 })
        .toBe("completed");
    } finally {
      await queue.close();
      connection.disconnect();
      s3.destroy();
    }
  });

  it("the worker's completed-jobs counter matches the batch (plus the API's job), failures by reason", async () => {
    expect(batchStatus).toMatchObject({ total: 8, completed: 7, failed: 1 });
    // A batch closes in its last job's finalize, a moment before BullMQ marks that job completed.
    await expect
      .poll(async () => sumSamples(await scrape("worker-1"), "reframe_jobs_completed_total"))
      .toBe(batchStatus.completed + 1);
    await expect.poll(async () => sumSamples(await scrape("worker-1"), "reframe_jobs_failed_total")).toBe(1);
    const worker = await scrape("worker-1");
    expect(sumSamples(worker, "reframe_jobs_completed_total", { target: "16x9" })).toBe(3);
    expect(sumSamples(worker, "reframe_jobs_failed_total")).toBe(1);
    const failed = worker.find((sample) => sample.name === "reframe_jobs_failed_total");
    expect(failed?.labels).toEqual({ reason: "sourceNotFound", target: "16x9" });
    // Every completed job was timed from enqueue, and each that went to the provider from its park;
    // cost planned equals billed here (the emulator bills what the plan estimates).
    expect(sumSamples(worker, "reframe_job_enqueue_to_completion_seconds_count")).toBe(8);
    expect(sumSamples(worker, "reframe_job_park_to_result_seconds_count")).toBe(7);
    expect(sumSamples(worker, "reframe_image_work_seconds_count", { operation: "copy" })).toBe(1);
    const planned = sumSamples(worker, "reframe_cost_usd_total", { kind: "planned" });
    expect(planned).toBeGreaterThan(0);
    expect(sumSamples(worker, "reframe_cost_usd_total", { kind: "billed" })).toBeCloseTo(planned, 6);
    // Provider requests by kind and outcome; tasks per submit.
    expect(
      sumSamples(worker, "reframe_provider_requests_total", { kind: "submit", outcome: "accepted" }),
    ).toBe(sumSamples(worker, "reframe_provider_submit_tasks_count"));
    expect(sumSamples(worker, "reframe_provider_submit_tasks_sum")).toBe(7);
    expect(sumSamples(worker, "reframe_worker_jobs_taken_total")).toBeGreaterThanOrEqual(8);
  });

  it("each /metrics serves the queue, backlog, webhook and process metrics it owns", async () => {
    // Queue counts are sampled on a cache (not per scrape): an earlier scrape may still be served.
    const cachedCount = (name: string, state: string) => async () =>
      sumSamples(await scrape(name), "reframe_queue_jobs", { queue: "outpaint", state });
    await expect.poll(cachedCount("worker-1", "completed"), { timeout: 20_000, interval: 500 }).toBe(8);
    await expect.poll(cachedCount("api", "failed"), { timeout: 20_000, interval: 500 }).toBe(1);
    const worker = await scrape("worker-1");
    for (const name of [
      "reframe_queue_jobs",
      "reframe_queue_paused",
      "reframe_parked_jobs",
      "reframe_pending_tasks",
      "reframe_reconciler_lag_seconds",
      "reframe_provider_request_seconds_bucket",
      "reframe_image_work_seconds_bucket",
      "nodejs_eventloop_lag_seconds",
      "process_cpu_seconds_total",
    ])
      expect(names(worker), name).toContain(name);
    expect(sumSamples(worker, "reframe_queue_jobs", { queue: "outpaint", state: "completed" })).toBe(8);
    expect(sumSamples(worker, "reframe_queue_paused", { queue: "outpaint" })).toBe(0);
    expect(names(worker)).not.toContain("reframe_webhook_deliveries_total");

    const webhooks = await scrape("webhooks-1");
    expect(sumSamples(webhooks, "reframe_webhook_deliveries_total", { result: "stored" })).toBe(7);
    expect(names(webhooks)).toContain("reframe_webhook_verifications_refused_total");
    expect(names(webhooks)).toContain("nodejs_eventloop_lag_seconds");
    expect(names(webhooks)).not.toContain("reframe_jobs_completed_total");

    const api = await scrape("api");
    expect(sumSamples(api, "reframe_api_jobs_added_total", { result: "added" })).toBe(1);
    expect(sumSamples(api, "reframe_http_requests_total", { route: "/v1/jobs", status: "2xx" })).toBe(1);
    expect(sumSamples(api, "reframe_queue_jobs", { queue: "outpaint", state: "failed" })).toBe(1);
  });

  it("a batch that ends with failures raises an alert on the alerts route, counted in the metrics", async () => {
    const connection = createRedisClient(stack.redisSettings, { role: "worker" });
    const alerts = new Queue("alerts", { connection, prefix: "{reframe}" });
    try {
      const [alert] = await alerts.getJobs(["waiting"]);
      expect(alert?.name).toBe(alertEventType("batchFailures"));
      expect(alert?.data).toMatchObject({
        specversion: "1.0",
        subject: "metrics-batch",
        data: {
          kind: "batchFailures",
          severity: "warning",
          failed: 1,
          failuresByReason: { sourceNotFound: 1 },
        },
      });
      expect(sumSamples(await scrape("worker-1"), "reframe_alerts_total", { kind: "batchFailures" })).toBe(1);
    } finally {
      await alerts.close();
      connection.disconnect();
    }
  });

  it("the metrics listener is not the webhook receiver's public port, and answers only GET /metrics", async () => {
    const metrics = new URL(stack.metricsUrls.get("webhooks-1")!);
    expect(metrics.port).not.toBe(new URL(stack.webhooksUrl!).port);
    expect((await fetch(new URL("/runware/x", metrics))).status).toBe(404);
    expect((await fetch(new URL("/metrics", stack.webhooksUrl))).status).toBe(404);
  });

  it("the worker's metrics listener answers its probes: /healthz ready while it takes jobs, /livez", async () => {
    const metrics = new URL(stack.metricsUrls.get("worker-1")!);
    const ready = await fetch(new URL("/healthz", metrics));
    expect(ready.status).toBe(200);
    expect(await ready.json()).toEqual({ ok: true });
    expect((await fetch(new URL("/livez", metrics))).status).toBe(200);
  });
});
