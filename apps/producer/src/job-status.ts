import { outpaintJobDataSchema, readOutpaintResult } from "@reframe/jobs";
import type { Job, Queue } from "bullmq";

/** What the CLI's `status` and the API's `GET /v1/jobs/:id` say about a job. */
export interface JobStatus {
  jobId: string;
  state: string;
  step: string | undefined;
  outputs: { bucket: string; key: string; width: number; height: number; size: number }[];
  failedReason: string | undefined;
  costUsd: number | undefined;
  /** A completed job's plan: the factor its source was resized by, and the generated share of its outputs. */
  sourceScale: number | undefined;
  generatedShare: number | undefined;
}

export async function jobStatus(queue: Queue, jobId: string): Promise<JobStatus | undefined> {
  const job: Job | undefined = await queue.getJob(jobId);
  if (!job) return undefined;
  const state = await job.getState();
  const result = readOutpaintResult(job.returnvalue);
  // Data no schema reads (not made by a producer of this version) shows its state without a step.
  const saved = outpaintJobDataSchema.safeParse(job.data);
  return {
    jobId,
    state,
    step: saved.success ? saved.data.state?.step : undefined,
    outputs: result?.variants.map((variant) => ({ bucket: result.bucket, ...variant })) ?? [],
    failedReason: job.failedReason || undefined,
    costUsd: result?.costUsd,
    sourceScale: result?.sourceScale,
    generatedShare: result?.generatedShare,
  };
}
