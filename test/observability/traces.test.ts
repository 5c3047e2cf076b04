import { InMemorySpanExporter, type ReadableSpan } from "@opentelemetry/sdk-trace";
import { parseEnv } from "@reframe/config";
import { COMPLETION_EVENT_TYPE, createOutpaintQueue, jobTraceMetadata } from "@reframe/jobs";
import { type LocalStack, startLocalStack } from "@reframe/local-stack";
import { createApiServer } from "@reframe/producer";
import { createRedisClient } from "@reframe/redis";
import { createLogger, SPANS, startTracing, type Tracing } from "@reframe/telemetry";
import { freePort } from "@reframe/testkit";
import { startWebhookReceiver, webhooksConfigSchema } from "@reframe/webhooks";
import { type RunningWorker, startOutpaintWorker, workerConfigSchema } from "@reframe/worker";
import { Queue } from "bullmq";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { job, uploadSource } from "../outpaint-flow/stack-fixture.ts";

/**
 * Traces with an in-memory exporter: the worker, the webhook receiver and the API run in this
 * process (Redis, S3 and the emulator are the demo stack's), so every span lands in one exporter.
 * One job from the API request to its completion event is one trace; a webhook's arrival is a trace
 * of its own linked to the job's; without webhooks, the reconciler's poll links to it instead.
 */

const exporter = new InMemorySpanExporter();
let tracing: Tracing;
let stack: LocalStack;

const quiet = { LOG_LEVEL: "silent" };

beforeAll(async () => {
  tracing = startTracing({ serviceName: "trace-test", exporter });
  stack = await startLocalStack({ workers: 0, webhooks: false });
  await uploadSource(stack.s3Client(), "t/a.jpg");
});

afterAll(async () => {
  await stack?.stop();
  await tracing?.shutdown();
});

const idOf = (span: ReadableSpan) => span.spanContext().spanId;
const traceOf = (span: ReadableSpan) => span.spanContext().traceId;

function find(spans: ReadableSpan[], name: string, predicate: (span: ReadableSpan) => boolean = () => true) {
  const found = spans.filter((span) => span.name === name && predicate(span));
  if (found.length === 0)
    throw new Error(`no span ${name} among ${[...new Set(spans.map((s) => s.name))].join(", ")}`);
  return found;
}

/** Parent chain of a span up to its root, by name. */
function ancestry(spans: ReadableSpan[], span: ReadableSpan): string[] {
  const byId = new Map(spans.map((item) => [idOf(item), item]));
  const names: string[] = [];
  for (let parent = span.parentSpanContext?.spanId; parent; ) {
    const next = byId.get(parent);
    if (!next) break;
    names.push(next.name);
    parent = next.parentSpanContext?.spanId;
  }
  return names;
}

async function runOneJob(webhooks: boolean, route: string) {
  exporter.reset();
  const env = { ...stack.workerEnvironment, ...quiet, POLL_FIRST_MS: "300", POLL_INTERVAL_MS: "300" };
  let receiver: Awaited<ReturnType<typeof startWebhookReceiver>> | undefined;
  if (webhooks) {
    const port = await freePort();
    receiver = await startWebhookReceiver(
      parseEnv(webhooksConfigSchema, {
        REDIS_URL: stack.redisUrl,
        WEBHOOK_SECRET: "trace-test-secret-0123456789",
        WEBHOOKS_PORT: String(port),
        WEBHOOKS_HOST: "127.0.0.1",
        ...quiet,
      }),
      { logger: silentLogger() },
    );
    Object.assign(env, {
      WEBHOOK_PUBLIC_URL: `http://127.0.0.1:${port}`,
      WEBHOOK_SECRET: "trace-test-secret-0123456789",
    });
  } else {
    Object.assign(env, { WEBHOOK_PUBLIC_URL: "", WEBHOOK_SECRET: "" });
  }
  const worker: RunningWorker = await startOutpaintWorker(parseEnv(workerConfigSchema, env), {
    logger: silentLogger(),
  });
  const connection = createRedisClient(stack.redisSettings, { role: "producer" });
  const queue = createOutpaintQueue({ connection, prefix: "{reframe}", telemetry: tracing.bullmq });
  const routeQueue = new Queue(route, { connection, prefix: "{reframe}" });
  const api = createApiServer({
    queue,
    redis: connection,
    prefix: "{reframe}",
    token: "trace-test-token-0123456789",
    logger: silentLogger(),
  });
  try {
    const answer = await api.inject({
      method: "POST",
      url: "/v1/jobs",
      headers: { authorization: "Bearer trace-test-token-0123456789" },
      payload: job("t/a.jpg", webhooks ? "16:9" : "1:1", [route]),
    });
    expect(answer.statusCode).toBe(202);
    const jobId = (answer.json() as { jobIds: string[] }).jobIds[0]!;
    await expect
      .poll(async () => (await queue.getJob(jobId))?.getState(), { timeout: 30_000 })
      .toBe("completed");
    const [event] = await routeQueue.getJobs(["waiting"]);
    expect(event?.name).toBe(COMPLETION_EVENT_TYPE);
    // The completion event carries the trace context onwards, to whoever consumes it.
    const eventContext = await jobTraceMetadata(routeQueue, event!.id!);
    await expect
      .poll(() => exporter.getFinishedSpans().some((s) => s.name === `add ${route}.${COMPLETION_EVENT_TYPE}`))
      .toBe(true);
    return { jobId, spans: exporter.getFinishedSpans(), eventContext };
  } finally {
    await api.close();
    await worker.close();
    await receiver?.close();
    await queue.close();
    await routeQueue.obliterate({ force: true });
    await routeQueue.close();
    connection.disconnect();
  }
}

const silentLogger = () => createLogger({ name: "trace-test", level: "silent" });

describe("traces", () => {
  it("one trace from the API request through the job's passes to its completion event; the webhook links to it", async () => {
    const { spans, eventContext } = await runOneJob(true, "traced-done");
    const [request] = find(spans, SPANS.apiRequest);
    const trace = traceOf(request!);
    const inTrace = spans.filter((span) => traceOf(span) === trace);
    // BullMQ's producer span under the request, both passes of the job (plan and submit; finalize)
    // under it, and reframe's spans inside them.
    const [added] = find(inTrace, "addBulk outpaint");
    expect(ancestry(inTrace, added!)).toEqual([SPANS.apiRequest]);
    const passes = find(inTrace, "process outpaint");
    expect(passes.length).toBeGreaterThanOrEqual(2);
    for (const pass of passes)
      expect(ancestry(inTrace, pass)).toEqual(["addBulk outpaint", SPANS.apiRequest]);
    const [plan] = find(inTrace, SPANS.plan);
    expect(ancestry(inTrace, plan!)[0]).toBe("process outpaint");
    const [submit] = find(inTrace, SPANS.providerRequest, (span) => span.attributes.kind === "submit");
    expect(ancestry(inTrace, submit!)[0]).toBe("process outpaint");
    expect(submit!.attributes.taskUUIDs).toHaveLength(1);
    expect(submit!.attributes.outcome).toBe("accepted");
    const [check] = find(inTrace, SPANS.outputCheck);
    expect(ancestry(inTrace, check!)[0]).toBe("process outpaint");
    const [publish] = find(inTrace, SPANS.eventPublish);
    expect(ancestry(inTrace, publish!)[0]).toBe("process outpaint");
    const [eventAdd] = find(inTrace, `add traced-done.${COMPLETION_EVENT_TYPE}`);
    expect(ancestry(inTrace, eventAdd!)[0]).toBe(SPANS.eventPublish);
    expect(eventContext).toContain(trace);

    // The webhook: a trace of its own (the provider calls in), its verification inside, a link to the job.
    const [arrival] = find(spans, SPANS.webhookArrival);
    expect(traceOf(arrival!)).not.toBe(trace);
    expect(arrival!.attributes.taskUUID).toBe((submit!.attributes.taskUUIDs as string[])[0]);
    expect(arrival!.links.map((link) => link.context.traceId)).toEqual([trace]);
    const [verify] = find(spans, SPANS.webhookVerify);
    expect(verify!.parentSpanContext?.spanId).toBe(idOf(arrival!));
    expect(verify!.attributes.result).toBe("verified");
  });

  it("without webhooks the reconciler's poll is its own trace, linked to the job's, with the getResponse inside", async () => {
    const { spans } = await runOneJob(false, "polled-done");
    const [request] = find(spans, SPANS.apiRequest);
    const trace = traceOf(request!);
    const polls = find(spans, SPANS.reconcilerPoll, (span) =>
      span.links.some((link) => link.context.traceId === trace),
    );
    const [poll] = polls;
    expect(traceOf(poll!)).not.toBe(trace);
    const [getResponse] = find(
      spans,
      SPANS.providerRequest,
      (span) => span.attributes.kind === "getResponse" && span.parentSpanContext?.spanId === idOf(poll!),
    );
    expect(getResponse!.attributes.taskUUIDs).toEqual(poll!.attributes.taskUUIDs);
    expect(spans.filter((span) => span.name === SPANS.webhookArrival)).toEqual([]);
  });

  it("no span attribute, event or status carries a presigned signature or a bearer token", () => {
    const text = JSON.stringify(
      exporter.getFinishedSpans().map((span) => [span.attributes, span.events, span.status, span.links]),
    );
    expect(text).not.toMatch(/X-Amz-Signature=[0-9a-f]{16}/);
    expect(text).not.toContain("trace-test-token");
  });
});
