/**
 * When the reconciler asks again about a task that is still processing: a quarter of the task's age,
 * within [minMs, maxMs]. A result is then seen at most about a quarter of its generation time late
 * (never more than `maxMs`), while a long generation costs a few checks per doubling of its age and
 * then one per `maxMs`, instead of one per fixed interval. Checks are batched (100 tasks per
 * getResponse), so they are cheap; the age is the only state, so any process can reschedule any task.
 */
export function nextPollDelayMs(ageMs: number, { minMs, maxMs }: { minMs: number; maxMs: number }): number {
  return Math.min(maxMs, Math.max(minMs, Math.round(Math.max(0, ageMs) / 4)));
}
