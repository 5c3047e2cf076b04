import { Cluster, type Redis } from "ioredis";
import { describeRedisClient, type RedisClient } from "./redis-client.ts";
import { waitForRedisReady } from "./redis-reachability.ts";

export interface EvictionCheck {
  /** The server's policy, or undefined when neither CONFIG GET nor INFO would tell. */
  policy: string | undefined;
  checked: boolean;
}

/** Redis is configured in a way that loses jobs: the operator changes the server, then restarts. */
export class RedisConfigError extends Error {
  readonly code = "eviction-policy";
  constructor(message: string) {
    super(message);
    this.name = "RedisConfigError";
  }
}

/**
 * BullMQ loses jobs and locks when Redis evicts keys: only `noeviction` is safe. Reads the policy
 * from INFO (allowed on managed Redis, where CONFIG is often disabled), falling back to CONFIG GET;
 * on a Cluster, of every master (any of them may come to hold reframe's slot). When no server
 * answers either, the check cannot be made: it warns through `onUnchecked` and lets the process
 * start, since refusing would make reframe unusable on such services; the operator is told to verify
 * the setting by hand.
 */
export async function assertNoEviction(
  client: RedisClient,
  { onUnchecked = defaultUncheckedWarning }: { onUnchecked?: (message: string) => void } = {},
): Promise<EvictionCheck> {
  await waitForRedisReady(client);
  const servers = client instanceof Cluster ? client.nodes("master") : [client];
  let policy: string | undefined;
  for (const server of servers) {
    const found = (await policyFromInfo(server)) ?? (await policyFromConfig(server));
    if (found !== undefined && found !== "noeviction") {
      throw new RedisConfigError(
        `${describeRedisClient(client)}: maxmemory-policy is "${found}"${client.isCluster ? ` on ${server.options.host}:${server.options.port}` : ""}: evicting keys loses queued jobs. Set \`maxmemory-policy noeviction\` (redis.conf, CONFIG SET, or your provider's parameter group) and restart.`,
      );
    }
    policy ??= found;
  }
  if (policy === undefined) {
    onUnchecked(
      "could not read Redis's maxmemory-policy (INFO and CONFIG GET refused); make sure it is noeviction, or queued jobs can be lost",
    );
    return { policy, checked: false };
  }
  return { policy, checked: true };
}

async function policyFromInfo(server: Redis): Promise<string | undefined> {
  try {
    const info = await server.info("memory");
    return /^maxmemory_policy:(\S+)/m.exec(info)?.[1];
  } catch {
    return undefined;
  }
}

async function policyFromConfig(server: Redis): Promise<string | undefined> {
  try {
    const reply = (await server.config("GET", "maxmemory-policy")) as string[];
    return reply[1];
  } catch {
    return undefined;
  }
}

function defaultUncheckedWarning(message: string): void {
  process.emitWarning(message, { code: "REFRAME_EVICTION_UNCHECKED" });
}
