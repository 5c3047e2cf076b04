import type { S3Client } from "@aws-sdk/client-s3";
import type { GuardedFetch } from "@reframe/egress";
import {
  type AlertPublisher,
  type BatchStore,
  pipelineRunRefusedAlert,
  publishAlert,
  type RouteQueues,
} from "@reframe/jobs";
import {
  createPipelineStore,
  executeRun,
  PIPELINE_RUNS_QUEUE,
  pipelineRunDataSchema,
  RunDefinitionError,
  type RunRecord,
  runIdOf,
} from "@reframe/pipelines";
import { isRedisOutage, type RedisClient } from "@reframe/redis";
import type { SourceLimits } from "@reframe/sources";
import type { S3Area } from "@reframe/storage";
import type { Logger } from "@reframe/telemetry";
import { type Job, type Queue, UnrecoverableError, Worker } from "bullmq";

export interface PipelineRunWorkerOptions {
  connection: RedisClient;
  prefix: string;
  s3: S3Client;
  outpaintQueue: Queue;
  batches: BatchStore;
  routes: Pick<RouteQueues, "queue" | "deliveries">;
  /** The worker's scratch area: never a source. */
  scratch: S3Area[];
  /** The worker's egress guard, for URL sources' headers. */
  sourceFetch: GuardedFetch["fetch"];
  sourceLimits: SourceLimits;
  /** BULK_WINDOW: jobs of a run in the queue at a time. */
  window: number;
  logger: Logger;
  /** A run refused over its budget is an alert as well as an event to the pipeline's route. */
  alerts?: AlertPublisher;
}

/**
 * Runs pipelines: each job of the pipeline-runs queue (a schedule's tick, or `reframe pipelines run`)
 * planned and started by executeRun (the run engine, @reframe/runs), its jobs admitted a window at a
 * time. One run at a time per process: a run is listing and registering, bound by S3 and Redis, and
 * the outpaint jobs it adds are the real work.
 */
export function startPipelineRunWorker(options: PipelineRunWorkerOptions): Worker {
  const store = createPipelineStore(options.connection, { prefix: options.prefix });
  const worker = new Worker(
    PIPELINE_RUNS_QUEUE,
    async (job: Job): Promise<RunRecord> => {
      const data = pipelineRunDataSchema.parse(job.data);
      const runId = data.runId ?? runIdOf(data.pipeline, dueAt(job));
      try {
        const record = await executeRun(data.pipeline, runId, data.trigger, {
          ...options,
          redis: options.connection,
          store,
        });
        options.logger.info(
          { pipeline: data.pipeline, runId, state: record.state, jobs: record.jobs, added: record.added },
          record.state === "refused" ? `pipeline run refused: ${record.reason}` : "pipeline run enqueued",
        );
        if (record.state === "refused" && options.alerts) {
          await publishAlert(
            options.alerts,
            pipelineRunRefusedAlert({
              pipeline: data.pipeline,
              runId,
              reason: record.reason ?? "over budget",
              estimatedCostUsd: record.estimatedCostUsd,
            }),
          );
        }
        return record;
      } catch (error) {
        if (error instanceof RunDefinitionError)
          throw new UnrecoverableError(`${error.code}: ${error.message}`);
        throw error;
      }
    },
    { connection: options.connection, prefix: options.prefix, concurrency: 1 },
  );
  worker.on("failed", (job, error) =>
    options.logger.error({ err: error, pipeline: job?.data?.pipeline }, "pipeline run failed"),
  );
  worker.on("error", (error) => {
    // Redis away is reported once per reconnection attempt by the connection's own report.
    if (isRedisOutage(options.connection, error)) return;
    options.logger.error({ err: error }, "pipeline run worker error");
  });
  return worker;
}

/** A scheduler's job id is "repeat:<scheduler>:<due time>": the run is named after when it was due. */
function dueAt(job: Job): number {
  const due = Number(job.id?.split(":").at(-1));
  return Number.isFinite(due) && due > 0 ? due : job.timestamp;
}
