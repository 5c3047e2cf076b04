import { setTimeout as sleep } from "node:timers/promises";
import type { BatchStatus, BatchStore } from "@reframe/jobs";
import { UsageError } from "../cli/usage-error.ts";
import { bar, type ProgressLine, rateAndEta } from "./progress-line.ts";

export type FollowResult =
  | { kind: "ended"; status: BatchStatus }
  | { kind: "interrupted"; status: BatchStatus };

export interface FollowOptions {
  progress: ProgressLine;
  signal: AbortSignal;
  /** status() is O(1) (a hash, a small hash and SCARD), so polling it costs Redis next to nothing. */
  pollMs?: number;
  /** A Redis that stays unreachable this long ends the follow with the error. */
  giveUpAfterMs?: number;
  now?: () => number;
}

/**
 * Polls a batch until none of its jobs is in flight or waiting for admission, drawing completed,
 * failed, in flight and waiting. A batch is sealed before it is followed by `reframe bulk` (or
 * sealed by its admitter after its last window); any other batch ends the follow when it has nothing
 * in flight (an API batch is never sealed).
 */
export async function followBatch(
  store: Pick<BatchStore, "status">,
  batchId: string,
  { progress, signal, pollMs = 500, giveUpAfterMs = 60_000, now = Date.now }: FollowOptions,
): Promise<FollowResult> {
  const startedAt = now();
  let firstEnded: number | undefined;
  let last: BatchStatus | undefined;
  let failingSince: number | undefined;
  for (;;) {
    try {
      last = await store.status(batchId);
      failingSince = undefined;
    } catch (error) {
      failingSince ??= now();
      if (now() - failingSince > giveUpAfterMs) throw error;
      progress.update(`batch ${batchId}: Redis unreachable (${(error as Error).message}), retrying…`);
    }
    if (!last)
      throw new UsageError(`no batch ${batchId} (unknown, or expired 30 days after its last change)`);
    const ended = last.completed + last.failed;
    firstEnded ??= ended;
    // Jobs waiting for the window are still to run: a windowed batch may have none in flight a moment.
    if (last.inFlight === 0 && last.waiting === 0) {
      progress.done(line(last, ""));
      return { kind: "ended", status: last };
    }
    progress.update(
      line(last, rateAndEta(ended - firstEnded, last.inFlight + last.waiting, now() - startedAt)),
      last.total + last.waiting ? ended / (last.total + last.waiting) : undefined,
    );
    try {
      await sleep(pollMs, undefined, { signal });
    } catch {
      progress.done(line(last, ""));
      return { kind: "interrupted", status: last };
    }
  }
}

function line(status: BatchStatus, rate: string): string {
  const ended = status.completed + status.failed;
  const jobs = status.total + status.waiting;
  const fraction = jobs ? ended / jobs : 1;
  const waiting = status.waiting ? `  waiting ${status.waiting}` : "";
  return `${bar(fraction)} ${ended}/${jobs}  completed ${status.completed}  failed ${status.failed}  in flight ${status.inFlight}${waiting}${rate}`;
}
