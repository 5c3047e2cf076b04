/**
 * When the reconciler asks again about a task that is still processing: half the task's age, within
 * [minMs, maxMs]. Each check then comes about 1.5× the age of the previous one — the official SDK's
 * ×1.5 backoff (provider-protocol §4.4), computed from the age so that any process can reschedule
 * any task without remembering earlier intervals. A long generation costs O(log) checks early and
 * one per `maxMs` later, instead of one per fixed interval; a short one is seen as early as before.
 */
export function nextPollDelayMs(ageMs: number, { minMs, maxMs }: { minMs: number; maxMs: number }): number {
  return Math.min(maxMs, Math.max(minMs, Math.round(Math.max(0, ageMs) / 2)));
}
