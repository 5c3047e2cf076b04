import { Cluster } from "ioredis";
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

/**
 * Waits (WAIT) until every write this client has sent so far is held by the configured number of
 * replicas; throws WriteNotConfirmedError when they are not within the timeout. Nothing to wait for
 * when `wait.replicas` is 0.
 */
export async function confirmWrites(
  client: RedisClient,
  settings: Pick<RedisSettings, "wait" | "prefix">,
): Promise<void> {
  const { replicas, timeoutMs } = settings.wait;
  if (replicas === 0) return;
  const acknowledged =
    client instanceof Cluster
      ? await waitOnPrefixNode(client, settings.prefix, replicas, timeoutMs)
      : await client.wait(replicas, timeoutMs);
  if (acknowledged < replicas) throw new WriteNotConfirmedError(replicas, acknowledged, timeoutMs);
}

/**
 * WAIT names no key, so a Cluster client would send it to any node: it goes to the master serving
 * reframe's slot (from the client's slot table), on the connection that carried the writes (a
 * Cluster client keeps one per node).
 */
async function waitOnPrefixNode(
  client: Cluster,
  prefix: string,
  replicas: number,
  timeoutMs: number,
): Promise<number> {
  const [nodeKey] = client.slots[slotOf(prefix)] ?? [];
  const node = client
    .nodes("master")
    .find((candidate) => nodeKey === `${candidate.options.host}:${candidate.options.port}`);
  if (!node)
    throw new Error(`no Cluster master is known for the slot of ${prefix} (the Cluster is failing over)`);
  return node.wait(replicas, timeoutMs);
}
