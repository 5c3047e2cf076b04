import { enqueueMany } from "@reframe/jobs";
import { type LocalStack, startLocalStack } from "@reframe/local-stack";
import {
  type LocalRedis,
  type LocalRedisSentinelGroup,
  type RunningProcess,
  redisCli,
  startRedisSentinelGroup,
  startRedisServer,
  startTcpProxy,
  type TcpProxy,
} from "@reframe/testkit";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import {
  job,
  jobStates,
  type StackClients,
  stackClients,
  uploadSource,
} from "../outpaint-flow/stack-fixture.ts";

/**
 * Redis going away under a running worker, over a real redis-server with AOF. The worker reaches
 * Redis through a TCP proxy that can leave its open connections half-dead, as a failover behind a
 * DNS name or a load balancer does (a plain restart closes them, and ioredis reconnects).
 */
describe("a worker across Redis restarts", () => {
  let redis: LocalRedis;
  let proxy: TcpProxy;
  let stack: LocalStack;
  let clients: StackClients;
  let worker: RunningProcess;
  beforeAll(async () => {
    redis = await startRedisServer({ appendOnly: true });
    proxy = await startTcpProxy({ targetPort: redis.port });
    stack = await startLocalStack({
      workers: 0,
      redisEnv: { REDIS_URL: redis.url },
      emulatorEnv: { EMULATOR_LATENCY_MS: "100-300" },
    });
    worker = await stack.startWorker({
      REDIS_URL: `redis://127.0.0.1:${proxy.port}`,
      POLL_FIRST_MS: "1000",
      WORKER_WATCHDOG_MS: "1000",
      WORKER_SILENT_AFTER_MS: "3000",
      // A job whose lock renewal or step save was cut by the restart stays active until its lock runs
      // out and the stall check hands it back (not lost: it completes then). With the 30 s defaults
      // that can outlast the poll below; with these it comes back within about 10 s.
      WORKER_LOCK_DURATION_MS: "5000",
      WORKER_STALLED_INTERVAL_MS: "5000",
    });
    clients = stackClients(stack);
    // The test's own clients see Redis go away too; they reconnect, nothing more.
    clients.connection.on("error", () => undefined);
    clients.queue.on("error", () => undefined);
    for (let i = 0; i < 4; i += 1) await uploadSource(clients.s3, `restart/${i}.jpg`);
  });
  afterAll(async () => {
    await clients?.close();
    await stack?.stop();
    await proxy?.close();
    await redis?.stop();
  });

  const batch = async (ratio: string) => {
    const keys = Array.from({ length: 4 }, (_, i) => `restart/${i}.jpg`);
    return (
      await enqueueMany(
        clients.queue,
        keys.map((key) => job(key, ratio, [])),
      )
    ).jobIds;
  };

  it("jobs accepted just before a restart are not lost, and the worker takes jobs again by itself", async () => {
    const before = await batch("16:9");
    await redis.restart();
    const after = await batch("1:1");
    await expect
      .poll(() => jobStates(clients.queue, [...before, ...after]), { timeout: 30_000, interval: 250 })
      .toEqual({ completed: 8 });
  });

  it("a failover that leaves its connections half-open: the watchdog recreates it and it takes jobs again", async () => {
    proxy.silenceOpenConnections();
    await redis.restart();
    const jobIds = await batch("9:16");
    await expect
      .poll(() => jobStates(clients.queue, jobIds), { timeout: 30_000, interval: 250 })
      .toEqual({ completed: 4 });
    expect(worker.output()).toMatch(/"alert":"workerSilent".*has not answered a PING/);
  });
});

/**
 * The same half-open failover on a Sentinel group: clients reach the data nodes only through proxies
 * (the addresses the sentinels hand out). The master's proxy leaves every open connection half-open
 * and the sentinels fail over to the replica; the worker's ioredis hears nothing and waits on the old
 * connections, and its watchdog (which asks the sentinels afresh) recreates it on the new master.
 */
describe("a worker on a Sentinel group whose failover leaves its connections half-open", () => {
  let group: LocalRedisSentinelGroup;
  let stack: LocalStack;
  let clients: StackClients;
  let worker: RunningProcess;
  beforeAll(async () => {
    group = await startRedisSentinelGroup({ proxied: true });
    stack = await startLocalStack({
      workers: 0,
      redisEnv: group.env,
      emulatorEnv: { EMULATOR_LATENCY_MS: "100-300" },
    });
    worker = await stack.startWorker({
      POLL_FIRST_MS: "1000",
      WORKER_WATCHDOG_MS: "1000",
      WORKER_SILENT_AFTER_MS: "3000",
    });
    clients = stackClients(stack);
    clients.connection.on("error", () => undefined);
    clients.queue.on("error", () => undefined);
    for (let i = 0; i < 4; i += 1) await uploadSource(clients.s3, `sentinel/${i}.jpg`);
  });
  afterAll(async () => {
    await clients?.close();
    await stack?.stop();
    await group?.stop();
  });

  it("the watchdog recreates the worker on the promoted replica and it takes jobs again", async () => {
    const first = await group.master();
    const keys = Array.from({ length: 4 }, (_, i) => `sentinel/${i}.jpg`);
    const before = (
      await enqueueMany(
        clients.queue,
        keys.map((key) => job(key, "16:9", [])),
      )
    ).jobIds;
    await expect
      .poll(() => jobStates(clients.queue, before), { timeout: 30_000, interval: 250 })
      .toEqual({ completed: 4 });
    // The open connections go silent, and the sentinels are told to fail over (left to notice by
    // themselves, they reconnect through the proxy, find the master answering, and may not).
    group.proxies[group.servers.indexOf(first)]!.silenceOpenConnections();
    await redisCli(group.sentinelPorts[0]!, "sentinel", "failover", group.name);
    await expect.poll(() => group.master(), { timeout: 30_000, interval: 250 }).not.toBe(first);
    // The test's own client was half-open too: a new one finds the new master.
    await clients.close();
    clients = stackClients(stack);
    const after = (
      await enqueueMany(
        clients.queue,
        keys.map((key) => job(key, "1:1", [])),
      )
    ).jobIds;
    await expect
      .poll(() => jobStates(clients.queue, after), { timeout: 45_000, interval: 250 })
      .toEqual({ completed: 4 });
    expect(worker.output()).toMatch(/"alert":"workerSilent"/);
  }, 120_000);
});
