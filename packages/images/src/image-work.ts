import pLimit from "p-limit";
import sharp from "sharp";

/**
 * Image work is bounded by design, whatever WORKER_CONCURRENCY lets in:
 * - at most `concurrency` decodes at once in a process (IMAGE_CONCURRENCY, the CPU count by
 *   default), each on one libvips thread;
 * - at most twice as many sources held on local disk (downloading, or waiting for a decoder), so
 *   the next sources arrive while the current ones decode, and disk and S3 traffic stay bounded too;
 * - at most as many jobs again waiting in the process for a source slot, each handed the next freed
 *   slot at once (first come, first served): a freed slot starts its next download without waiting
 *   for a parked job to come back through the queue.
 * A job that finds every source slot taken and the line in the process full is parked by its caller
 * and comes back later, so jobs waiting for image work hold few of the queue's worker slots (that
 * other jobs need to submit and finalize): woken as soon as the line has room for it (`whenRoom`),
 * or, should that fail, at about the time estimated when it parked. A holder of a source slot may
 * wait for a decode slot.
 */
export interface ImageSlots {
  /** Runs `work` in a decode slot. */
  run<T>(work: () => Promise<T>): Promise<T>;
  /**
   * A source slot for `waiter` (a job id): held now (`release` frees it), or a place in the line of
   * this process (`queued` resolves with the slot when one is freed for it), or, when the line is
   * full, how long the waiter should stay away before asking again.
   */
  tryHoldSource(waiter: string): SourceHold;
  /**
   * `wake` brings back a waiter that was told to park (its job is parked now): it is called once,
   * in the order the waiters first found no room, when the line has room for it.
   */
  whenRoom(waiter: string, wake: () => void): void;
  readonly concurrency: number;
}

export interface HeldSource {
  release: () => void;
}

export type SourceHold = HeldSource | { queued: Promise<HeldSource> } | { retryInMs: number };

/**
 * A parked waiter's wait is its place (behind the line in the process and the waiters parked before
 * it) times the mean time a source slot is held, over the number of source slots: each comes back
 * about when the line should have room for it, instead of every parked job asking every second or two
 * (200 jobs parked on 4 slots asked 130 times a second, each a round of BullMQ scripts on the worker
 * and Redis, for about 1.5 slots freed). A little early (three quarters of that): the line absorbs an
 * early return, while a late one can leave a decoder idle. Within bounds, and spread by ±20% so that
 * waiters of one place do not come back together.
 */
const PARK_MS = { min: 500, max: 60_000, initialHold: 2_000, early: 0.75, jitter: 0.2 } as const;
/** A waiter that has not come back this long after its time (its job removed, another worker's) is forgotten. */
const WAITER_GRACE_MS = 10_000;
/**
 * A woken waiter counts as coming back (room kept for it) this long: one that does not (another
 * worker took its job) is forgotten, and the room goes to the next.
 */
const WOKEN_GRACE_MS = 5_000;

interface Parked {
  forgetAt: number;
  wake?: () => void;
  wokenAt?: number;
}

export function createImageSlots(
  concurrency: number,
  options: { now?: () => number; random?: () => number } = {},
): ImageSlots {
  const now = options.now ?? Date.now;
  const random = options.random ?? Math.random;
  const decodes = pLimit(concurrency);
  const sourceSlots = 2 * concurrency;
  /** Jobs waiting in the process for a source slot, at most as many as there are source slots. */
  const lineLength = sourceSlots;
  let held = 0;
  let meanHoldMs: number = PARK_MS.initialHold;
  /** Parked waiters in the order they first found no room. */
  const waiting = new Map<string, Parked>();
  const line: ((hold: HeldSource) => void)[] = [];
  const forget = (at: number) => {
    for (const [waiter, parked] of waiting)
      if (parked.forgetAt < at || (parked.wokenAt !== undefined && parked.wokenAt + WOKEN_GRACE_MS < at))
        waiting.delete(waiter);
  };
  /** Wakes parked waiters, first come first, while those woken are fewer than the room they come back to. */
  const wakeSome = () => {
    const at = now();
    forget(at);
    let room = sourceSlots - held + lineLength - line.length;
    for (const parked of waiting.values()) if (parked.wokenAt !== undefined) room -= 1;
    for (const parked of waiting.values()) {
      if (room <= 0) return;
      if (parked.wokenAt !== undefined || !parked.wake) continue;
      parked.wokenAt = at;
      room -= 1;
      parked.wake();
    }
  };
  const hold = (): HeldSource => {
    const at = now();
    let freed = false;
    return {
      release() {
        if (freed) return;
        freed = true;
        meanHoldMs = 0.8 * meanHoldMs + 0.2 * (now() - at);
        // Handed on, not given back: the first in line takes it at once.
        const next = line.shift();
        if (next) next(hold());
        else held -= 1;
        wakeSome();
      },
    };
  };
  return {
    run: (work) => decodes(work),
    tryHoldSource(waiter) {
      const at = now();
      forget(at);
      if (held < sourceSlots) {
        waiting.delete(waiter);
        held += 1;
        return hold();
      }
      if (line.length < lineLength) {
        waiting.delete(waiter);
        return { queued: new Promise<HeldSource>((resolve) => line.push(resolve)) };
      }
      const place = waiting.has(waiter) ? [...waiting.keys()].indexOf(waiter) : waiting.size;
      const wait = Math.min(
        PARK_MS.max,
        Math.max(PARK_MS.min, (PARK_MS.early * meanHoldMs * (line.length + place + 1)) / sourceSlots),
      );
      const retryInMs = Math.round(wait * (1 - PARK_MS.jitter + 2 * PARK_MS.jitter * random()));
      // Set again, a waiter keeps its place; it is woken again once its job is parked again.
      waiting.set(waiter, { forgetAt: at + retryInMs + WAITER_GRACE_MS });
      return { retryInMs };
    },
    whenRoom(waiter, wake) {
      const parked = waiting.get(waiter);
      if (!parked) return;
      parked.wake = wake;
      wakeSome();
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
