import { createHash } from "node:crypto";
import { readdirSync, readFileSync, readlinkSync } from "node:fs";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";
import type { RedisClient } from "@reframe/redis";
import { infoFields } from "@reframe/testkit";

/**
 * What Redis itself says it did: CPU from INFO cpu, command counts and execution time from INFO
 * commandstats (which counts the commands a Lua script calls as well as the script), memory from
 * INFO memory; and every command one by one through the slow log at a threshold of 0, with the
 * client that sent it, for attributing Redis's work to the process and step that asked for it.
 */

export interface CommandCount {
  calls: number;
  usec: number;
}

export interface RedisCounters {
  /** user + sys CPU of the whole redis-server (its background threads too), ms. */
  cpuMs: number;
  /** user + sys CPU of the main thread, the one that runs commands and saturates first, ms. */
  mainThreadCpuMs: number;
  usedMemory: number;
  /** By command name (`evalsha`, `hget`, …), scripts' inner commands included. */
  commands: Map<string, CommandCount>;
}

export async function readRedisCounters(redis: RedisClient): Promise<RedisCounters> {
  const info = infoFields(await redis.info("all"));
  const seconds = (...names: string[]) => names.reduce((sum, name) => sum + Number(info.get(name)), 0);
  const commands = new Map<string, CommandCount>();
  for (const [field, value] of info) {
    if (!field.startsWith("cmdstat_")) continue;
    const calls = Number(/calls=(\d+)/.exec(value)?.[1]);
    const usec = Number(/usec=(\d+)/.exec(value)?.[1]);
    commands.set(field.slice("cmdstat_".length), { calls, usec });
  }
  return {
    cpuMs: seconds("used_cpu_user", "used_cpu_sys") * 1000,
    mainThreadCpuMs: seconds("used_cpu_user_main_thread", "used_cpu_sys_main_thread") * 1000,
    usedMemory: Number(info.get("used_memory")),
    commands,
  };
}

/** What Redis did between two readings: `after − before`, the commands that were called only. */
export function countersBetween(before: RedisCounters, after: RedisCounters) {
  const commands = new Map<string, CommandCount>();
  for (const [name, { calls, usec }] of after.commands) {
    const was = before.commands.get(name) ?? { calls: 0, usec: 0 };
    if (calls > was.calls) commands.set(name, { calls: calls - was.calls, usec: usec - was.usec });
  }
  const total = (field: keyof CommandCount) =>
    [...commands.values()].reduce((sum, count) => sum + count[field], 0);
  return {
    cpuMs: after.cpuMs - before.cpuMs,
    mainThreadCpuMs: after.mainThreadCpuMs - before.mainThreadCpuMs,
    usedMemory: after.usedMemory - before.usedMemory,
    commands,
    /** Every command executed, a script's inner commands included. */
    calls: total("calls"),
    /** Time Redis spent executing them (no network I/O, no event loop), µs. */
    usec: total("usec"),
  };
}

export type RedisDelta = ReturnType<typeof countersBetween>;

/** One command as the slow log kept it; `inner` holds the commands a script called. */
export interface TracedCommand {
  name: string;
  args: string[];
  usec: number;
  client: string;
  clientName: string;
  inner: TracedCommand[];
}

/**
 * Logs every command from now (slowlog-log-slower-than 0) until `stop()`, which restores the
 * settings and returns the top-level commands in order, each with the commands its script called.
 * Redis 7 logs a script's inner commands (client "?:0") just before the script's own entry. The log
 * keeps at most `capacity` entries: `stop()` throws when it wrapped. Its times are wall clock (a
 * script's includes logging its inner commands, and any moment the thread was not running): for
 * comparing, not for CPU, which INFO cpu gives.
 */
export async function startCommandTrace(redis: RedisClient, capacity: number) {
  const setting = async (name: string) => ((await redis.config("GET", name)) as string[])[1]!;
  const saved = {
    threshold: await setting("slowlog-log-slower-than"),
    length: await setting("slowlog-max-len"),
  };
  await redis.config("SET", "slowlog-max-len", String(capacity));
  await redis.slowlog("RESET");
  await redis.config("SET", "slowlog-log-slower-than", "0");
  return {
    async stop(): Promise<TracedCommand[]> {
      await redis.config("SET", "slowlog-log-slower-than", saved.threshold);
      const raw = (await redis.slowlog("GET", String(capacity))) as [
        number,
        number,
        number,
        string[],
        string,
        string,
      ][];
      await redis.slowlog("RESET");
      await redis.config("SET", "slowlog-max-len", saved.length);
      if (raw.length >= capacity) throw new Error(`the command trace outgrew its ${capacity} entries`);
      const top: TracedCommand[] = [];
      let inner: TracedCommand[] = [];
      for (const [, , usec, [name = "", ...args], client, clientName] of raw.reverse()) {
        const command = { name: name.toLowerCase(), args, usec, client, clientName, inner: [] };
        if (client === "?:0") inner.push(command);
        else {
          top.push({ ...command, inner });
          inner = [];
        }
      }
      return top;
    },
  };
}

/**
 * The name of every script reframe runs, by SHA-1: BullMQ's (one module per script, each
 * `{ name, content }`) and reframe's own `lua/` folders.
 */
export async function scriptNames(): Promise<Map<string, string>> {
  const names = new Map<string, string>();
  const sha = (source: string) => createHash("sha1").update(source).digest("hex");
  const bullmqScripts = join(dirname(fileURLToPath(import.meta.resolve("bullmq"))), "scripts");
  for (const file of readdirSync(bullmqScripts)) {
    if (!/^\w+-\d+\.js$/.test(file)) continue;
    // The CommonJS build's modules also export a `default` holding the same script.
    const module = (await import(join(bullmqScripts, file))) as Record<
      string,
      { name?: string; content?: unknown }
    >;
    for (const { name, content } of Object.values(module))
      if (name && typeof content === "string") names.set(sha(content), name);
  }
  const root = fileURLToPath(new URL("../../", import.meta.url));
  for (const area of ["apps", "packages"]) {
    for (const unit of readdirSync(join(root, area))) {
      const lua = join(root, area, unit, "src", "lua");
      let files: string[] = [];
      try {
        files = readdirSync(lua).filter((file) => file.endsWith(".lua"));
      } catch {
        continue;
      }
      for (const file of files)
        names.set(sha(readFileSync(join(lua, file), "utf8")), file.replace(/\.lua$/, ""));
    }
  }
  return names;
}

/** The local TCP ports of a process's open sockets (/proc/<pid>/fd and /proc/net/tcp*). */
export function tcpPortsOf(pid: number): Set<number> {
  const inodes = new Set<string>();
  for (const fd of readdirSync(`/proc/${pid}/fd`)) {
    try {
      const match = /^socket:\[(\d+)\]$/.exec(readlinkSync(`/proc/${pid}/fd/${fd}`));
      if (match) inodes.add(match[1]!);
    } catch {
      // Closed between the listing and the read.
    }
  }
  const ports = new Set<number>();
  for (const table of ["tcp", "tcp6"]) {
    for (const line of readFileSync(`/proc/${pid}/net/${table}`, "utf8").split("\n").slice(1)) {
      const fields = line.trim().split(/\s+/);
      const local = fields[1];
      if (local && inodes.has(fields[9]!)) ports.add(Number.parseInt(local.split(":")[1]!, 16));
    }
  }
  return ports;
}
