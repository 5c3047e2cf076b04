import {
  type CliCommand,
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

export const queueCommand: CliCommand = {
  help: `reframe queue counts [--json]
reframe queue pause
reframe queue resume

  counts   jobs by state (waiting, delayed = parked while the provider works, active, completed,
           failed, …) and whether the queue is paused; --json: {paused, counts: {state: n}}
  pause    workers take no new job (parked jobs stay parked)
  resume   after a pause: the worker pauses the queue itself when the provider refuses the account
           (credits exhausted, a refused API key), and says so in its log

  Exit codes: 0, 2 bad usage, 4 Redis unreachable.`,
  async run(args, io) {
    const { values, positionals } = parseCommandArgs(args, JSON_FLAG);
    const [action, ...extra] = positionals;
    if (!action || !["counts", "pause", "resume"].includes(action) || extra.length > 0)
      throw new UsageError("queue needs one of: counts, pause, resume");
    return withOutpaintQueue(producerConfig(io.env), async (queue) => {
      if (action === "pause") await queue.pause();
      if (action === "resume") await queue.resume();
      if (action !== "counts") {
        io.out.write(`outpaint queue ${action}d\n`);
        return EXIT_CODES.ok;
      }
      const [counts, paused] = await Promise.all([queue.getJobCounts(...STATES), queue.isPaused()]);
      if (values.json) {
        writeJson(io, {
          paused,
          counts: Object.fromEntries(STATES.map((state) => [label(state), counts[state] ?? 0])),
        });
        return EXIT_CODES.ok;
      }
      const width = Math.max(...STATES.map((state) => label(state).length));
      io.out.write(`outpaint queue: ${paused ? "paused (reframe queue resume)" : "running"}\n`);
      for (const state of STATES)
        io.out.write(`  ${label(state).padEnd(width)}  ${String(counts[state] ?? 0).padStart(7)}\n`);
      return EXIT_CODES.ok;
    });
  },
};
