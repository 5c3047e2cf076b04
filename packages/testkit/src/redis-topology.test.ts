import { afterAll, describe, expect, it } from "vitest";
import { infoFields, redisCli } from "./redis-cli.ts";
import { type LocalRedisCluster, startRedisCluster } from "./redis-cluster.ts";
import { type LocalRedisSentinelGroup, startRedisSentinelGroup } from "./redis-sentinel.ts";

describe("startRedisCluster", () => {
  let cluster: LocalRedisCluster | undefined;
  afterAll(async () => {
    await cluster?.stop();
  });

  it("makes a Cluster of three masters with a replica each, and promotes a replica when a master dies", async () => {
    cluster = await startRedisCluster({ replicasPerMaster: 1 });
    expect(cluster.nodes).toHaveLength(6);
    const seed = cluster.nodes[0]!.server.port;
    expect(infoFields(await redisCli(seed, "cluster", "info")).get("cluster_size")).toBe("3");
    expect(cluster.env.REDIS_CLUSTER_NODES!.split(",")).toHaveLength(6);
    const before = await cluster.masterOf("{reframe}");
    const killed = await cluster.failOver("{reframe}");
    expect(killed).toBe(before);
    const after = await cluster.masterOf("{reframe}");
    expect(after).not.toBe(before);
    await killed.server.start();
    await cluster.waitHealthy();
    await expect
      .poll(async () => infoFields(await redisCli(killed.server.port, "info", "replication")).get("role"))
      .toBe("slave");
  }, 90_000);
});

describe("startRedisSentinelGroup", () => {
  let group: LocalRedisSentinelGroup | undefined;
  afterAll(async () => {
    await group?.stop();
  });

  it("runs a master, a replica and three sentinels; a killed master is replaced and returns as a replica", async () => {
    group = await startRedisSentinelGroup();
    const first = await group.master();
    expect(first).toBe(group.servers[0]);
    await redisCli(first.port, "set", "k", "v");
    await group.waitReplicasInSync();
    const { old, promoted } = await group.failOver();
    expect(old).toBe(first);
    expect(promoted).toBe(group.servers[1]);
    expect(await redisCli(promoted.port, "get", "k")).toBe("v");
    expect(infoFields(await redisCli(old.port, "info", "replication")).get("role")).toBe("slave");
  }, 90_000);
});
