import { type LocalRedisCluster, startRedisCluster } from "./redis-cluster.ts";
import { type LocalRedisSentinelGroup, startRedisSentinelGroup } from "./redis-sentinel.ts";
import { type LocalRedis, startRedisServer } from "./redis-server.ts";

export const REDIS_TOPOLOGIES = ["single", "sentinel", "cluster"] as const;
export type RedisTopologyKind = (typeof REDIS_TOPOLOGIES)[number];

export interface LocalRedisSingle {
  kind: "single";
  server: LocalRedis;
  /** REDIS_URL, the other topologies blank. */
  env: Record<string, string>;
  stop(): Promise<void>;
}

/** One of the three ways reframe reaches Redis, started on loopback by the tests themselves. */
export type LocalRedisTopology = LocalRedisSingle | LocalRedisSentinelGroup | LocalRedisCluster;

export interface StartRedisTopologyOptions {
  appendOnly?: boolean;
  /**
   * Replicas: per master on a Cluster (0 by default), of the master in a Sentinel group (1 by
   * default). A single node has none.
   */
  replicas?: number;
}

export async function startRedisTopology(
  kind: RedisTopologyKind,
  options: StartRedisTopologyOptions = {},
): Promise<LocalRedisTopology> {
  const appendOnly = options.appendOnly ?? false;
  switch (kind) {
    case "single": {
      const server = await startRedisServer({ appendOnly });
      return {
        kind,
        server,
        env: { REDIS_URL: server.url, REDIS_SENTINELS: "", REDIS_SENTINEL_NAME: "", REDIS_CLUSTER_NODES: "" },
        stop: () => server.stop(),
      };
    }
    case "sentinel":
      return startRedisSentinelGroup({ appendOnly, replicas: options.replicas ?? 1 });
    case "cluster":
      return startRedisCluster({ appendOnly, replicasPerMaster: options.replicas ?? 0 });
    default:
      throw new Error(`unknown Redis topology ${kind satisfies never}`);
  }
}
