/**
 * The arithmetic of windowed admission, apart from Redis so that it can be checked exhaustively
 * (admission-window.test.ts). A batch's job stream is read in order; `position` jobs of it were
 * admitted (added to the queue, or skipped because they were there already). The batch keeps at most
 * `window` awaited jobs not yet ended (its pending set), so the next admission takes what the window
 * has room for, never past the stream's end.
 */

/** What `BULK_WINDOW` is unless set: enough queued work that the workers never starve between top-ups. */
export const DEFAULT_BULK_WINDOW = 10_000;
/** A window larger than this is no window: admit everything at once instead. */
export const MAX_BULK_WINDOW = 1_000_000;

const WINDOW_RULE = `must be an integer from 1 to ${MAX_BULK_WINDOW}`;

export function checkWindow(window: number): number {
  if (!Number.isInteger(window) || window < 1 || window > MAX_BULK_WINDOW)
    throw new RangeError(`window ${window}: ${WINDOW_RULE}`);
  return window;
}

export interface WindowState {
  window: number;
  /** The batch's awaited jobs that have not ended (they are in the queue, or about to be). */
  pending: number;
  /** Jobs of the stream already admitted. */
  position: number;
  /** Jobs in the stream. */
  jobs: number;
}

/** How many jobs of the stream to admit now, from `position`: room in the window, at most what is left. */
export function admissionRoom({ window, pending, position, jobs }: WindowState): number {
  return Math.max(0, Math.min(window - pending, jobs - position));
}

/**
 * The stream is stored in chunks of `chunkJobs` and the chunks already passed are dropped, so the
 * stored list starts with the chunk that holds `position`. Which stored chunks hold the next `count`
 * jobs, and where in the first one they start.
 */
export function chunkSpan(position: number, count: number, chunkJobs: number) {
  const offset = position % chunkJobs;
  return { first: 0, last: Math.ceil((offset + count) / chunkJobs) - 1, offset };
}

/** Chunks to drop from the head of the stored list when the position moves from `from` to `to`. */
export function chunksPassed(from: number, to: number, chunkJobs: number): number {
  return Math.floor(to / chunkJobs) - Math.floor(from / chunkJobs);
}
