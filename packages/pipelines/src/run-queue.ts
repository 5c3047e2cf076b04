import { ROUTE_JOB_OPTIONS } from "@reframe/jobs";
import { DEFAULT_QUEUE_PREFIX, type RedisClient } from "@reframe/redis";
import { Queue } from "bullmq";
import { z } from "zod";

/**
 * Pipeline runs are jobs of their own queue: a job scheduler adds one per cron tick, `reframe
 * pipelines run` adds one now, and a worker process expands it into outpaint jobs (run.ts).
 */
export const PIPELINE_RUNS_QUEUE = "pipeline-runs";
export const PIPELINE_RUN_JOB_NAME = "pipeline-run";

export const pipelineRunDataSchema = z.object({
  pipeline: z.string(),
  trigger: z.enum(["schedule", "manual"]),
  /** Given for manual runs; a scheduled run's id comes from its scheduled time. */
  runId: z.string().optional(),
});
export type PipelineRunData = z.output<typeof pipelineRunDataSchema>;

export function schedulerIdOf(pipeline: string): string {
  return `pipeline-${pipeline}`;
}

/** "nightly-20261125T020000Z": the pipeline and when the run was due, so a retried run is the same batch. */
export function runIdOf(pipeline: string, dueAt: number, suffix = ""): string {
  const stamp = new Date(dueAt)
    .toISOString()
    .replace(/[-:]/g, "")
    .replace(/\.\d+Z$/, "Z");
  return `${pipeline}-${stamp}${suffix}`;
}

/** A run is expanded once per attempt; a failed expansion (S3 down) is retried with backoff. */
export const PIPELINE_RUN_JOB_OPTIONS = { ...ROUTE_JOB_OPTIONS, attempts: 5 } as const;

export function createPipelineRunQueue({
  connection,
  prefix,
}: {
  connection: RedisClient;
  prefix?: string;
}): Queue {
  return new Queue(PIPELINE_RUNS_QUEUE, {
    connection,
    prefix: prefix ?? DEFAULT_QUEUE_PREFIX,
    defaultJobOptions: PIPELINE_RUN_JOB_OPTIONS,
  });
}
