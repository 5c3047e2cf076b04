import { canvasPlanSchema, generatedShareOf } from "@reframe/geometry";
import { z } from "zod";
import { type OutpaintJob, outpaintJobSchema } from "./outpaint-job.ts";

/**
 * What a saved outpaint job holds (`job.data`): the job as enqueued (outpaint-job.ts) and, once a
 * worker has touched it, the step machine's state under `state`. Every reader — the worker, the CLI,
 * the API, batch retries — parses it with `outpaintJobDataSchema`; nobody casts `job.data`.
 */

/**
 * The outpaint step machine, kept in `job.data.state` (BullMQ's step-jobs pattern), so whichever
 * worker process picks the job up next resumes where the last one stopped.
 *
 * plan — read the source's dimensions (given, or a ranged GET of its header), plan the canvas within
 *   the provider's limits and the job's canvas policy (a source the plan scales, up or down, is
 *   resized into a scratch object), name the output key of every variant. A plan that cannot be made
 *   (over the limits, too much of it generated) fails the job (terminal).
 *
 * submit — one provider task per variant, `numberResults: 1` each: a task has a single
 *   uploadEndpoint, so N results to one URL would overwrite each other. taskUUIDs are UUID v5 of
 *   jobId/variant/generation. Park first, then POST: the state and the pending-task entries are saved
 *   and the job moved to delayed before the request leaves, so a webhook that arrives at once finds
 *   the job delayed and can promote it. The POST itself is shared with other jobs' tasks.
 *
 * await — a parked job holds no worker slot and no lock. The webhook receiver or the reconciler
 *   stores each task's outcome under its taskUUID (the first final one wins) and promotes the job.
 *   When the job runs again it reads the outcomes and decides (`decideAwait`): all succeeded →
 *   finalize; a terminal error → fail; a failed generation, or taskNotFound/taskExpired for a task
 *   the provider had acknowledged → resubmit as the next generation, a bounded number of times;
 *   taskNotFound for a task never acknowledged (its POST failed, or its worker died before sending
 *   it) → submit the same taskUUID again; nothing yet → check once more and park again, until the
 *   task's deadline.
 *
 * finalize — HEAD every output (exists, non-empty, type, planned width and height), return the
 *   result, and add one completion event to every route queue with the event id as the jobId, so a
 *   retry cannot emit twice.
 */

const STEPS = ["plan", "submit", "await", "finalize"] as const;

/** Where the provider reads the source: the original object, a resized scratch copy, or a URL. */
const sourceRefSchema = z.discriminatedUnion("kind", [
  z.object({ kind: z.literal("s3"), bucket: z.string(), key: z.string() }),
  z.object({ kind: z.literal("url"), url: z.string() }),
]);
export type SourceRef = z.infer<typeof sourceRefSchema>;

/** What the worker did to the source before the provider read it (absent: the provider read the original). */
export const preparedSourceSchema = z.object({
  /** The source's format, as its decoder read it. */
  format: z.string(),
  /** Why it was converted ("TIFF", "16-bit", "CMYK", "EXIF orientation 6", …); empty when only scaled. */
  conversions: z.array(z.string()),
  /** An animated GIF or WebP: its first frame was used. */
  animated: z.boolean(),
});
export type PreparedSource = z.infer<typeof preparedSourceSchema>;

/**
 * A job's plan as saved: geometry's canvas plan (scale, margins, output size, generated share, cost
 * of one output) with where the provider reads the source, the target's label and the output's type.
 */
const jobPlanSchema = canvasPlanSchema.extend({
  sourceRef: sourceRefSchema,
  preparedSource: preparedSourceSchema.optional(),
  targetLabel: z.string(),
  contentType: z.string(),
});
export type JobPlan = z.output<typeof jobPlanSchema>;

const taskStateSchema = z.object({
  variant: z.number().int().min(0),
  generation: z.number().int().min(0),
  taskUUID: z.string(),
  key: z.string(),
  /** The provider acknowledged this taskUUID (accepted, or conflictTaskUUID). */
  confirmed: z.boolean(),
  submitAttempts: z.number().int().min(0),
  submittedAt: z.number().optional(),
  deadline: z.number(),
});
export type TaskState = z.infer<typeof taskStateSchema>;

export const stepStateSchema = z.preprocess(
  upgradeSavedPlan,
  z.object({
    step: z.enum(STEPS),
    plan: jobPlanSchema.optional(),
    tasks: z.array(taskStateSchema),
    /** The generation the plan's tasks started at: above 0 for a failed job retried (plan-step.ts). */
    firstGeneration: z.number().int().min(0).optional(),
    enqueuedAt: z.number(),
    plannedAt: z.number().optional(),
    submittedAt: z.number().optional(),
    /**
     * S3 could not be reached at this step (step-machine.ts): since when this job has waited for it,
     * how many times it parked, and the problem last met. Gone once the step gets past it.
     */
    storageOutage: z
      .object({ since: z.number(), waits: z.number().int().min(0), problem: z.string() })
      .optional(),
    /**
     * Generations given back (step-machine.ts): the provider failed them for our storage
     * (uploadFailed, downloadFailed) while S3 was found out, so they do not count against
     * TASK_MAX_GENERATIONS, up to TASK_MAX_OUTAGE_GENERATIONS per variant. Saved with the redo, so a
     * job that runs again decides the same.
     */
    outageGenerations: z
      .array(z.object({ variant: z.number().int().min(0), generation: z.number().int().min(0) }))
      .optional(),
  }),
);
export type StepState = z.output<typeof stepStateSchema>;

/**
 * Jobs parked in Redis before the plan was geometry's canvas plan carry a flat one: width, height,
 * sourceWidth, sourceHeight, and the cost of all variants. They are read into the current shape (the
 * cost shared by the job's tasks, one per variant; the generated share worked out from the sizes),
 * so an upgrade does not fail the jobs in flight.
 */
function upgradeSavedPlan(state: unknown): unknown {
  if (!isRecord(state) || !isRecord(state.plan) || !("width" in state.plan) || "output" in state.plan)
    return state;
  const { width, height, sourceWidth, sourceHeight, costUsd, ...rest } = state.plan;
  const output = { width, height };
  const scaledSource = { width: sourceWidth, height: sourceHeight };
  const variants = Array.isArray(state.tasks) ? Math.max(1, state.tasks.length) : 1;
  const sizes = [width, height, sourceWidth, sourceHeight];
  return {
    ...state,
    plan: {
      ...rest,
      output,
      scaledSource,
      costUsd: typeof costUsd === "number" ? costUsd / variants : costUsd,
      generatedShare: sizes.every((side) => typeof side === "number" && side > 0)
        ? generatedShareOf(
            scaledSource as { width: number; height: number },
            output as { width: number; height: number },
          )
        : undefined,
      notes: [],
    },
  };
}

function isRecord(value: unknown): value is Record<string, unknown> {
  return typeof value === "object" && value !== null && !Array.isArray(value);
}

export function initialState(enqueuedAt: number): StepState {
  return { step: "plan", tasks: [], enqueuedAt };
}

/**
 * A failed job sent back to the queue (`reframe batch retry`): back at the plan step, its earlier
 * tasks kept, so its new tasks take the next generation (a taskUUID the provider has seen is answered
 * conflictTaskUUID, and its old outcome is still stored).
 */
export function retryState(state: StepState | undefined, now: number): StepState {
  return { ...initialState(now), tasks: state?.tasks ?? [] };
}

/**
 * The job as enqueued plus the step machine's state; strict like the job: a stray field is an error.
 * Jobs saved before the processing version's rename carry it as `pipelineVersion`: read as
 * `processingVersion`, so an upgrade does not fail the jobs waiting or in flight.
 */
export const outpaintJobDataSchema = z.preprocess(
  upgradeSavedVersionName,
  outpaintJobSchema.extend({ state: stepStateSchema.optional() }),
);
export type OutpaintJobData = z.output<typeof outpaintJobDataSchema>;

function upgradeSavedVersionName(data: unknown): unknown {
  if (!isRecord(data) || !("pipelineVersion" in data)) return data;
  const { pipelineVersion, ...rest } = data;
  return "processingVersion" in rest ? rest : { ...rest, processingVersion: pipelineVersion };
}

/**
 * Reads `job.data` into the job and its step state (absent until a worker saved one). Throws the
 * schema's error, naming the field, for data no producer of this version writes.
 */
export function parseOutpaintJobData(data: unknown): { job: OutpaintJob; state: StepState | undefined } {
  const { state, ...job } = outpaintJobDataSchema.parse(data);
  return { job, state };
}
