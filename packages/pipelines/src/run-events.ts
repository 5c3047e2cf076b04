import { createHash } from "node:crypto";
import { EVENT_SOURCE } from "@reframe/jobs";
import { z } from "zod";

/**
 * A run refused before it started (its estimated cost is over the pipeline's budget) tells the
 * pipeline's route, so a nightly pipeline that did nothing does not go unnoticed. A run that ran
 * ends with the run-completed event of its batch (@reframe/jobs batch-events.ts).
 */
export const RUN_REFUSED_EVENT_TYPE = "reframe.pipeline.run.refused.v1";

const runRefusedEventSchema = z.object({
  specversion: z.literal("1.0"),
  id: z.string(),
  source: z.string(),
  type: z.literal(RUN_REFUSED_EVENT_TYPE),
  subject: z.string(),
  time: z.iso.datetime({ offset: true }),
  datacontenttype: z.literal("application/json"),
  data: z.object({
    pipeline: z.string(),
    runId: z.string(),
    reason: z.object({ code: z.literal("overBudget"), message: z.string() }),
    jobsToRun: z.int().min(0),
    estimatedCostUsd: z.number(),
    maxCostUsd: z.number(),
  }),
});
export type RunRefusedEvent = z.output<typeof runRefusedEventSchema>;

/** The CloudEvents envelope of a pipeline's events; the id hashes what makes the event one. */
function envelope<T extends string>(type: T, subject: string, identity: string, time: number) {
  const digest = createHash("sha256").update(`${type}\n${identity}`).digest("hex");
  return {
    specversion: "1.0",
    id: `evt-${digest.slice(0, 32)}`,
    source: EVENT_SOURCE,
    type,
    subject,
    time: new Date(time).toISOString(),
    datacontenttype: "application/json",
  } as const;
}

export function makeRunRefusedEvent(
  input: Omit<RunRefusedEvent["data"], "reason"> & { time: number },
): RunRefusedEvent {
  const { time, ...data } = input;
  return runRefusedEventSchema.parse({
    ...envelope(RUN_REFUSED_EVENT_TYPE, input.runId, input.runId, time),
    data: {
      ...data,
      reason: {
        code: "overBudget",
        message: `estimated $${data.estimatedCostUsd.toFixed(2)} for ${data.jobsToRun} jobs is over the budget of $${data.maxCostUsd.toFixed(2)}`,
      },
    },
  });
}

/**
 * The first job of a window that an upload trigger could not add (its pipeline's ceiling per
 * rolling day or hour was reached) tells the pipeline's route, once per window: later refusals of
 * that window are counted (`reframe pipelines runs`) but not announced again.
 */
export const BUDGET_EXCEEDED_EVENT_TYPE = "reframe.pipeline.budget.exceeded.v1";

export const budgetExceededEventSchema = z.object({
  specversion: z.literal("1.0"),
  id: z.string(),
  source: z.string(),
  type: z.literal(BUDGET_EXCEEDED_EVENT_TYPE),
  subject: z.string(),
  time: z.iso.datetime({ offset: true }),
  datacontenttype: z.literal("application/json"),
  data: z.object({
    pipeline: z.string(),
    window: z.enum(["day", "hour"]),
    ceilingUsd: z.number(),
    /** Counted in the window when the job was refused. */
    spentUsd: z.number(),
    refused: z.object({ jobId: z.string(), source: z.string(), target: z.string(), costUsd: z.number() }),
    reason: z.object({ code: z.literal("overBudget"), message: z.string() }),
  }),
});
export type BudgetExceededEvent = z.output<typeof budgetExceededEventSchema>;

export function makeBudgetExceededEvent(
  input: Omit<BudgetExceededEvent["data"], "reason"> & { time: number },
): BudgetExceededEvent {
  const { time, ...data } = input;
  const span = data.window === "day" ? "24 hours" : "hour";
  return budgetExceededEventSchema.parse({
    ...envelope(BUDGET_EXCEEDED_EVENT_TYPE, data.pipeline, `${data.pipeline}\n${data.window}\n${time}`, time),
    data: {
      ...data,
      reason: {
        code: "overBudget",
        message: `${data.refused.source} (${data.refused.target}, $${data.refused.costUsd.toFixed(2)}) was not added: pipeline ${data.pipeline}'s uploads spent $${data.spentUsd.toFixed(2)} of $${data.ceilingUsd.toFixed(2)} in the last ${span}`,
      },
    },
  });
}
