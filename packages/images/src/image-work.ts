import pLimit from "p-limit";
import sharp from "sharp";

/**
 * Image work is bounded by design, whatever WORKER_CONCURRENCY lets in:
 * - at most `concurrency` decodes at once in a process (IMAGE_CONCURRENCY, the CPU count by
 *   default), each on one libvips thread;
 * - at most twice as many sources held on local disk (downloading, or waiting for a decoder), so
 *   the next sources arrive while the current ones decode, and disk and S3 traffic stay bounded too.
 * A source slot is taken without waiting (`tryHoldSource`): a job that finds none is parked by its
 * caller and comes back later, so jobs waiting for image work never hold the queue's worker slots
 * that other jobs need to submit and finalize. A holder of a source slot may wait for a decode slot.
 */
export interface ImageSlots {
  /** Runs `work` in a decode slot. */
  run<T>(work: () => Promise<T>): Promise<T>;
  /**
   * A source slot for `waiter` (a job id) if one is free now (`release` frees it), else how long
   * the waiter should stay away before asking again.
   */
  tryHoldSource(waiter: string): SourceHold;
  readonly concurrency: number;
}

export type SourceHold = { release: () => void } | { retryInMs: number };

/**
 * A waiter's wait is its place among this process's waiters times the mean time a source slot is
 * held, over the number of source slots: each comes back about when a slot should be free for it,
 * instead of every parked job asking every second or two (200 jobs parked on 4 slots asked 130 times
 * a second, each a round of BullMQ scripts on the worker and Redis, for about 1.5 slots freed).
 * A little early (three quarters of that): a waiter that finds no slot costs one more park, while a
 * slot left empty leaves a decoder idle. Within bounds, and spread by ±20% so that waiters of one
 * place do not come back together.
 */
const PARK_MS = { min: 500, max: 60_000, initialHold: 2_000, early: 0.75, jitter: 0.2 } as const;
/** A waiter that has not come back this long after its time (its job removed, another worker's) is forgotten. */
const WAITER_GRACE_MS = 10_000;

export function createImageSlots(
  concurrency: number,
  options: { now?: () => number; random?: () => number } = {},
): ImageSlots {
  const now = options.now ?? Date.now;
  const random = options.random ?? Math.random;
  const decodes = pLimit(concurrency);
  const sourceSlots = 2 * concurrency;
  let held = 0;
  let meanHoldMs: number = PARK_MS.initialHold;
  /** Waiters in the order they first found no slot, with when each is forgotten. */
  const waiting = new Map<string, number>();
  return {
    run: (work) => decodes(work),
    tryHoldSource(waiter) {
      const at = now();
      for (const [other, forgetAt] of waiting) if (forgetAt < at) waiting.delete(other);
      if (held >= sourceSlots) {
        const place = waiting.has(waiter) ? [...waiting.keys()].indexOf(waiter) : waiting.size;
        const wait = Math.min(
          PARK_MS.max,
          Math.max(PARK_MS.min, (PARK_MS.early * meanHoldMs * (place + 1)) / sourceSlots),
        );
        const retryInMs = Math.round(wait * (1 - PARK_MS.jitter + 2 * PARK_MS.jitter * random()));
        waiting.set(waiter, at + retryInMs + WAITER_GRACE_MS);
        return { retryInMs };
      }
      waiting.delete(waiter);
      held += 1;
      let freed = false;
      return {
        release() {
          if (freed) return;
          freed = true;
          held -= 1;
          meanHoldMs = 0.8 * meanHoldMs + 0.2 * (now() - at);
        },
      };
    },
    concurrency,
  };
}

/**
 * Process-wide sharp settings for image work; call once at start-up (main). libvips' operation cache
 * is off: the worker never processes the same image twice, so the cache would only hold memory
 * (up to 50 MB by default).
 */
export function configureSharp(): void {
  sharp.cache(false);
  // One libvips thread per image: parallelism comes from IMAGE_CONCURRENCY images at once, which
  // keeps glibc's per-thread arenas few (sharp sets 1 itself under glibc without jemalloc).
  sharp.concurrency(1);
}
