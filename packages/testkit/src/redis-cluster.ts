import { mkdir, mkdtemp, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { freePort } from "./free-port.ts";
import { infoFields, redisCli, waitUntil } from "./redis-cli.ts";
import { type LocalRedis, startRedisServer } from "./redis-server.ts";

export interface ClusterNode {
  /** "127.0.0.1:<port>", as the Cluster announces it. */
  address: string;
  server: LocalRedis;
}

export interface LocalRedisCluster {
  kind: "cluster";
  nodes: readonly ClusterNode[];
  /** REDIS_CLUSTER_NODES (the seed nodes, every master and replica), the other topologies blank. */
  env: Record<string, string>;
  /** The node that serves `key`'s slot now (a master), as the Cluster itself answers. */
  masterOf(key: string): Promise<ClusterNode>;
  /**
   * SIGKILLs the master serving `key` and waits until one of its replicas is promoted and the Cluster
   * is whole again. Returns the killed node (start it again with `node.server.start()`: it rejoins as
   * a replica of the promoted one). `onKilled` is called the moment the master is dead.
   */
  failOver(key: string, options?: { onKilled?: () => void }): Promise<ClusterNode>;
  /** Waits until every running node reports the cluster state ok with every slot served. */
  waitHealthy(): Promise<void>;
  stop(): Promise<void>;
}

export interface StartRedisClusterOptions {
  /** Masters (3 by default, the smallest Cluster redis-cli creates). */
  masters?: number;
  /** Replicas per master (0 by default; 1 for failover runs). */
  replicasPerMaster?: number;
  /** cluster-node-timeout: how long a master may be unreachable before its replica takes over. */
  nodeTimeoutMs?: number;
  /** AOF with fsync every second on every node, as in production. */
  appendOnly?: boolean;
}

/**
 * A real Redis Cluster on loopback: `redis-server --cluster-enabled yes` per node on free ports (the
 * bus port chosen free as well instead of port + 10000), joined by `redis-cli --cluster create`.
 */
export async function startRedisCluster(options: StartRedisClusterOptions = {}): Promise<LocalRedisCluster> {
  const masters = options.masters ?? 3;
  const replicas = options.replicasPerMaster ?? 0;
  const nodeTimeoutMs = options.nodeTimeoutMs ?? 2000;
  const root = await mkdtemp(join(tmpdir(), "reframe-cluster-"));
  const nodes: ClusterNode[] = [];
  try {
    for (let i = 0; i < masters * (1 + replicas); i += 1) {
      const directory = join(root, `node-${i}`);
      await mkdir(directory, { recursive: true });
      const server = await startRedisServer({
        directory,
        appendOnly: options.appendOnly ?? false,
        extraArgs: [
          "--cluster-enabled",
          "yes",
          "--cluster-config-file",
          "nodes.conf",
          "--cluster-node-timeout",
          String(nodeTimeoutMs),
          "--cluster-port",
          String(await freePort()),
          // A replica takes over however long it was cut off from its master (tests kill masters).
          "--cluster-replica-validity-factor",
          "0",
        ],
      });
      nodes.push({ address: `127.0.0.1:${server.port}`, server });
    }
    await redisCli(
      nodes[0]!.server.port,
      "--cluster",
      "create",
      ...nodes.map((node) => node.address),
      "--cluster-replicas",
      String(replicas),
      "--cluster-yes",
    );
  } catch (error) {
    await Promise.allSettled(nodes.map((node) => node.server.stop()));
    await rm(root, { recursive: true, force: true });
    throw error;
  }
  const running = () => nodes.filter((node) => node.server.running());
  const waitHealthy = () =>
    waitUntil("the Redis Cluster to be whole", async () => {
      for (const node of running()) {
        const info = infoFields(await redisCli(node.server.port, "cluster", "info"));
        if (info.get("cluster_state") !== "ok" || info.get("cluster_slots_ok") !== "16384") return false;
      }
      return true;
    });
  const masterOf = async (key: string): Promise<ClusterNode> => {
    const asker = running()[0];
    if (!asker) throw new Error("no node of the Cluster is running");
    const slot = Number(await redisCli(asker.server.port, "cluster", "keyslot", key));
    // CLUSTER SHARDS is Redis 7; "slots" lines of CLUSTER NODES are "<from>-<to>" ranges.
    const lines = (await redisCli(asker.server.port, "cluster", "nodes")).split("\n");
    for (const line of lines) {
      const [, address, flags, , , , , linkState, ...ranges] = line.split(" ");
      if (!flags?.includes("master") || flags.includes("fail") || linkState !== "connected") continue;
      const serves = ranges.some((range) => {
        const [from, to = from] = range.split("-").map(Number) as [number, number?];
        return slot >= from && slot <= to;
      });
      const node = nodes.find((candidate) => address?.startsWith(`${candidate.address}@`));
      if (serves && node) return node;
    }
    throw new Error(`no connected master serves slot ${slot} of ${key}`);
  };
  await waitHealthy();
  await waitUntil("every master's replicas to be in sync", async () => {
    for (const node of nodes) {
      const info = infoFields(await redisCli(node.server.port, "info", "replication"));
      if (info.get("role") !== "master") continue;
      const online = [...info.entries()].filter(
        ([field, value]) => /^slave\d+$/.test(field) && value.includes("state=online"),
      ).length;
      if (online < replicas) return false;
    }
    return true;
  });
  return {
    kind: "cluster",
    nodes,
    env: {
      REDIS_URL: "",
      REDIS_SENTINELS: "",
      REDIS_SENTINEL_NAME: "",
      REDIS_CLUSTER_NODES: nodes.map((node) => node.address).join(","),
    },
    masterOf,
    async failOver(key, { onKilled } = {}) {
      const victim = await masterOf(key);
      await victim.server.kill();
      onKilled?.();
      await waitUntil(
        `a replica of ${victim.address} to be promoted`,
        async () => (await masterOf(key)) !== victim,
        nodeTimeoutMs * 10 + 10_000,
      );
      await waitHealthy();
      return victim;
    },
    waitHealthy,
    async stop() {
      await Promise.allSettled(nodes.map((node) => (node.server.running() ? node.server.stop() : undefined)));
      await rm(root, { recursive: true, force: true });
    },
  };
}
