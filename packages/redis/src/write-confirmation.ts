import { Cluster, type Redis } from "ioredis";
import { slotOf } from "./hash-slot.ts";
import type { RedisClient } from "./redis-client.ts";
import type { RedisSettings } from "./redis-env.ts";

/**
 * Writes acknowledged by a master can be lost when it fails over before its replicas have them
 * (replication is asynchronous). Where an acknowledgement leaves reframe (an API's 202, the CLI's
 * "added", a webhook's 200 to the provider), it first waits until the writes are on
 * `REDIS_WAIT_REPLICAS` replicas. When they are not within `REDIS_WAIT_TIMEOUT_MS`, the caller says
 * "not accepted, try again" instead: every write behind those acknowledgements is idempotent (job
 * ids are idempotency keys, the first task outcome wins), so the retry adds nothing twice.
 */
export class WriteNotConfirmedError extends Error {
  readonly code = "write-not-confirmed";
  readonly required: number;
  readonly acknowledged: number;
  constructor(required: number, acknowledged: number, timeoutMs: number) {
    super(
      `Redis did not confirm the write on ${required} replica${required === 1 ? "" : "s"} within ${timeoutMs} ms (${acknowledged} did): it could be lost in a failover; try again (it is safe to repeat)`,
    );
    this.name = "WriteNotConfirmedError";
    this.required = required;
    this.acknowledged = acknowledged;
  }
}

/** How long the number of replicas attached to the master is trusted before it is read again. */
const ATTACHED_TTL_MS = 5_000;
const attachedByClient = new WeakMap<object, { count: number; at: number }>();

/**
 * Waits (WAIT) until every write this client has sent so far is held by replicas; throws
 * WriteNotConfirmedError when they are not within the timeout.
 * - `wait.replicas` a number: exactly that many (0: nothing to wait for).
 * - "attached" (the default with Sentinel or Cluster): one, when the master has a replica attached
 *   (ROLE, read again every few seconds). A master without replicas has none to lose a write to in a
 *   failover, and a development Cluster without replicas must not stall every acknowledgement.
 */
export async function confirmWrites(
  client: RedisClient,
  settings: Pick<RedisSettings, "wait" | "prefix">,
): Promise<void> {
  const { timeoutMs } = settings.wait;
  const master = masterOf(client, settings.prefix);
  const replicas =
    settings.wait.replicas === "attached"
      ? Math.min(1, await attachedReplicas(master))
      : settings.wait.replicas;
  if (replicas === 0) return;
  const acknowledged = await master.wait(replicas, timeoutMs);
  if (acknowledged < replicas) throw new WriteNotConfirmedError(replicas, acknowledged, timeoutMs);
}

async function attachedReplicas(master: Redis): Promise<number> {
  const known = attachedByClient.get(master);
  if (known && Date.now() - known.at < ATTACHED_TTL_MS) return known.count;
  const role = (await master.call("ROLE")) as [string, number, unknown[]?];
  const count = role[0] === "master" ? (role[2]?.length ?? 0) : 0;
  attachedByClient.set(master, { count, at: Date.now() });
  return count;
}

/**
 * The connection to the master holding reframe's keys. WAIT and ROLE name no key, so a Cluster client
 * would send them to any node: they go to the master serving the prefix's slot (from the client's
 * slot table), on the connection that carried the writes (a Cluster client keeps one per node).
 */
function masterOf(client: RedisClient, prefix: string): Redis {
  if (!(client instanceof Cluster)) return client;
  const [nodeKey] = client.slots[slotOf(prefix)] ?? [];
  const node = client
    .nodes("master")
    .find((candidate) => nodeKey === `${candidate.options.host}:${candidate.options.port}`);
  if (!node)
    throw new Error(`no Cluster master is known for the slot of ${prefix} (the Cluster is failing over)`);
  return node;
}
