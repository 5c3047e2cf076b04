import { ServiceUnreachableError } from "@reframe/reachability";
import type { Logger } from "@reframe/telemetry";

export interface Stoppable {
  /** Stops taking work, lets work in flight finish or park, closes connections. */
  close(): Promise<void>;
}

export interface RunProcessOptions<T extends Stoppable> {
  /** The process, e.g. "worker": it names the log lines. */
  name: string;
  logger: Logger;
  start(): Promise<T>;
  /** A stop still running after this long exits with code 1 anyway. */
  shutdownTimeoutMs: number;
  /** Said in the log when a stop begins (what happens to work in flight). */
  stoppingMessage: string;
}

/**
 * Every reframe process's lifecycle: a start that fails is one readable fatal line and exit 1 (not a
 * stack trace on the terminal; `cannot reach Redis at … (connection refused)` when a service does not
 * answer); SIGTERM or SIGINT closes the process within its bound, exit 0.
 */
export async function runProcess<T extends Stoppable>(options: RunProcessOptions<T>): Promise<T> {
  const { logger, name } = options;
  let running: T;
  try {
    running = await options.start();
  } catch (error) {
    // A service that does not answer is the operator's to fix, not a bug: its one line, no stack.
    const fields = error instanceof ServiceUnreachableError ? { unreachable: error.target } : { err: error };
    logger.fatal(fields, `${name} could not start: ${(error as Error).message}`);
    process.exit(1);
  }
  let stopping = false;
  const shutdown = (signal: NodeJS.Signals) => {
    if (stopping) return;
    stopping = true;
    logger.info({ signal }, `stopping: ${options.stoppingMessage}`);
    const forced = setTimeout(() => {
      logger.error({ timeoutMs: options.shutdownTimeoutMs }, "shutdown took too long; exiting");
      process.exit(1);
    }, options.shutdownTimeoutMs);
    forced.unref();
    running.close().then(
      () => process.exit(0),
      (error: unknown) => {
        logger.error({ err: error }, "shutdown failed");
        process.exit(1);
      },
    );
  };
  process.on("SIGTERM", shutdown);
  process.on("SIGINT", shutdown);
  return running;
}
