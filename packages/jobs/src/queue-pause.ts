import type { Queue } from "bullmq";
import { z } from "zod";

/**
 * Why a queue is paused. BullMQ keeps only the paused flag; reframe keeps the reason beside it
 * (`<prefix>:<queue>:pause-reason`), so the metrics, the dashboard and `reframe queue counts` can say
 * "paused: insufficientCredits" instead of "paused". A queue paused by hand (Bull Board, the CLI)
 * has no reason of its own and reads as "manual".
 */
export const pauseReasonSchema = z.object({
  /** A provider code (insufficientCredits, invalidApiKey), or "manual". */
  code: z.string().min(1),
  message: z.string(),
  pausedAt: z.number(),
});
export type PauseReason = z.output<typeof pauseReasonSchema>;

export interface PauseState {
  paused: boolean;
  /** Present while paused; "manual" when nobody recorded a reason. */
  reason?: PauseReason;
}

type PausableQueue = Pick<Queue, "pause" | "resume" | "isPaused" | "toKey" | "getBackend">;

const reasonKey = (queue: Pick<Queue, "toKey">) => queue.toKey("pause-reason");

/** Pauses with a reason; false when the queue was already paused (the first reason stays). */
export async function pauseQueueFor(queue: PausableQueue, reason: PauseReason): Promise<boolean> {
  if (await queue.isPaused()) return false;
  const client = await queue.getBackend().client;
  await client.set(reasonKey(queue), JSON.stringify(pauseReasonSchema.parse(reason)));
  await queue.pause();
  return true;
}

/** Resumes and forgets the reason. */
export async function resumeQueue(queue: PausableQueue): Promise<void> {
  await queue.resume();
  const client = await queue.getBackend().client;
  await client.del(reasonKey(queue));
}

export async function readPauseState(
  queue: Pick<Queue, "isPaused" | "toKey" | "getBackend">,
): Promise<PauseState> {
  const client = await queue.getBackend().client;
  const [paused, raw] = await Promise.all([queue.isPaused(), client.get(reasonKey(queue))]);
  if (!paused) return { paused };
  const parsed = raw ? pauseReasonSchema.safeParse(JSON.parse(raw)) : undefined;
  return {
    paused,
    reason: parsed?.success ? parsed.data : { code: "manual", message: "paused by hand", pausedAt: 0 },
  };
}
