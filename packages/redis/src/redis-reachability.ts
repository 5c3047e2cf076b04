import {
  backoffMs,
  connectionProblem,
  formatDelay,
  type ServiceTarget,
  ServiceUnreachableError,
} from "@reframe/reachability";
import { Cluster, type Redis } from "ioredis";

/**
 * Redis that does not answer, said once and plainly: `cannot reach Redis at redis://127.0.0.1:6379
 * (connection refused)`. At start a process waits a few seconds and stops with that line; once
 * running, a lost connection is one line per reconnection attempt, with a growing delay, and one
 * line when Redis is back. The description of where Redis is comes from the connection itself, so
 * it holds for a URL, Sentinels or Cluster nodes alike, and never shows a password.
 */

/** Typed here rather than imported: redis-client.ts imports this file. */
type RedisClient = Redis | Cluster;

export function redisTarget(redis: RedisClient): ServiceTarget {
  if (redis instanceof Cluster) {
    // ioredis keeps the startup nodes it was given on the instance (not in its typings).
    const nodes = (redis as unknown as { startupNodes?: { host?: string; port?: number }[] }).startupNodes;
    return { service: "Redis", at: `Cluster nodes ${hostList(nodes ?? [])}` };
  }
  const { host, port, db, tls, path, sentinels, name } = redis.options;
  if (sentinels && sentinels.length > 0)
    return { service: "Redis", at: `Sentinels ${hostList(sentinels)} (master ${name ?? "mymaster"})` };
  if (path) return { service: "Redis", at: `unix:${path}` };
  return { service: "Redis", at: `${tls ? "rediss" : "redis"}://${host}:${port}${db ? `/${db}` : ""}` };
}

function hostList(nodes: readonly { host?: string; port?: number }[]): string {
  return nodes.map((node) => `${node.host ?? "localhost"}:${node.port ?? 6379}`).join(", ");
}

/** The last reachability problem each connection met, for the line that reports it. */
const lastProblems = new WeakMap<RedisClient, string>();
const tracked = new WeakSet<RedisClient>();

function track(redis: RedisClient): void {
  if (tracked.has(redis)) return;
  tracked.add(redis);
  // Also keeps ioredis from printing "Unhandled error event" with a stack for each failed attempt.
  redis.on("error", (error: unknown) =>
    lastProblems.set(redis, connectionProblem(error) ?? "connection error"),
  );
  redis.on("ready", () => lastProblems.delete(redis));
}

function unreachable(redis: RedisClient, fallback: string, cause?: unknown): ServiceUnreachableError {
  return new ServiceUnreachableError(
    redisTarget(redis),
    lastProblems.get(redis) ?? fallback,
    cause === undefined ? undefined : { cause },
  );
}

/** Failed connection attempts before a start gives up: with redisReconnectDelay, about 3 s. */
const START_ATTEMPTS = 6;

/**
 * Resolves once the connection is ready (at once when it already is). Rejects with a
 * ServiceUnreachableError naming the last problem after `attempts` failed connection attempts, after
 * `timeoutMs` (a host that does not answer at all), or when the connection gives up.
 */
export async function waitForRedisReady(
  redis: RedisClient,
  { timeoutMs = 5_000, attempts = START_ATTEMPTS }: { timeoutMs?: number; attempts?: number } = {},
): Promise<void> {
  track(redis);
  if (redis.status === "ready") return;
  await new Promise<void>((resolve, reject) => {
    let failures = 0;
    const timer = setTimeout(
      () => finish(unreachable(redis, `no answer within ${formatDelay(timeoutMs)}`)),
      timeoutMs,
    );
    const onReady = () => finish();
    const onEnd = () => finish(unreachable(redis, "connection closed"));
    const onError = () => {
      failures += 1;
      if (failures >= attempts) finish(unreachable(redis, "connection error"));
    };
    function finish(error?: Error) {
      clearTimeout(timer);
      redis.off("ready", onReady);
      redis.off("end", onEnd);
      redis.off("error", onError);
      if (error) reject(error);
      else resolve();
    }
    redis.on("ready", onReady);
    redis.on("end", onEnd);
    redis.on("error", onError);
  });
}

/**
 * What a command that failed on this connection should say: a ServiceUnreachableError when Redis is
 * not reachable (the connection is not ready, or the error is a network one), else the error itself.
 */
export function redisError(redis: RedisClient, error: unknown): unknown {
  if (error instanceof ServiceUnreachableError) return error;
  track(redis);
  const problem = connectionProblem(error);
  if (problem) return new ServiceUnreachableError(redisTarget(redis), problem, { cause: error });
  return redis.status === "ready" ? error : unreachable(redis, "connection lost", error);
}

/**
 * Reconnection delays: 100 ms, doubling, at most 2 s (ioredis's own cap). Redis back after a restart
 * is found within 2 s, well inside the silence watchdog's patience (WORKER_SILENT_AFTER_MS), which
 * would otherwise recreate a worker that is only waiting to reconnect; an outage is at most one line
 * per 2 s per process.
 */
export function redisReconnectDelay(attempt: number): number {
  return backoffMs({ baseMs: 100, maxMs: 2_000 }, attempt - 1);
}

export interface ReconnectLog {
  warn(fields: object, message: string): void;
  info(fields: object, message: string): void;
}

/**
 * Logs a lost connection once per reconnection attempt (`cannot reach Redis at … (connection
 * refused); retrying in 2 s, attempt 4`) and once when it is back. Other errors on the connection
 * and on BullMQ's own connections stay out of the log while Redis is away (see `isRedisOutage`).
 * Returns a function that stops the reporting.
 */
export function reportRedisReconnects(redis: RedisClient, log: ReconnectLog): () => void {
  track(redis);
  const target = redisTarget(redis);
  let attempts = 0;
  const onReconnecting = (delay: unknown) => {
    attempts += 1;
    const problem = lastProblems.get(redis) ?? "connection closed";
    const wait = typeof delay === "number" ? `; retrying in ${formatDelay(delay)}` : "";
    log.warn(
      { unreachable: target, attempt: attempts, retryInMs: delay },
      `${new ServiceUnreachableError(target, problem).message}${wait}, attempt ${attempts}`,
    );
  };
  const onReady = () => {
    if (attempts === 0) return;
    log.info({ reachable: target, attempts }, `${target.service} at ${target.at} answers again`);
    attempts = 0;
  };
  redis.on("reconnecting", onReconnecting);
  redis.on("ready", onReady);
  return () => {
    redis.off("reconnecting", onReconnecting);
    redis.off("ready", onReady);
  };
}

/** True when an error is Redis being away: reported by `reportRedisReconnects`, not logged again. */
export function isRedisOutage(redis: RedisClient, error: unknown): boolean {
  return connectionProblem(error) !== undefined || redis.status !== "ready";
}
