import { createOutpaintQueue } from "@reframe/jobs";
import {
  confirmWrites,
  createRedisClient,
  type RedisClient,
  type RedisEnv,
  redisError,
  redisSettingsOf,
  waitForRedisReady,
} from "@reframe/redis";
import type { Queue, Telemetry } from "bullmq";
import { UsageError } from "./cli/usage-error.ts";

export interface QueueSession {
  connection: RedisClient;
  queue: Queue;
  prefix: string;
  /** The jobs added so far are on enough replicas to survive a failover (WriteNotConfirmedError). */
  confirmWrites(): Promise<void>;
}

/**
 * bullmq-otel while the CLI traces (OTEL_*): the jobs a command adds join its trace. Set once by
 * cli.ts at start; a CLI process runs one command.
 */
let sessionTelemetry: Telemetry | undefined;
export function traceQueueSessions(telemetry: Telemetry | undefined): void {
  sessionTelemetry = telemetry;
}

/**
 * The outpaint queue for one command, on any Redis topology: the connection is made (or `cannot
 * reach Redis at …` within seconds), the command runs, and everything is closed. A command that
 * fails because Redis went away says so in the same words.
 */
export async function withQueueSession<T>(
  env: RedisEnv,
  run: (session: QueueSession) => Promise<T>,
): Promise<T> {
  const settings = redisSettingsOf(env);
  const connection = createRedisClient(settings, { role: "producer" });
  let queue: Queue | undefined;
  try {
    // The queue is made once Redis answers: BullMQ would otherwise print each failed attempt.
    await waitForRedisReady(connection);
    queue = createOutpaintQueue({ connection, prefix: settings.prefix, telemetry: sessionTelemetry });
    // A lost connection fails the command's own calls, which say so; the queue need not print it.
    queue.on("error", () => undefined);
    return await run({
      connection,
      queue,
      prefix: settings.prefix,
      confirmWrites: () => confirmWrites(connection, settings),
    });
  } catch (error) {
    throw error instanceof UsageError ? error : redisError(connection, error);
  } finally {
    connection.disconnect();
    await queue?.close();
  }
}
