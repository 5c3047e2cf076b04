import { describe, expect, it } from "vitest";
import { parseOutpaintJob } from "./enqueue.ts";
import {
  COMPLETION_EVENT_TYPE,
  completionEventSchema,
  FAILURE_EVENT_TYPE,
  failureEventSchema,
  makeCompletionEvent,
  makeFailureEvent,
  outpaintEventSchema,
} from "./events.ts";
import type { OutpaintResult } from "./job-result.ts";

const job = parseOutpaintJob({
  source: { kind: "s3", bucket: "sources", key: "photos/cat.jpg", etag: "abc" },
  target: { kind: "ratio", ratio: "16:9" },
  output: { bucket: "outputs", prefix: "reformats/" },
  route: ["cdn-purge"],
  labels: { batchId: "b1", pipeline: "nightly" },
});

const result: OutpaintResult = {
  jobId: "op-1",
  bucket: "outputs",
  variants: [
    {
      variant: 0,
      key: "reformats/16x9/photos/cat.jpg",
      width: 1920,
      height: 1080,
      size: 345_678,
      contentType: "image/jpeg",
      etag: '"e1"',
      imageUUID: "img-1",
      seed: 42,
      costUsd: 0.2,
    },
    {
      variant: 1,
      key: "reformats/16x9/photos/cat-v2.jpg",
      width: 1920,
      height: 1080,
      size: 345_000,
      contentType: "image/jpeg",
      etag: undefined,
      imageUUID: "img-2",
      seed: undefined,
      costUsd: 0.2,
    },
  ],
  costUsd: 0.4,
  exactSizeMet: true,
  requested: null,
  sourceScale: 1,
  generatedShare: 0.25,
  timings: { enqueuedAt: 1_000, submittedAt: 2_000, completedAt: 9_000, providerMs: 7_000, totalMs: 8_000 },
};

describe("makeCompletionEvent", () => {
  it("builds a CloudEvents 1.0 event that validates and survives JSON", () => {
    const event = makeCompletionEvent({ jobId: "op-1", job, result });
    expect(event).toMatchObject({
      specversion: "1.0",
      type: COMPLETION_EVENT_TYPE,
      source: "/reframe/worker",
      subject: "reformats/16x9/photos/cat.jpg",
      time: new Date(9_000).toISOString(),
      datacontenttype: "application/json",
    });
    expect(event.data.output).toEqual({
      bucket: "outputs",
      key: "reformats/16x9/photos/cat.jpg",
      width: 1920,
      height: 1080,
      format: "JPG",
      contentType: "image/jpeg",
      size: 345_678,
      etag: '"e1"',
    });
    expect(event.data.variants).toHaveLength(2);
    expect(event.data.labels).toEqual({ batchId: "b1", pipeline: "nightly" });
    expect(completionEventSchema.parse(JSON.parse(JSON.stringify(event)))).toEqual(
      JSON.parse(JSON.stringify(event)),
    );
  });

  it("gives the same id for the same job and a different one for its failure or a later enqueue", () => {
    const first = makeCompletionEvent({ jobId: "op-1", job, result });
    const again = makeCompletionEvent({ jobId: "op-1", job, result, time: 99_999 });
    expect(again.id).toBe(first.id);
    expect(first.id).toMatch(/^evt-[0-9a-f]{32}$/);
    const failure = makeFailureEvent({
      jobId: "op-1",
      job,
      reason: { code: "x", message: "y", disposition: "terminal" },
      enqueuedAt: 1_000,
    });
    expect(failure.id).not.toBe(first.id);
    const reenqueued = makeCompletionEvent({
      jobId: "op-1",
      job,
      result: { ...result, timings: { ...result.timings, enqueuedAt: 5 } },
    });
    expect(reenqueued.id).not.toBe(first.id);
  });

  it("refuses a result without variants", () => {
    expect(() => makeCompletionEvent({ jobId: "op-1", job, result: { ...result, variants: [] } })).toThrow(
      /at least one variant/,
    );
  });
});

describe("makeFailureEvent", () => {
  it("builds a failure event whose subject is the source key and whose id is deterministic", () => {
    const reason = { code: "contentPolicyViolation", message: "blocked", disposition: "terminal" } as const;
    const event = makeFailureEvent({ jobId: "op-2", job, reason, time: 5_000 });
    expect(event).toMatchObject({
      type: FAILURE_EVENT_TYPE,
      subject: "photos/cat.jpg",
      time: new Date(5_000).toISOString(),
    });
    expect(event.data).toEqual({
      jobId: "op-2",
      source: job.source,
      target: job.target,
      reason,
      labels: job.labels,
    });
    expect(makeFailureEvent({ jobId: "op-2", job, reason, time: 6_000 }).id).toBe(event.id);
    expect(failureEventSchema.safeParse(event).success).toBe(true);
    expect(outpaintEventSchema.parse(event).type).toBe(FAILURE_EVENT_TYPE);
  });

  it("uses the URL as the subject of a URL source", () => {
    const urlJob = parseOutpaintJob({ ...job, source: { kind: "url", url: "https://example.com/a.png" } });
    const event = makeFailureEvent({
      jobId: "op-3",
      job: urlJob,
      reason: { code: "c", message: "m", disposition: "retryable" },
    });
    expect(event.subject).toBe("https://example.com/a.png");
  });
});
