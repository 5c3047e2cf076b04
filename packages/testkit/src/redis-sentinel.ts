import { mkdir, mkdtemp, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { freePort } from "./free-port.ts";
import { type RunningProcess, startProcess } from "./process.ts";
import { infoFields, redisCli, waitUntil } from "./redis-cli.ts";
import { type LocalRedis, startRedisServer } from "./redis-server.ts";
import { startTcpProxy, type TcpProxy } from "./tcp-proxy.ts";

export interface LocalRedisSentinelGroup {
  kind: "sentinel";
  /** The master name the sentinels monitor. */
  name: string;
  /** Data nodes: the first started as the master, the others as its replicas. */
  servers: readonly LocalRedis[];
  sentinelPorts: readonly number[];
  /**
   * With `proxied`: the TCP proxy in front of each data node (same order as `servers`), the address
   * the sentinels know and hand out, so a test can leave connections half-open.
   */
  proxies: readonly TcpProxy[];
  /** REDIS_SENTINELS and REDIS_SENTINEL_NAME, the other topologies blank. */
  env: Record<string, string>;
  /** The data node the sentinels name as master now. */
  master(): Promise<LocalRedis>;
  /**
   * SIGKILLs the current master, waits until the sentinels have promoted a replica, then starts the
   * old master again and waits until it has rejoined as a replica of the new one. Returns both.
   * `onKilled` is called the moment the master is dead (a run measures its outage from there).
   */
  failOver(options?: {
    restartOldMaster?: boolean;
    onKilled?: () => void;
  }): Promise<{ old: LocalRedis; promoted: LocalRedis }>;
  /** Waits until the old master, started again, is a replica in sync with the current master. */
  waitReplicasInSync(): Promise<void>;
  stop(): Promise<void>;
}

export interface StartSentinelGroupOptions {
  /** Replicas of the master (1 by default). */
  replicas?: number;
  /** Sentinels (3 by default, quorum 2). */
  sentinels?: number;
  /** down-after-milliseconds: how long the master may not answer before it is considered down. */
  downAfterMs?: number;
  appendOnly?: boolean;
  /**
   * Every data node behind a TCP proxy whose address the sentinels know (the master is monitored
   * there, replicas announce it): clients reach the nodes only through the proxies.
   */
  proxied?: boolean;
}

const MASTER_NAME = "reframe";

/**
 * A real Sentinel group on loopback: a master, its replicas (`--replicaof`) and sentinels
 * (`redis-server <conf> --sentinel`, each with its own writable config file, as Sentinel requires).
 */
export async function startRedisSentinelGroup(
  options: StartSentinelGroupOptions = {},
): Promise<LocalRedisSentinelGroup> {
  const downAfterMs = options.downAfterMs ?? 1000;
  const root = await mkdtemp(join(tmpdir(), "reframe-sentinel-"));
  const servers: LocalRedis[] = [];
  const sentinels: RunningProcess[] = [];
  const sentinelPorts: number[] = [];
  const proxies: TcpProxy[] = [];
  const stopAll = async () => {
    await Promise.allSettled(sentinels.map((sentinel) => sentinel.stop("SIGTERM")));
    await Promise.allSettled(proxies.map((proxy) => proxy.close()));
    await Promise.allSettled(servers.map((server) => (server.running() ? server.stop() : undefined)));
    await rm(root, { recursive: true, force: true });
  };
  try {
    for (let i = 0; i <= (options.replicas ?? 1); i += 1) {
      const directory = join(root, `data-${i}`);
      await mkdir(directory, { recursive: true });
      const master = servers[0];
      const port = await freePort();
      const proxy = options.proxied ? await startTcpProxy({ targetPort: port }) : undefined;
      if (proxy) proxies.push(proxy);
      servers.push(
        await startRedisServer({
          directory,
          port,
          appendOnly: options.appendOnly ?? false,
          extraArgs: [
            ...(master ? ["--replicaof", "127.0.0.1", String(master.port)] : []),
            ...(proxy
              ? ["--replica-announce-ip", "127.0.0.1", "--replica-announce-port", String(proxy.port)]
              : []),
          ],
        }),
      );
    }
    const known = (index: number) => (options.proxied ? proxies[index]!.port : servers[index]!.port);
    for (let i = 0; i < (options.sentinels ?? 3); i += 1) {
      const port = await freePort();
      const file = join(root, `sentinel-${i}.conf`);
      await writeFile(
        file,
        [
          `port ${port}`,
          "bind 127.0.0.1",
          "protected-mode no",
          `dir ${root}`,
          `sentinel monitor ${MASTER_NAME} 127.0.0.1 ${known(0)} 2`,
          `sentinel down-after-milliseconds ${MASTER_NAME} ${downAfterMs}`,
          `sentinel failover-timeout ${MASTER_NAME} ${Math.max(5000, downAfterMs * 5)}`,
          `sentinel parallel-syncs ${MASTER_NAME} 1`,
          "",
        ].join("\n"),
      );
      sentinels.push(
        await startProcess({
          name: `redis-sentinel:${port}`,
          command: ["redis-server", file, "--sentinel"],
          ready: { line: /\+monitor master/ },
        }),
      );
      sentinelPorts.push(port);
    }
  } catch (error) {
    await stopAll();
    throw error;
  }
  const ask = (...args: string[]) => redisCli(sentinelPorts[0]!, "sentinel", ...args);
  const master = async (): Promise<LocalRedis> => {
    const [, port] = (await ask("get-master-addr-by-name", MASTER_NAME)).split("\n");
    const announced = (server: LocalRedis, index: number) =>
      String(options.proxied ? proxies[index]!.port : server.port);
    const found = servers.find((server, index) => announced(server, index) === port?.trim());
    if (!found) throw new Error(`the sentinels name an unknown master (port ${port})`);
    return found;
  };
  const waitReplicasInSync = () =>
    waitUntil("every replica to be in sync with the master", async () => {
      const current = await master();
      const info = infoFields(await redisCli(current.port, "info", "replication"));
      if (info.get("role") !== "master") return false;
      const running = servers.filter((server) => server.running() && server !== current).length;
      const online = [...info.entries()].filter(
        ([field, value]) => /^slave\d+$/.test(field) && value.includes("state=online"),
      ).length;
      return online === running;
    });
  const sentinelsAgree = () =>
    waitUntil(
      "the sentinels to know each other and the replicas",
      async () => {
        for (const port of sentinelPorts) {
          const fields = masterFields(await redisCli(port, "sentinel", "master", MASTER_NAME));
          if (Number(fields.get("num-other-sentinels")) !== sentinelPorts.length - 1) return false;
          if (Number(fields.get("num-slaves")) < servers.filter((server) => server.running()).length - 1)
            return false;
        }
        return true;
      },
      60_000,
    );
  try {
    await waitReplicasInSync();
    await sentinelsAgree();
  } catch (error) {
    await stopAll();
    throw error;
  }
  return {
    kind: "sentinel",
    name: MASTER_NAME,
    servers,
    sentinelPorts,
    proxies,
    env: {
      REDIS_URL: "",
      REDIS_CLUSTER_NODES: "",
      REDIS_SENTINELS: sentinelPorts.map((port) => `127.0.0.1:${port}`).join(","),
      REDIS_SENTINEL_NAME: MASTER_NAME,
    },
    master,
    async failOver({ restartOldMaster = true, onKilled } = {}) {
      const old = await master();
      await old.kill();
      onKilled?.();
      await waitUntil(
        "the sentinels to promote a replica",
        async () => (await master()) !== old,
        downAfterMs * 10 + 20_000,
      );
      const promoted = await master();
      await waitUntil(
        "the promoted replica to act as master",
        async () => infoFields(await redisCli(promoted.port, "info", "replication")).get("role") === "master",
      );
      if (restartOldMaster) {
        await old.start();
        await waitReplicasInSync();
      }
      return { old, promoted };
    },
    waitReplicasInSync,
    stop: stopAll,
  };
}

/** SENTINEL MASTER answers field and value on alternate lines. */
function masterFields(text: string): Map<string, string> {
  const lines = text.split("\n").map((line) => line.trim());
  const fields = new Map<string, string>();
  for (let i = 0; i + 1 < lines.length; i += 2) fields.set(lines[i]!, lines[i + 1]!);
  return fields;
}
