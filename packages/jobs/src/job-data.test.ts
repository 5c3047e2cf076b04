import { describe, expect, it } from "vitest";
import { parseOutpaintJob } from "./enqueue.ts";
import { parseOutpaintJobData, stepStateSchema } from "./job-data.ts";
import { outpaintJobId } from "./outpaint-job.ts";

const task = (variant: number) => ({
  variant,
  generation: 0,
  taskUUID: `6f1d7a52-2f0e-5b9a-9d65-3c1f1b8b1a1${variant}`,
  key: `16x9/a-v${variant + 1}.png`,
  confirmed: true,
  submitAttempts: 1,
  submittedAt: 1_000,
  deadline: 901_000,
});

describe("stepStateSchema", () => {
  it("reads a job parked before the plan was geometry's canvas plan (the flat shape, the cost of all variants)", () => {
    const saved = {
      step: "await",
      plan: {
        margins: { top: 0, right: 16, bottom: 0, left: 16 },
        width: 128,
        height: 72,
        sourceWidth: 96,
        sourceHeight: 72,
        sourceScale: 1,
        costUsd: 0.2,
        exactSizeMet: true,
        requested: null,
        sourceRef: { kind: "s3", bucket: "reframe-sources", key: "a.jpg" },
        targetLabel: "16x9",
        contentType: "image/png",
      },
      tasks: [task(0), task(1)],
      enqueuedAt: 500,
      plannedAt: 900,
      submittedAt: 1_000,
    };
    expect(stepStateSchema.parse(saved).plan).toEqual({
      margins: { top: 0, right: 16, bottom: 0, left: 16 },
      output: { width: 128, height: 72 },
      scaledSource: { width: 96, height: 72 },
      sourceScale: 1,
      generatedShare: 0.25,
      costUsd: 0.1,
      exactSizeMet: true,
      requested: null,
      notes: [],
      sourceRef: { kind: "s3", bucket: "reframe-sources", key: "a.jpg" },
      targetLabel: "16x9",
      contentType: "image/png",
    });
  });

  it("reads a state in the current shape as it is, and one not planned yet", () => {
    const plan = {
      margins: { top: 420, right: 0, bottom: 420, left: 0 },
      output: { width: 1080, height: 1920 },
      scaledSource: { width: 1080, height: 1080 },
      sourceScale: 2.109375,
      generatedShare: 0.4375,
      costUsd: 0.2,
      exactSizeMet: true,
      requested: null,
      notes: ["source scaled up ×2.11 to fill 1080×1920"],
      sourceRef: { kind: "s3", bucket: "reframe-scratch", key: "scratch/op-1.png" },
      targetLabel: "instagram-story",
      contentType: "image/jpeg",
    };
    const state = { step: "submit", plan, tasks: [task(0)], enqueuedAt: 1 };
    expect(stepStateSchema.parse(state)).toEqual(state);
    expect(stepStateSchema.parse({ step: "plan", tasks: [], enqueuedAt: 1 })).toEqual({
      step: "plan",
      tasks: [],
      enqueuedAt: 1,
    });
  });

  it("refuses a saved plan that is neither shape", () => {
    expect(
      stepStateSchema.safeParse({ step: "await", plan: { width: "wide" }, tasks: [], enqueuedAt: 1 }).success,
    ).toBe(false);
  });
});

describe("parseOutpaintJobData", () => {
  const enqueued = {
    source: { kind: "s3", bucket: "sources", key: "photos/cat.jpg", etag: "abc123" },
    target: { kind: "ratio", ratio: "16:9" },
    output: { bucket: "outputs" },
  };

  it("reads a job saved before the processing version's rename (pipelineVersion), with the same id", () => {
    const saved = { ...parseOutpaintJob({ ...enqueued, processingVersion: "7" }), state: undefined };
    const { processingVersion, ...before } = saved;
    const { job } = parseOutpaintJobData({ ...before, pipelineVersion: processingVersion });
    expect(job.processingVersion).toBe("7");
    expect("pipelineVersion" in job).toBe(false);
    expect(outpaintJobId(job)).toBe(outpaintJobId(parseOutpaintJob({ ...enqueued, processingVersion: "7" })));
  });

  it("keeps the new name when both are there, and still refuses a stray field", () => {
    const saved = parseOutpaintJob({ ...enqueued, processingVersion: "3" });
    expect(parseOutpaintJobData({ ...saved, pipelineVersion: "2" }).job.processingVersion).toBe("3");
    expect(() => parseOutpaintJobData({ ...saved, pipelineVersions: "2" })).toThrow(/pipelineVersions/);
  });
});
