import { createRedisClient, type RedisSettings } from "@reframe/redis";
import type { RunningProcess } from "@reframe/testkit";
import type { RedisOutage } from "./chaos-report.ts";

/** Longest the harness waits for Redis and the workers to come back before it calls it unmeasured. */
const OUTAGE_LIMIT_MS = 300_000;
const WRITE_EVERY_MS = 100;
const HEALTH_EVERY_MS = 250;

export interface OutageWatch {
  /** Call when the master has just been killed: the outage is measured from then. */
  killed(): void;
  /** Resolves once Redis takes writes and the workers are back (undefined if not within 5 min). */
  result: Promise<RedisOutage | undefined>;
}

/**
 * Measures Redis's outage as reframe saw it in a fault-injection run: from the moment the master died (or
 * the single node went down) until writes to reframe's slot went through again, through a client
 * built as the workers build theirs, and then until every live worker reported itself ready again
 * (its `/healthz`: Redis connection up, BullMQ worker taking jobs). A failover's pause is not
 * compressed with the jobs' deadlines, so the run's judgement of "stuck" needs it measured.
 *
 * Started before the fault. `workers` lists the worker processes of the moment (the run keeps
 * replacing SIGKILLed ones) with the URL of each one's health check; a worker that has exited is not
 * waited for (its replacement is, once started).
 */
export function watchRedisOutage(
  settings: RedisSettings,
  workers: () => { process: RunningProcess; healthUrl: string }[],
): OutageWatch {
  let killedAt: number | undefined;
  let onKilled: (() => void) | undefined;
  const killed = new Promise<void>((resolve) => {
    onKilled = resolve;
  });
  const result = (async (): Promise<RedisOutage | undefined> => {
    await killed;
    const startedAt = killedAt!;
    const giveUpAt = startedAt + OUTAGE_LIMIT_MS;
    const client = createRedisClient(settings, { role: "worker" });
    client.on("error", () => undefined);
    try {
      // Writes queue in the client while it reconnects; the first acknowledged one ends the wait.
      let writableAt: number | undefined;
      const key = `${settings.prefix}:chaos:outage-probe`;
      while (writableAt === undefined && Date.now() < giveUpAt) {
        client
          .set(key, String(Date.now()))
          .then(() => {
            writableAt ??= Date.now();
          })
          .catch(() => undefined);
        await delay(WRITE_EVERY_MS);
      }
      if (writableAt === undefined) return undefined;
      while (Date.now() < giveUpAt) {
        const checks = await Promise.all(
          workers()
            .filter(({ process }) => !exited.has(process))
            .map(({ healthUrl }) =>
              fetch(healthUrl, { signal: AbortSignal.timeout(2000) })
                .then((response) => response.ok)
                .catch(() => false),
            ),
        );
        if (checks.every(Boolean)) return { startedAt, writableAt, endedAt: Date.now() };
        await delay(HEALTH_EVERY_MS);
      }
      return undefined;
    } finally {
      client.disconnect();
    }
  })();
  return {
    killed() {
      killedAt = Date.now();
      onKilled?.();
    },
    result,
  };
}

/** Worker processes known to have exited (SIGKILLed by the run). */
const exited = new WeakSet<RunningProcess>();

/** Marks the process as gone once it exits, so the outage's end does not wait for it. */
export function trackExit(process: RunningProcess): RunningProcess {
  void process.exited.then(() => exited.add(process));
  return process;
}

const delay = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));
