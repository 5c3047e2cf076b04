import { type ParseArgsConfig, parseArgs } from "node:util";
import { parseEnv } from "@reframe/config";
import type { RedisClient } from "@reframe/redis";
import type { Queue } from "bullmq";
import { type ProducerConfig, producerConfigSchema } from "../producer-config.ts";
import { withQueueSession } from "../queue-session.ts";

/**
 * One `reframe` command: its own help for `reframe <name> --help`, and what it does. Commands are
 * listed, with their name and summary, in command-table.ts; adding one is a module and an entry there.
 */
export interface CliCommand {
  /** `reframe <name> --help`: its synopsis, flags and exit codes, nothing of other commands. */
  help: string;
  /** Runs with the arguments after the command's name; resolves to the exit code. */
  run(args: string[], io: CliIo): Promise<number>;
}

export interface CliIo {
  env: NodeJS.ProcessEnv;
  /** What a script reads: results, plans, summaries, JSON. */
  out: NodeJS.WritableStream & { isTTY?: boolean };
  /** Progress and messages. */
  err: NodeJS.WritableStream & { isTTY?: boolean };
}

/**
 * Exit codes every command shares. Bulk and batch retry add 3 (over --max-cost, OVER_BUDGET_EXIT_CODE),
 * a Ctrl-C 130 (INTERRUPTED_EXIT_CODE).
 */
export const EXIT_CODES = {
  ok: 0,
  /** Some jobs failed (or the job asked about did). */
  failed: 1,
  /** A mistake on the command line or in the environment: the message names it. */
  usage: 2,
  /** Redis or S3 could not be reached: `cannot reach … (…)`. */
  unreachable: 4,
} as const;

/** `--json` on the commands that report a state, for scripts. */
export const JSON_FLAG = { json: { type: "boolean" } } as const;

/** parseArgs, strict, with positionals; an unknown flag is a usage error naming it (see cli.ts). */
export function parseCommandArgs<T extends NonNullable<ParseArgsConfig["options"]>>(
  args: string[],
  options: T,
) {
  return parseArgs({ args, options, allowPositionals: true, strict: true });
}

export function writeJson(io: CliIo, value: unknown): void {
  io.out.write(`${JSON.stringify(value, null, 2)}\n`);
}

/** The CLI's environment, parsed once per command (a bad variable is a usage error naming it). */
export function producerConfig(env: NodeJS.ProcessEnv): ProducerConfig {
  return parseEnv(producerConfigSchema, env);
}

/** The outpaint queue, for a command that needs only Redis (see withQueueSession). */
export function withOutpaintQueue<T>(
  config: ProducerConfig,
  run: (
    queue: Queue,
    context: { connection: RedisClient; prefix: string; confirmWrites(): Promise<void> },
  ) => Promise<T>,
): Promise<T> {
  return withQueueSession(config, ({ queue, ...context }) => run(queue, context));
}
