#!/usr/bin/env -S node --max-semi-space-size=8 --heap-growing-percent=50
// The Node flags above are the CLI's (scripts/run.sh and the test fixtures run it with them): a young
// generation of at most 8 MB a half. Node sizes it from the machine's memory, and with its default a
// streamed `reframe bulk` plan (fast to allocate, little kept) peaked about 100 MB higher on 24 GB;
// 8 MB rather than 16 took another 22 MB off a 200,000-row dry run's peak for the same CPU time.
// And an old generation that grows by half its live size between full collections instead of V8's
// adaptive factor (up to 4×): the plan's live set is small (about 50 MB) but its promoted garbage
// filled about 150 MB before each collection. A million-row dry run peaked at 256 MiB instead of
// 398 MiB at the same 58,000 rows/s (`npm run bench -- bulkMillion`); --optimize-for-size took it
// to 189 MiB but halved the rate.
import { readFileSync } from "node:fs";
import { ServiceUnreachableError } from "@reframe/reachability";
import { SPANS, startTracing, type Tracing, TracingConfigError, withSpan } from "@reframe/telemetry";
import type { CliIo } from "./cli/cli-command.ts";
import { COMMANDS, type CommandEntry } from "./cli/command-table.ts";
import { UsageError } from "./cli/usage-error.ts";
import { traceQueueSessions } from "./queue-session.ts";

/**
 * The `reframe` command line: `reframe <command> …` runs a command of the table (cli/command-table.ts),
 * `reframe <command> --help` prints that command's help, `reframe --help` the list, `reframe
 * --version` the version. Whatever goes wrong is one line on stderr and an exit code, never a stack
 * trace for a mistake or a service that does not answer.
 */

const VERSION = (
  JSON.parse(readFileSync(new URL("../package.json", import.meta.url), "utf8")) as { version: string }
).version;

function overview(): string {
  const width = Math.max(...COMMANDS.map((command) => command.name.length));
  return `reframe ${VERSION}: outpaint jobs on a queue

Usage: reframe <command> [arguments] [--json]
       reframe <command> --help      that command's arguments
       reframe --version

Commands:
${COMMANDS.map((command) => `  ${command.name.padEnd(width)}  ${command.summary}`).join("\n")}

Environment: REDIS_URL (or REDIS_SENTINELS with REDIS_SENTINEL_NAME, or REDIS_CLUSTER_NODES; see the
README for credentials and TLS), QUEUE_PREFIX, OUTPUT_BUCKET; bulk and batch also S3_ENDPOINT,
S3_REGION, S3_FORCE_PATH_STYLE, S3_ACCESS_KEY_ID, S3_SECRET_ACCESS_KEY (as the worker's).
Exit codes: 0 done, 1 jobs failed (or a write not confirmed by the replicas), 2 bad usage, 3 over --max-cost, 4 Redis or S3 unreachable,
130 interrupted.`;
}

const wantsHelp = (args: readonly string[]) => args.includes("--help") || args.includes("-h");

async function run(argv: string[], io: CliIo): Promise<number> {
  const [name, ...rest] = argv;
  if (name === "--version" || name === "-V") return print(io, `reframe ${VERSION}`);
  if (name === undefined || name === "--help" || name === "-h") return print(io, overview());
  if (name === "help") return print(io, rest[0] ? (await commandNamed(rest[0]).load()).help : overview());
  const command = await commandNamed(name).load();
  if (wantsHelp(rest)) return print(io, command.help);
  return command.run(rest, io);
}

function commandNamed(name: string): CommandEntry {
  const command = COMMANDS.find((candidate) => candidate.name === name);
  if (!command)
    throw new UsageError(`unknown command ${name}; the commands: ${COMMANDS.map((c) => c.name).join(", ")}`);
  return command;
}

function print(io: CliIo, text: string): number {
  io.out.write(`${text}\n`);
  return 0;
}

/** What the user is told when a command fails, and the exit code; undefined for a bug (thrown). */
async function failure(
  error: unknown,
  argv: readonly string[],
): Promise<{ message: string; code: number } | undefined> {
  // Loaded here, not at start: `reframe --version` and `--help` need neither.
  const { EXIT_CODES } = await import("./cli/cli-command.ts");
  const { ConfigError } = await import("@reframe/config");
  const { WriteNotConfirmedError } = await import("@reframe/redis");
  const { RunInputError } = await import("@reframe/runs");
  if (error instanceof WriteNotConfirmedError) return { message: error.message, code: EXIT_CODES.failed };
  if (error instanceof TracingConfigError) return { message: error.message, code: EXIT_CODES.usage };
  if (error instanceof ServiceUnreachableError)
    return { message: error.message, code: EXIT_CODES.unreachable };
  if (error instanceof UsageError || error instanceof ConfigError || error instanceof RunInputError)
    return { message: error.message, code: EXIT_CODES.usage };
  if (error instanceof Error && "code" in error && String(error.code).startsWith("ERR_PARSE_ARGS_")) {
    const name = argv[0];
    const hint = COMMANDS.some((command) => command.name === name)
      ? `reframe ${name} --help`
      : "reframe --help";
    // Node's text for an unknown flag goes on about positionals; the flag is what matters.
    const unknown = error.code === "ERR_PARSE_ARGS_UNKNOWN_OPTION" && /'(-[^']*)'/.exec(error.message)?.[1];
    const text = unknown ? `unknown flag ${unknown}` : error.message;
    return { message: `${text} (see ${hint})`, code: EXIT_CODES.usage };
  }
  return undefined;
}

const io: CliIo = { env: process.env, out: process.stdout, err: process.stderr };
// `reframe presets | head -3`: the reader left, which is no error of ours.
process.stdout.on("error", (error: NodeJS.ErrnoException) => {
  if (error.code === "EPIPE") process.exit(process.exitCode ?? 0);
  throw error;
});
const argv = process.argv.slice(2);
let tracing: Tracing | undefined;
try {
  // With OTEL_* set, a command is the root of its jobs' traces (see the README's Tracing).
  tracing = startTracing({ serviceName: "cli" });
  traceQueueSessions(tracing?.bullmq);
  process.exitCode = await withSpan(SPANS.cliCommand, { command: argv[0] ?? "help" }, () => run(argv, io), {
    root: true,
  });
} catch (error) {
  const known = await failure(error, argv);
  if (!known) throw error;
  io.err.write(`reframe: ${known.message}\n`);
  process.exitCode = known.code;
} finally {
  await tracing?.shutdown();
}
