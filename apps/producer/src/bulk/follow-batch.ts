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
 * Polls a batch until none of its jobs is in flight, drawing completed, failed and in flight. A
 * batch is sealed before it is followed by `reframe bulk`; any other batch ends the follow when it
 * has nothing in flight (an API batch is never sealed).
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
    if (last.inFlight === 0) {
      progress.done(line(last, ""));
      return { kind: "ended", status: last };
    }
    progress.update(
      line(last, rateAndEta(ended - firstEnded, last.inFlight, now() - startedAt)),
      last.total ? ended / last.total : undefined,
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
  const fraction = status.total ? ended / status.total : 1;
  return `${bar(fraction)} ${ended}/${status.total}  completed ${status.completed}  failed ${status.failed}  in flight ${status.inFlight}${rate}`;
}
