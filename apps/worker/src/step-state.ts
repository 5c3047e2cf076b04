import { z } from "zod";

/**
 * The outpaint step machine, kept in `job.data.state` (BullMQ's step-jobs pattern), so whichever
 * worker process picks the job up next resumes where the last one stopped.
 *
 * plan — read the source's dimensions (given, or a ranged GET of its header), plan the canvas within
 *   the provider's limits (pre-scaling the source into a scratch object when asked to), name the
 *   output key of every variant. A plan that cannot be made fails the job (terminal).
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

export const STEPS = ["plan", "submit", "await", "finalize"] as const;
export type Step = (typeof STEPS)[number];

const marginsSchema = z.object({
  top: z.number().int(),
  right: z.number().int(),
  bottom: z.number().int(),
  left: z.number().int(),
});

/** Where the provider reads the source: the original object, a pre-scaled scratch copy, or a URL. */
export const sourceRefSchema = z.discriminatedUnion("kind", [
  z.object({ kind: z.literal("s3"), bucket: z.string(), key: z.string() }),
  z.object({ kind: z.literal("url"), url: z.string() }),
]);
export type SourceRef = z.infer<typeof sourceRefSchema>;

export const canvasPlanSchema = z.object({
  margins: marginsSchema,
  width: z.number().int(),
  height: z.number().int(),
  sourceWidth: z.number().int(),
  sourceHeight: z.number().int(),
  sourceScale: z.number(),
  costUsd: z.number(),
  exactSizeMet: z.boolean(),
  requested: z.object({ width: z.number().int(), height: z.number().int() }).nullable(),
  sourceRef: sourceRefSchema,
  targetLabel: z.string(),
  contentType: z.string(),
});
export type CanvasPlan = z.infer<typeof canvasPlanSchema>;

export const taskStateSchema = z.object({
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

export const stepStateSchema = z.object({
  step: z.enum(STEPS),
  plan: canvasPlanSchema.optional(),
  tasks: z.array(taskStateSchema),
  /** The generation the plan's tasks started at: above 0 for a failed job retried (plan-step.ts). */
  firstGeneration: z.number().int().min(0).optional(),
  enqueuedAt: z.number(),
  plannedAt: z.number().optional(),
  submittedAt: z.number().optional(),
});
export type StepState = z.infer<typeof stepStateSchema>;

export function initialState(enqueuedAt: number): StepState {
  return { step: "plan", tasks: [], enqueuedAt };
}
