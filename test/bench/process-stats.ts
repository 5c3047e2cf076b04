import { execFileSync } from "node:child_process";
import { readFileSync } from "node:fs";
import type { LocalStack } from "@reframe/local-stack";
import type { RedisClient } from "@reframe/redis";

/** Clock ticks per second of /proc/<pid>/stat's utime and stime (USER_HZ, 100 on Linux). */
const TICKS_PER_SECOND = Number(execFileSync("getconf", ["CLK_TCK"], { encoding: "utf8" }).trim()) || 100;

/** CPU time (user + system) a process has used so far, in milliseconds, from /proc/<pid>/stat. */
export function cpuMs(pid: number): number {
  const stat = readFileSync(`/proc/${pid}/stat`, "utf8");
  // The command name (field 2) may hold spaces and parentheses: count fields after its closing ")".
  const fields = stat.slice(stat.lastIndexOf(")") + 2).split(" ");
  const utime = Number(fields[11]);
  const stime = Number(fields[12]);
  return ((utime + stime) * 1000) / TICKS_PER_SECOND;
}

/** CPU milliseconds of several processes between `start()` and `stop()`. */
export function cpuMeter(pids: Record<string, number>) {
  const before = Object.fromEntries(Object.entries(pids).map(([name, pid]) => [name, cpuMs(pid)]));
  return {
    read(): Record<string, number> {
      return Object.fromEntries(
        Object.entries(pids).map(([name, pid]) => [name, cpuMs(pid) - (before[name] ?? 0)]),
      );
    },
  };
}

function statusField(pid: number, field: "VmHWM" | "VmRSS"): number {
  const status = readFileSync(`/proc/${pid}/status`, "utf8");
  const match = new RegExp(`^${field}:\\s+(\\d+) kB`, "m").exec(status);
  if (!match) throw new Error(`/proc/${pid}/status has no ${field}`);
  return Number(match[1]) * 1024;
}

/** Peak resident set size of a process since it started (VmHWM), in bytes. */
export const peakRssBytes = (pid: number) => statusField(pid, "VmHWM");
export const rssBytes = (pid: number) => statusField(pid, "VmRSS");

/** Redis's `used_memory` (INFO memory), in bytes. */
export async function redisUsedMemory(redis: RedisClient): Promise<number> {
  const info = await redis.info("memory");
  const match = /^used_memory:(\d+)/m.exec(info);
  if (!match) throw new Error("INFO memory has no used_memory");
  return Number(match[1]);
}

/** The pid of the redis-server behind a connection (INFO server). */
export async function redisPid(redis: RedisClient): Promise<number> {
  const info = await redis.info("server");
  return Number(/^process_id:(\d+)/m.exec(info)?.[1]);
}

export function percentile(values: readonly number[], p: number): number {
  if (values.length === 0) return Number.NaN;
  const sorted = [...values].sort((a, b) => a - b);
  const index = Math.min(sorted.length - 1, Math.max(0, Math.ceil((p / 100) * sorted.length) - 1));
  return sorted[index]!;
}

/** The pid of a process of the stack, by name (s3, emulator, worker-1, …). */
export function processPid(stack: LocalStack, name: string): number {
  const found = stack.process(name);
  if (!found) throw new Error(`the stack has no ${name} process`);
  return found.pid;
}

/**
 * What the benchmarked worker is started with besides the stack's own settings, to find what costs:
 * BENCH_CPU_PROF=DIR, a V8 CPU profile written there when it stops; BENCH_WORKER_ENV='{"NAME":"value"}',
 * variables over the stack's (an allocator setting against another, with LD_PRELOAD and MALLOC_*).
 */
export function profilerEnv(): Record<string, string> {
  const directory = process.env.BENCH_CPU_PROF;
  const extra = process.env.BENCH_WORKER_ENV;
  return {
    ...(directory ? { NODE_OPTIONS: `--cpu-prof --cpu-prof-dir=${directory}` } : {}),
    ...(extra ? (JSON.parse(extra) as Record<string, string>) : {}),
  };
}
