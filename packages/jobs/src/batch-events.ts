import { createHash } from "node:crypto";
import { z } from "zod";
import { type BatchStatus, type BatchStore, SKIP_REASONS } from "./batch-store.ts";
import { EVENT_SOURCE } from "./events.ts";
import { publishEvent, type RouteQueues } from "./route-publisher.ts";

/**
 * A batch's completion as a CloudEvent, added to each queue of the batch's route when it closes. A
 * pipeline run is a batch of kind "pipeline-run"; its completion is the run-completed event.
 */
export const BATCH_COMPLETED_EVENT_TYPE = "reframe.batch.completed.v1";
export const RUN_COMPLETED_EVENT_TYPE = "reframe.pipeline.run.completed.v1";

const count = z.int().min(0);

export const batchCompletedEventSchema = z.object({
  specversion: z.literal("1.0"),
  id: z.string().min(1),
  source: z.string().min(1),
  type: z.enum([BATCH_COMPLETED_EVENT_TYPE, RUN_COMPLETED_EVENT_TYPE]),
  subject: z.string().min(1),
  time: z.iso.datetime({ offset: true }),
  datacontenttype: z.literal("application/json"),
  data: z.object({
    batchId: z.string().min(1),
    kind: z.string(),
    pipeline: z.string().optional(),
    total: count,
    completed: count,
    failed: count,
    skipped: z.record(z.enum(SKIP_REASONS), count),
    failuresByReason: z.record(z.string(), count),
    costUsd: z.number().min(0),
    /** Epoch milliseconds. */
    createdAt: z.number(),
    closedAt: z.number(),
  }),
});
export type BatchCompletedEvent = z.output<typeof batchCompletedEventSchema>;

export function makeBatchCompletedEvent(status: BatchStatus & { closedAt: number }): BatchCompletedEvent {
  const type = status.info.kind === "pipeline-run" ? RUN_COMPLETED_EVENT_TYPE : BATCH_COMPLETED_EVENT_TYPE;
  // Deterministic, so announcing one close twice adds one event; createdAt tells a batch id reused
  // after retention apart from the first batch of that name, and closedAt a batch that grew after
  // it closed (batch-add.lua) and closed again.
  const digest = createHash("sha256")
    .update(`${type}\n${status.batchId}\n${status.info.createdAt}\n${status.closedAt}`)
    .digest("hex");
  return batchCompletedEventSchema.parse({
    specversion: "1.0",
    id: `evt-${digest.slice(0, 32)}`,
    source: EVENT_SOURCE,
    type,
    subject: status.batchId,
    time: new Date(status.closedAt).toISOString(),
    datacontenttype: "application/json",
    data: {
      batchId: status.batchId,
      kind: status.info.kind,
      pipeline: status.info.pipeline,
      total: status.total,
      completed: status.completed,
      failed: status.failed,
      skipped: status.skipped,
      failuresByReason: status.failuresByReason,
      costUsd: status.costUsd,
      createdAt: status.info.createdAt,
      closedAt: status.closedAt,
    },
  });
}

/**
 * Publishes the completion event of a closed batch to its route (publishEvent), so announcing again
 * (a retried finalize, a second seal) adds nothing.
 * Returns the event, or undefined when the batch is not closed (or gone).
 */
export async function announceBatchCompleted(
  store: Pick<BatchStore, "status">,
  batchId: string,
  routes: Pick<RouteQueues, "queue" | "deliveries">,
): Promise<BatchCompletedEvent | undefined> {
  const status = await store.status(batchId);
  if (status?.closedAt === undefined) return undefined;
  const event = makeBatchCompletedEvent({ ...status, closedAt: status.closedAt });
  await publishEvent(routes, status.info.route, event);
  return event;
}
