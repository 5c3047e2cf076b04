import { resumeQueue, type SpendLedger, spendPauseLifted } from "@reframe/jobs";
import type { Logger } from "@reframe/telemetry";
import type { Queue } from "bullmq";

/** How often a worker looks whether a spend pause may end (a day's end is never late by more). */
const CHECK_EVERY_MS = 30_000;

export interface SpendWatch {
  stop(): void;
}

/**
 * Lifts a pause the spend ceiling caused, once it no longer holds: a new UTC day began, or this
 * worker enforces a higher SPEND_LIMIT_USD_PER_DAY than the one reached (or none: the ceiling was
 * turned off). The worker also publishes its ceiling, for `reframe queue resume` and `reframe
 * pipelines list` to read; every worker should be given the same one. A pause for any other reason
 * (an account pause, `reframe queue pause`) has no spend record and is never lifted here.
 */
export function startSpendWatch({
  ledger,
  queue,
  limitUsd,
  logger,
  now = Date.now,
  intervalMs = CHECK_EVERY_MS,
  onSpend,
}: {
  ledger: SpendLedger;
  queue: Pick<Queue, "pause" | "isPaused" | "resume" | "toKey" | "getBackend">;
  limitUsd: number | undefined;
  logger: Logger;
  now?: () => number;
  intervalMs?: number;
  /** Today's spend against the ceiling, at each check (the `reframe_spend_usd{ceiling="day"}` gauge). */
  onSpend?: (spentUsd: number, limitUsd: number) => void;
}): SpendWatch {
  const check = async () => {
    await ledger.publishLimit(limitUsd);
    const { pause, spentUsd } = await ledger.status(now());
    if (limitUsd !== undefined) onSpend?.(spentUsd, limitUsd);
    if (!pause || !spendPauseLifted(pause, limitUsd, now())) return;
    await ledger.clearPause();
    if (!(await queue.isPaused())) return;
    await resumeQueue(queue);
    logger.warn(
      { alert: "spendCeiling", limitUsd, reachedOn: pause.day },
      `resumed the outpaint queue paused by the spend ceiling: ${limitUsd === undefined ? "the ceiling is off" : `a new UTC day, or SPEND_LIMIT_USD_PER_DAY is now $${limitUsd.toFixed(2)}`}`,
    );
  };
  const run = () => void check().catch((error) => logger.warn({ err: error }, "spend watch: check failed"));
  run();
  const timer = setInterval(run, intervalMs);
  timer.unref();
  return {
    stop() {
      clearInterval(timer);
    },
  };
}
