import {
  createSpendLedger,
  describeBreaker,
  listBreakers,
  resumeQueue,
  spendPauseLifted,
} from "@reframe/jobs";
import type { RedisClient } from "@reframe/redis";
import type { Queue } from "bullmq";
import {
  type CliCommand,
  type CliIo,
  EXIT_CODES,
  JSON_FLAG,
  parseCommandArgs,
  producerConfig,
  withOutpaintQueue,
  writeJson,
} from "./cli-command.ts";
import { UsageError } from "./usage-error.ts";

/** BullMQ's states, in the order a job goes through them ("wait" is what BullMQ calls waiting). */
const STATES = [
  "wait",
  "prioritized",
  "delayed",
  "active",
  "completed",
  "failed",
  "waiting-children",
] as const;
const label = (state: string) => (state === "wait" ? "waiting" : state);

/** The exit code of `reframe queue resume` refused while the spend ceiling still holds (as --max-cost). */
export const OVER_CEILING_EXIT_CODE = 3;

export const queueCommand: CliCommand = {
  help: `reframe queue counts [--json]
reframe queue pause
reframe queue resume

  counts   jobs by state (waiting, delayed = parked while the provider works, active, completed,
           failed, …), whether the queue is paused, and the breaker of each provider and S3 endpoint
           (open while it is down: jobs wait parked); --json: {paused, counts: {state: n}, breakers:
           [{service: provider|s3, endpoint, open, failures, openedAt?, probes?, nextProbeAt?}]}
  pause    workers take no new job (parked jobs stay parked)
  resume   after a pause: the worker pauses the queue itself when the provider refuses the account
           (credits exhausted, a refused API key), and says so in its log; after the spend ceiling
           (SPEND_LIMIT_USD_PER_DAY) paused it, only once the ceiling no longer holds (a new UTC day,
           or workers with a higher limit), else refused with exit code 3: resuming earlier would
           pause again at the next submit (the workers lift such a pause by themselves too)

  Exit codes: 0, 2 bad usage, 3 resume refused under the spend ceiling, 4 Redis unreachable.`,
  async run(args, io) {
    const { values, positionals } = parseCommandArgs(args, JSON_FLAG);
    const [action, ...extra] = positionals;
    if (!action || !["counts", "pause", "resume"].includes(action) || extra.length > 0)
      throw new UsageError("queue needs one of: counts, pause, resume");
    return withOutpaintQueue(producerConfig(io.env), async (queue, context) => {
      const now = Date.now();
      if (action === "resume") return resume(queue, context, io);
      if (action === "pause") {
        await queue.pause();
        io.out.write("outpaint queue paused\n");
        return EXIT_CODES.ok;
      }
      const [counts, paused, breakers] = await Promise.all([
        queue.getJobCounts(...STATES),
        queue.isPaused(),
        listBreakers(context.connection, { prefix: context.prefix }),
      ]);
      if (values.json) {
        writeJson(io, {
          paused,
          counts: Object.fromEntries(STATES.map((state) => [label(state), counts[state] ?? 0])),
          breakers,
        });
        return EXIT_CODES.ok;
      }
      const width = Math.max(...STATES.map((state) => label(state).length));
      io.out.write(`outpaint queue: ${paused ? "paused (reframe queue resume)" : "running"}\n`);
      for (const state of STATES)
        io.out.write(`  ${label(state).padEnd(width)}  ${String(counts[state] ?? 0).padStart(7)}\n`);
      for (const breaker of breakers) io.out.write(`${describeBreaker(breaker, now)}\n`);
      return EXIT_CODES.ok;
    });
  },
};

/**
 * Resume after the spend ceiling paused the queue goes on only once the ceiling no longer holds:
 * resuming earlier would pause again at the next submit, so it is refused with what to do instead.
 */
async function resume(
  queue: Queue,
  context: { connection: RedisClient; prefix: string },
  io: CliIo,
): Promise<number> {
  const ledger = createSpendLedger(context.connection, { prefix: context.prefix });
  const now = Date.now();
  const status = await ledger.status(now);
  if (status.pause && !spendPauseLifted(status.pause, status.limitUsd, now)) {
    io.out.write(
      `not resumed: the workers' planned spend today (UTC ${status.pause.day}) is $${status.spentUsd.toFixed(2)}, at its ceiling of $${status.pause.limitUsd.toFixed(2)} (SPEND_LIMIT_USD_PER_DAY); jobs would pause the queue again at their next submit. The workers resume it by themselves at 00:00 UTC, or when they run with a higher SPEND_LIMIT_USD_PER_DAY (restart them with it, then run this again). Nothing is lost meanwhile: jobs wait parked.\n`,
    );
    return OVER_CEILING_EXIT_CODE;
  }
  await ledger.clearPause();
  await resumeQueue(queue);
  io.out.write("outpaint queue resumed\n");
  return EXIT_CODES.ok;
}
