import { createSpendLedger, resumeQueue, spendPauseLifted } from "@reframe/jobs";
import type { RedisClient } from "@reframe/redis";
import type { Queue } from "bullmq";
import { UsageError } from "./source-spec.ts";

export interface QueueCommandContext {
  queue: Queue;
  connection: RedisClient;
  prefix: string;
  print(line: string): void;
  now?: () => number;
}

/** The exit code of `reframe queue resume` refused while the spend ceiling still holds (as --max-cost). */
export const OVER_CEILING_EXIT_CODE = 3;

/**
 * `reframe queue pause|resume|counts`; returns the exit code. Resume after the spend ceiling paused
 * the queue goes on only once the ceiling no longer holds (a new UTC day, or a higher
 * SPEND_LIMIT_USD_PER_DAY on the workers): resuming earlier would pause again at the next submit,
 * so it is refused with what to do instead. Workers lift such a pause by themselves as well.
 */
export async function runQueueCommand(argv: string[], context: QueueCommandContext): Promise<number> {
  const { queue, print } = context;
  switch (argv[0]) {
    case "pause":
      await queue.pause();
      print("outpaint queue paused");
      return 0;
    case "resume": {
      const ledger = createSpendLedger(context.connection, { prefix: context.prefix });
      const now = (context.now ?? Date.now)();
      const status = await ledger.status(now);
      if (status.pause && !spendPauseLifted(status.pause, status.limitUsd, now)) {
        print(
          `not resumed: the workers' planned spend today (UTC ${status.pause.day}) is $${status.spentUsd.toFixed(2)}, at its ceiling of $${status.pause.limitUsd.toFixed(2)} (SPEND_LIMIT_USD_PER_DAY); jobs would pause the queue again at their next submit. The workers resume it by themselves at 00:00 UTC, or when they run with a higher SPEND_LIMIT_USD_PER_DAY (restart them with it, then run this again). Nothing is lost meanwhile: jobs wait parked.`,
        );
        return OVER_CEILING_EXIT_CODE;
      }
      await ledger.clearPause();
      await resumeQueue(queue);
      print("outpaint queue resumed");
      return 0;
    }
    case "counts":
      print(JSON.stringify(await queue.getJobCounts(), null, 2));
      return 0;
    default:
      throw new UsageError("queue needs pause, resume or counts");
  }
}
