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
  /** A source slot if one is free now (call the function to free it), else undefined. */
  tryHoldSource(): (() => void) | undefined;
  readonly concurrency: number;
}

export function createImageSlots(concurrency: number): ImageSlots {
  const decodes = pLimit(concurrency);
  let held = 0;
  return {
    run: (work) => decodes(work),
    tryHoldSource() {
      if (held >= 2 * concurrency) return undefined;
      held += 1;
      let freed = false;
      return () => {
        if (freed) return;
        freed = true;
        held -= 1;
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
