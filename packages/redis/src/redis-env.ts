import { readFileSync } from "node:fs";
import { type EnvSource, envField, parseEnv } from "@reframe/config";
import { z } from "zod";
import { hashTagOf } from "./hash-slot.ts";

/**
 * The key prefix of every reframe key (queues, batches, task store, pipelines, locks). Braced so that
 * Redis Cluster hashes only "reframe": every key lands in one slot, which BullMQ's multi-key Lua
 * scripts and reframe's own need. A prefix without braces still works on one Redis or Sentinel.
 */
export const DEFAULT_QUEUE_PREFIX = "{reframe}";

export interface HostPort {
  host: string;
  port: number;
}

const HOST_PORT_RULE = "must be comma-separated host:port pairs, e.g. 10.0.0.1:26379,10.0.0.2:26379";

/** "a:1,b:2" or "[::1]:7000": at least one pair, every port 1–65535. */
function hostPortList() {
  return envField.optional(
    envField.list().transform((items, context) => {
      const pairs: HostPort[] = [];
      for (const item of items) {
        const match = /^(?:\[([^\]]+)\]|([^:[\]]+)):(\d{1,5})$/.exec(item);
        const port = Number(match?.[3]);
        if (!match || port < 1 || port > 65_535) {
          context.addIssue({ code: "custom", message: HOST_PORT_RULE });
          return z.NEVER;
        }
        pairs.push({ host: (match[1] ?? match[2])!, port });
      }
      return pairs;
    }),
  );
}

/**
 * Where reframe's Redis is, the same variables in every process that reaches it (worker, webhook
 * receiver, API, CLI, demo): spread into a process's schema together with `checkRedisEnv`.
 * Exactly one of REDIS_URL, REDIS_SENTINELS (with REDIS_SENTINEL_NAME) and REDIS_CLUSTER_NODES.
 */
export const redisEnvFields = {
  REDIS_URL: envField.url({ protocols: ["redis:", "rediss:"], default: "" }).optional(),
  REDIS_SENTINELS: hostPortList(),
  REDIS_SENTINEL_NAME: envField.string({ default: "" }).optional(),
  REDIS_CLUSTER_NODES: hostPortList(),
  /** ACL user and password of the data nodes (a Cluster's nodes, a Sentinel group's master). */
  REDIS_USERNAME: envField.string({ default: "" }).optional(),
  REDIS_PASSWORD: envField.string({ default: "" }).optional(),
  /** The sentinels' own credentials, when they have any. */
  REDIS_SENTINEL_USERNAME: envField.string({ default: "" }).optional(),
  REDIS_SENTINEL_PASSWORD: envField.string({ default: "" }).optional(),
  /** TLS to the data nodes (a rediss:// REDIS_URL turns it on as well). */
  REDIS_TLS: envField.boolean(false),
  /** TLS to the sentinels. */
  REDIS_SENTINEL_TLS: envField.boolean(false),
  /** PEM bundle of the CA that signed the servers' certificates (else the system's CAs). */
  REDIS_TLS_CA_FILE: envField.string({ default: "" }).optional(),
  /**
   * How many replicas must hold a write before reframe tells anyone outside that it is accepted
   * (WAIT). Unset: one with Sentinel or Cluster when the master has a replica attached, none with
   * REDIS_URL (write-confirmation.ts).
   */
  REDIS_WAIT_REPLICAS: envField.optional(envField.int({ min: 0, max: 16 })),
  REDIS_WAIT_TIMEOUT_MS: envField.int({ min: 10, max: 60_000, default: 1000 }),
  QUEUE_PREFIX: envField.string({ default: DEFAULT_QUEUE_PREFIX }),
};

const redisEnvObject = z.object(redisEnvFields);
export type RedisEnv = z.output<typeof redisEnvObject>;

const TOPOLOGY_VARIABLES = ["REDIS_URL", "REDIS_SENTINELS", "REDIS_CLUSTER_NODES"] as const;
const SENTINEL_ONLY = [
  "REDIS_SENTINEL_NAME",
  "REDIS_SENTINEL_USERNAME",
  "REDIS_SENTINEL_PASSWORD",
  "REDIS_SENTINEL_TLS",
] as const;

/** The rules between the Redis variables, for a process schema's superRefine: each names its variable. */
export function checkRedisEnv(env: RedisEnv, context: z.RefinementCtx): void {
  const issue = (variable: string, message: string) =>
    context.addIssue({ code: "custom", path: [variable], message });
  const set = TOPOLOGY_VARIABLES.filter((variable) => Boolean(env[variable]));
  if (set.length === 0) {
    issue("REDIS_URL", "is required (or REDIS_SENTINELS with REDIS_SENTINEL_NAME, or REDIS_CLUSTER_NODES)");
  }
  for (const variable of set.slice(1)) {
    issue(variable, `cannot be set together with ${set[0]}: set one of ${TOPOLOGY_VARIABLES.join(", ")}`);
  }
  if (env.REDIS_SENTINELS) {
    if (!env.REDIS_SENTINEL_NAME)
      issue(
        "REDIS_SENTINEL_NAME",
        "is required with REDIS_SENTINELS (the master name the sentinels monitor)",
      );
  } else {
    for (const variable of SENTINEL_ONLY) {
      if (env[variable]) issue(variable, "is only used with REDIS_SENTINELS");
    }
  }
  if (env.REDIS_CLUSTER_NODES && hashTagOf(env.QUEUE_PREFIX) === undefined) {
    issue(
      "QUEUE_PREFIX",
      "must hold a hash tag such as {reframe} with REDIS_CLUSTER_NODES (every reframe key must hash to one Cluster slot)",
    );
  }
  if (env.REDIS_URL && env.REDIS_PASSWORD && new URL(env.REDIS_URL).password) {
    issue("REDIS_PASSWORD", "is also given in REDIS_URL: set the password in one place");
  }
  if (env.REDIS_TLS_CA_FILE) {
    try {
      readFileSync(env.REDIS_TLS_CA_FILE);
    } catch {
      issue("REDIS_TLS_CA_FILE", "must be a readable file (the CA certificates, PEM)");
    }
  }
}

/** The Redis variables alone, with their rules (the demo, tests, tools that only reach Redis). */
export const redisEnvSchema = redisEnvObject.superRefine(checkRedisEnv);

export type RedisTarget =
  | { kind: "single"; url: string }
  | { kind: "sentinel"; sentinels: HostPort[]; name: string }
  | { kind: "cluster"; nodes: HostPort[] };

export interface TlsSettings {
  /** The CA bundle (PEM); the system's CAs when absent. */
  ca?: string;
}

/** Everything needed to reach reframe's Redis, derived once from the variables. */
export interface RedisSettings {
  target: RedisTarget;
  username?: string;
  password?: string;
  sentinelUsername?: string;
  sentinelPassword?: string;
  /** TLS to the data nodes; absent: plain TCP. */
  tls?: TlsSettings;
  sentinelTls?: TlsSettings;
  /** WAIT before an acknowledgement leaves reframe: replicas to wait for, and how long. */
  wait: { replicas: number | "attached"; timeoutMs: number };
  prefix: string;
}

export function redisSettingsOf(env: RedisEnv): RedisSettings {
  const target = targetOf(env);
  const ca = env.REDIS_TLS_CA_FILE ? readFileSync(env.REDIS_TLS_CA_FILE, "utf8") : undefined;
  const tlsOn = env.REDIS_TLS || (target.kind === "single" && target.url.startsWith("rediss:"));
  const settings: RedisSettings = {
    target,
    wait: {
      replicas: env.REDIS_WAIT_REPLICAS ?? (target.kind === "single" ? 0 : "attached"),
      timeoutMs: env.REDIS_WAIT_TIMEOUT_MS,
    },
    prefix: env.QUEUE_PREFIX,
  };
  if (env.REDIS_USERNAME) settings.username = env.REDIS_USERNAME;
  if (env.REDIS_PASSWORD) settings.password = env.REDIS_PASSWORD;
  if (env.REDIS_SENTINEL_USERNAME) settings.sentinelUsername = env.REDIS_SENTINEL_USERNAME;
  if (env.REDIS_SENTINEL_PASSWORD) settings.sentinelPassword = env.REDIS_SENTINEL_PASSWORD;
  if (tlsOn) settings.tls = ca ? { ca } : {};
  if (env.REDIS_SENTINEL_TLS) settings.sentinelTls = ca ? { ca } : {};
  return settings;
}

/** Parses the Redis variables out of an environment (throws ConfigError naming each bad one). */
export function redisSettingsFromEnv(env: EnvSource): RedisSettings {
  return redisSettingsOf(parseEnv(redisEnvSchema, env));
}

/** A one-node Redis by URL (tests and tools that already hold a URL). */
export function redisSettingsFromUrl(url: string): RedisSettings {
  return redisSettingsFromEnv({ REDIS_URL: url });
}

function targetOf(env: RedisEnv): RedisTarget {
  if (env.REDIS_SENTINELS)
    return { kind: "sentinel", sentinels: env.REDIS_SENTINELS, name: env.REDIS_SENTINEL_NAME ?? "" };
  if (env.REDIS_CLUSTER_NODES) return { kind: "cluster", nodes: env.REDIS_CLUSTER_NODES };
  if (env.REDIS_URL) return { kind: "single", url: env.REDIS_URL };
  throw new TypeError("no Redis target: REDIS_URL, REDIS_SENTINELS or REDIS_CLUSTER_NODES (checkRedisEnv)");
}
