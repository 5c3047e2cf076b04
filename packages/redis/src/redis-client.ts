import type { ConnectionOptions } from "node:tls";
import { Cluster, type ClusterOptions, Redis, type RedisOptions } from "ioredis";
import { type RedisSettings, redisSettingsFromUrl, type TlsSettings } from "./redis-env.ts";
import { redisReconnectDelay, redisTarget, waitForRedisReady } from "./redis-reachability.ts";

/** A connection to reframe's Redis: one node or a Sentinel group's master (Redis), or a Cluster. */
export type RedisClient = Redis | Cluster;

/**
 * - worker: waits through an outage; BullMQ requires `maxRetriesPerRequest: null` for a Worker.
 * - producer: must not hang while Redis is down: `enableOfflineQueue: false` makes a command fail at
 *   once (BullMQ "failing fast when Redis is down"); BullMQ waits for the first connection before its
 *   own commands, and `waitForRedisReady` does the same for direct ones.
 * - probe: one look and gone (the worker's watchdog): connects lazily, gives up at the first failure,
 *   every command bounded by `timeoutMs`.
 */
export type RedisRole = "worker" | "producer" | "probe";

export interface RedisClientOptions {
  role: RedisRole;
  /** The probe's bound on connecting and on each command (5 s by default). */
  timeoutMs?: number;
}

/**
 * The one place a Redis client is made, for every process and every topology: a URL (one node), a
 * Sentinel group (the master is asked of the sentinels, again after a failover) or a Cluster (slots
 * follow MOVED and failovers). BullMQ's Queues and Workers take the client as their connection and
 * duplicate it for blocking reads, which keeps these options.
 */
export function createRedisClient(
  settings: RedisSettings | string,
  options: RedisClientOptions,
): RedisClient {
  return makeClient(typeof settings === "string" ? redisSettingsFromUrl(settings) : settings, options);
}

/** Where a client connects, for messages: "Redis at redis://a:6379", "Redis at Cluster nodes a:7000, b:7000". */
export function describeRedisClient(client: RedisClient): string {
  const { service, at } = redisTarget(client);
  return `${service} at ${at}`;
}

function makeClient(settings: RedisSettings, { role, timeoutMs = 5000 }: RedisClientOptions): RedisClient {
  const { target } = settings;
  const auth = { username: settings.username, password: settings.password };
  const roleOptions = nodeOptionsFor(role, timeoutMs);
  switch (target.kind) {
    case "single":
      return new Redis(target.url, {
        ...auth,
        ...roleOptions,
        ...(settings.tls ? { tls: tlsOptions(settings.tls) } : {}),
        reconnectOnError: reconnectWhenReadOnly,
      });
    case "sentinel":
      return new Redis({
        sentinels: target.sentinels,
        name: target.name,
        role: "master",
        ...auth,
        sentinelUsername: settings.sentinelUsername,
        sentinelPassword: settings.sentinelPassword,
        ...(settings.tls ? { tls: tlsOptions(settings.tls), enableTLSForSentinelMode: true } : {}),
        ...(settings.sentinelTls ? { sentinelTLS: tlsOptions(settings.sentinelTls) } : {}),
        // No failoverDetector: it disconnects on +switch-master even while the client is reconnecting,
        // and ioredis then ends the client for good ("Connection is closed", seen in the failover
        // test). A killed master closes its connections; a demoted one answers READONLY (below) and
        // drops its blocked clients; a half-open one is the worker's watchdog's to find.
        ...(role === "probe" ? { sentinelRetryStrategy: () => null } : {}),
        ...roleOptions,
        reconnectOnError: reconnectWhenReadOnly,
      });
    case "cluster":
      return new Cluster(target.nodes, clusterOptions(settings, role, roleOptions));
    default:
      return target satisfies never;
  }
}

function nodeOptionsFor(role: RedisRole, timeoutMs: number): RedisOptions {
  switch (role) {
    case "worker":
      return { maxRetriesPerRequest: null, retryStrategy: redisReconnectDelay };
    case "producer":
      return { enableOfflineQueue: false, maxRetriesPerRequest: 1, retryStrategy: redisReconnectDelay };
    case "probe":
      return {
        lazyConnect: true,
        connectTimeout: timeoutMs,
        commandTimeout: timeoutMs,
        enableOfflineQueue: false,
        maxRetriesPerRequest: 0,
        retryStrategy: () => null,
      };
    default:
      return role satisfies never;
  }
}

function clusterOptions(settings: RedisSettings, role: RedisRole, nodeOptions: RedisOptions): ClusterOptions {
  const { enableOfflineQueue, lazyConnect, ...perNode } = nodeOptions;
  return {
    redisOptions: {
      ...perNode,
      username: settings.username,
      password: settings.password,
      ...(settings.tls ? { tls: tlsOptions(settings.tls) } : {}),
    },
    // With TLS, nodes are reached by the names the Cluster announces, so the certificate matches
    // (resolving them to addresses first would fail its check: the managed services' advice).
    ...(settings.tls ? { dnsLookup: (address, callback) => callback(null, address) } : {}),
    enableOfflineQueue: enableOfflineQueue ?? true,
    lazyConnect: lazyConnect ?? false,
    // A failover takes cluster-node-timeout plus an election (seconds): a command for the lost
    // master's slots is retried through it rather than failed after the default 16 × 100 ms.
    retryDelayOnFailover: 200,
    retryDelayOnClusterDown: 200,
    maxRedirections: role === "probe" ? 2 : 100,
    ...(role === "probe" ? { clusterRetryStrategy: () => null } : {}),
  };
}

function tlsOptions(tls: TlsSettings): ConnectionOptions {
  return tls.ca ? { ca: tls.ca } : {};
}

/**
 * A former master that came back as a replica answers writes with READONLY while a client still
 * holds its old connection: reconnect (and resend), so the Sentinel client asks for the new master.
 */
function reconnectWhenReadOnly(error: Error): 2 | false {
  return error.message.startsWith("READONLY") ? 2 : false;
}

/**
 * Rejects with `cannot reach Redis at … (…)` when Redis does not answer: a connection of its own
 * that gives up at the first failure, for a process's start (the worker checks Redis, S3 and the
 * provider together and names the first that is missing).
 */
export async function checkRedisReachable(settings: RedisSettings | string): Promise<void> {
  const client = createRedisClient(settings, { role: "probe" });
  try {
    client.connect().catch(() => undefined);
    await waitForRedisReady(client);
  } finally {
    client.disconnect();
  }
}
