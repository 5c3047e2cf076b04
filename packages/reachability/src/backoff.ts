export interface Backoff {
  /** The first wait. */
  baseMs: number;
  /** No wait is longer. */
  maxMs: number;
  /**
   * The share of each wait drawn at random, so that the clients one failure stopped together do not
   * come back together: 0 (none, the default), 0.5 (between half and all of it), 1 (up to all of it).
   */
  jitter?: number;
}

/**
 * The wait before retry `retry` (0 for the first): `baseMs` doubled at each retry, never above
 * `maxMs`, less the jitter's random share; whole milliseconds. Every backoff of reframe's is this one
 * formula with its own parameters: BullMQ's retries of a job, a refused submit, the reconciler's failed
 * polls, a job's waits for S3, the breakers' probes (whose Lua script repeats it) and Redis reconnections.
 */
export function backoffMs(backoff: Backoff, retry: number, random: () => number = Math.random): number {
  const ceiling = Math.min(backoff.maxMs, backoff.baseMs * 2 ** Math.max(0, retry));
  const jitter = backoff.jitter ?? 0;
  return Math.floor(jitter === 0 ? ceiling : ceiling * (1 - jitter) + random() * ceiling * jitter);
}
