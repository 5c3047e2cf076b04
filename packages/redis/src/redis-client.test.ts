import { ServiceUnreachableError } from "@reframe/reachability";
import {
  type LocalRedisCluster,
  type LocalRedisSentinelGroup,
  redisCli,
  startRedisCluster,
  startRedisSentinelGroup,
} from "@reframe/testkit";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { assertNoEviction, RedisConfigError } from "./eviction.ts";
import { luaScript, runScript } from "./lua-script.ts";
import { createRedisClient, describeRedisClient, type RedisClient } from "./redis-client.ts";
import { type RedisSettings, redisSettingsFromEnv } from "./redis-env.ts";
import { waitForRedisReady } from "./redis-reachability.ts";
import { confirmWrites, WriteNotConfirmedError } from "./write-confirmation.ts";

const COUNTER = luaScript(new URL("./test-counter.lua", import.meta.url));
const clients: RedisClient[] = [];

function connect(settings: RedisSettings, role: "worker" | "producer" = "worker"): RedisClient {
  const client = createRedisClient(settings, { role });
  client.on("error", () => undefined);
  clients.push(client);
  return client;
}

afterAll(() => {
  for (const client of clients.splice(0)) client.disconnect();
});

describe("on a Redis Cluster of three masters with a replica each", () => {
  let cluster: LocalRedisCluster;
  let settings: RedisSettings;
  beforeAll(async () => {
    cluster = await startRedisCluster({ replicasPerMaster: 1 });
    settings = redisSettingsFromEnv(cluster.env);
  }, 60_000);
  afterAll(async () => {
    await cluster?.stop();
  });

  it("connects, runs a script on the slot of the braced prefix, and says where it is", async () => {
    const client = connect(settings);
    await waitForRedisReady(client);
    expect(describeRedisClient(client)).toBe(
      `Redis at Cluster nodes ${cluster.env.REDIS_CLUSTER_NODES?.split(",").join(", ")}`,
    );
    const keys = ["{reframe}:counter", "{reframe}:counter:log"];
    expect(await runScript(client, COUNTER, keys, ["x"])).toBe(1);
    expect(await runScript(client, COUNTER, keys, ["y"])).toBe(2);
    const owner = await cluster.masterOf("{reframe}");
    expect(await redisCli(owner.server.port, "get", "{reframe}:counter")).toBe("2");
  });

  it("refuses a script whose keys span slots before it reaches Redis", async () => {
    const client = connect(settings);
    await expect(runScript(client, COUNTER, ["{reframe}:counter", "{other}:log"], ["x"])).rejects.toThrow(
      /test-counter\.lua: its keys hash to more than one Redis Cluster slot/,
    );
  });

  it("confirms writes on the replica of reframe's master", async () => {
    const client = connect(settings, "producer");
    await waitForRedisReady(client);
    await client.set("{reframe}:confirmed", "1");
    await expect(confirmWrites(client, settings)).resolves.toBeUndefined();
  });

  it("checks the eviction policy of every master, naming the one that evicts", async () => {
    const client = connect(settings, "producer");
    await expect(assertNoEviction(client)).resolves.toEqual({ policy: "noeviction", checked: true });
    const victim = cluster.nodes[1]!;
    const role = await redisCli(victim.server.port, "role");
    const master = role.startsWith("master") ? victim : cluster.nodes[0]!;
    await redisCli(master.server.port, "config", "set", "maxmemory-policy", "allkeys-lru");
    try {
      const error = await assertNoEviction(client).catch((caught: unknown) => caught);
      expect(error).toBeInstanceOf(RedisConfigError);
      expect((error as Error).message).toContain(`"allkeys-lru" on 127.0.0.1:${master.server.port}`);
    } finally {
      await redisCli(master.server.port, "config", "set", "maxmemory-policy", "noeviction");
    }
  });

  it("a worker's client rides through a master's failover: the next command lands on the promoted replica", async () => {
    const client = connect(settings, "worker");
    await client.set("{reframe}:before", "1");
    await confirmWrites(client, settings);
    const killed = await cluster.failOver("{reframe}");
    expect(await client.get("{reframe}:before")).toBe("1");
    await client.set("{reframe}:after", "2");
    const owner = await cluster.masterOf("{reframe}");
    expect(owner).not.toBe(killed);
    expect(await redisCli(owner.server.port, "get", "{reframe}:after")).toBe("2");
    await killed.server.start();
    await cluster.waitHealthy();
  }, 60_000);
});

describe("on a Sentinel group (master, replica, three sentinels)", () => {
  let group: LocalRedisSentinelGroup;
  let settings: RedisSettings;
  beforeAll(async () => {
    group = await startRedisSentinelGroup();
    settings = redisSettingsFromEnv(group.env);
  }, 60_000);
  afterAll(async () => {
    await group?.stop();
  });

  it("connects to the master the sentinels name, and says where it is", async () => {
    const client = connect(settings);
    await waitForRedisReady(client);
    expect(describeRedisClient(client)).toBe(
      `Redis at Sentinels ${group.env.REDIS_SENTINELS?.split(",").join(", ")} (master reframe)`,
    );
    expect(await runScript(client, COUNTER, ["{reframe}:counter", "{reframe}:counter:log"], ["x"])).toBe(1);
    expect(await redisCli((await group.master()).port, "get", "{reframe}:counter")).toBe("1");
  });

  it("refuses to confirm a write that no replica holds, and confirms it once the replica catches up", async () => {
    const client = connect(settings, "producer");
    await waitForRedisReady(client);
    const replica = group.servers.find((server) => server !== group.servers[0])!;
    process.kill(replica.pid(), "SIGSTOP");
    try {
      await client.set("{reframe}:unconfirmed", "1");
      const error = await confirmWrites(client, {
        ...settings,
        wait: { ...settings.wait, timeoutMs: 300 },
      }).catch((caught: unknown) => caught);
      expect(error).toBeInstanceOf(WriteNotConfirmedError);
      expect((error as Error).message).toBe(
        "Redis did not confirm the write on 1 replica within 300 ms (0 did): it could be lost in a failover; try again (it is safe to repeat)",
      );
    } finally {
      process.kill(replica.pid(), "SIGCONT");
    }
    await expect(confirmWrites(client, settings)).resolves.toBeUndefined();
  });

  it("a worker's client follows the sentinels to the promoted replica after the master is killed", async () => {
    const client = connect(settings, "worker");
    await client.set("{reframe}:before", "1");
    await confirmWrites(client, settings);
    const { old, promoted } = await group.failOver({ restartOldMaster: false });
    expect(await client.get("{reframe}:before")).toBe("1");
    await client.set("{reframe}:after", "2");
    expect(await redisCli(promoted.port, "get", "{reframe}:after")).toBe("2");
    expect(old.running()).toBe(false);
  }, 60_000);
});

describe("an unreachable Redis", () => {
  it.each([
    [{ REDIS_URL: "redis://127.0.0.1:1" }, "cannot reach Redis at redis://127.0.0.1:1 ("],
    [
      { REDIS_CLUSTER_NODES: "127.0.0.1:1,127.0.0.1:2" },
      "cannot reach Redis at Cluster nodes 127.0.0.1:1, 127.0.0.1:2 (",
    ],
    [
      { REDIS_SENTINELS: "127.0.0.1:1", REDIS_SENTINEL_NAME: "reframe" },
      "cannot reach Redis at Sentinels 127.0.0.1:1 (master reframe) (",
    ],
  ])("%j: one line naming the target", async (env, message) => {
    const client = connect(redisSettingsFromEnv(env), "producer");
    const error = await waitForRedisReady(client, { timeoutMs: 500 }).catch((caught: unknown) => caught);
    expect(error).toBeInstanceOf(ServiceUnreachableError);
    expect((error as Error).message).toContain(message);
    expect((error as Error).message).not.toContain("\n");
    client.disconnect();
  });
});
