import pLimit from "p-limit";
import sharp from "sharp";

/**
 * Image work is bounded by design: at most `concurrency` decodes run at once in a process
 * (IMAGE_CONCURRENCY, the CPU count by default), whatever WORKER_CONCURRENCY lets in, and each runs
 * on one libvips thread. libvips' operation cache is off: the worker never processes the same
 * image twice, so the cache would only hold memory (50 MB by default).
 */
export interface ImageSlots {
  run<T>(work: () => Promise<T>): Promise<T>;
  readonly concurrency: number;
}

export function createImageSlots(concurrency: number): ImageSlots {
  const limit = pLimit(concurrency);
  return { run: (work) => limit(work), concurrency };
}

/** Process-wide sharp settings for image work; call once at start-up (main). */
export function configureSharp(): void {
  sharp.cache(false);
  // One libvips thread per image: parallelism comes from IMAGE_CONCURRENCY images at once, which
  // keeps glibc's per-thread arenas few (sharp sets 1 itself under glibc without jemalloc).
  sharp.concurrency(1);
}
