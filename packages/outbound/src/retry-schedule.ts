/**
 * When a failed delivery is tried again: the waits before the 2nd, 3rd, … attempt. The default is the
 * schedule the Standard Webhooks specification suggests (attempt at once, then after 5 s, 5 min,
 * 30 min, 2 h, 5 h, 10 h and 10 h: eight attempts over about 27.6 hours), a roughly exponential
 * curve that rides out a deploy, an outage of an afternoon and a night. Each wait is jittered by
 * ±20 % so that the deliveries of one outage do not all come back in one wave.
 */
export const DEFAULT_RETRY_SCHEDULE = "5s,5m,30m,2h,5h,10h,10h";
export const RETRY_JITTER = 0.2;

const UNIT_MS: Record<string, number> = { ms: 1, s: 1000, m: 60_000, h: 3_600_000, d: 86_400_000 };

/** "1500ms", "5s", "5m", "2h", "1d" → milliseconds; undefined when it is not a duration. */
export function parseDuration(text: string): number | undefined {
  const match = /^(\d+(?:\.\d+)?)(ms|s|m|h|d)$/.exec(text.trim());
  return match ? Math.round(Number(match[1]) * UNIT_MS[match[2]!]!) : undefined;
}

/** "5s,5m,30m" → [5000, 300000, 1800000]; throws naming the item that is not a duration. */
export function parseRetrySchedule(text: string): number[] {
  const items = text.split(",").map((item) => item.trim());
  return items.map((item) => {
    const ms = parseDuration(item);
    if (ms === undefined) throw new TypeError(`"${item}" is not a duration (e.g. 500ms, 5s, 5m, 2h, 1d)`);
    return ms;
  });
}

/** The wait after `attemptsMade` failed attempts, or undefined when the schedule is used up. */
export function retryDelay(
  schedule: readonly number[],
  attemptsMade: number,
  random: () => number = Math.random,
): number | undefined {
  const base = schedule[attemptsMade - 1];
  if (base === undefined) return undefined;
  return Math.round(base * (1 - RETRY_JITTER + 2 * RETRY_JITTER * random()));
}
