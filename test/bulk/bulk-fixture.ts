import { type ChildProcess, spawn } from "node:child_process";
import { once } from "node:events";
import { readFileSync } from "node:fs";
import { createConnection, createServer, type Server, type Socket } from "node:net";
import { fileURLToPath } from "node:url";
import type { LocalStack } from "@reframe/local-stack";

const CLI = fileURLToPath(new URL("../../apps/producer/src/cli.ts", import.meta.url));
/** The CLI's Node flags, from its first line (`#!/usr/bin/env -S node --flag …`), as `./reframe` runs it. */
const CLI_NODE_FLAGS = (/^#!.*\bnode\b(.*)$/m.exec(readFileSync(CLI, "utf8").split("\n")[0]!)?.[1] ?? "")
  .trim()
  .split(/\s+/)
  .filter(Boolean);

/** The environment `reframe bulk` needs on a local stack, nothing more (no provider key). */
export function cliEnvironment(stack: LocalStack, redisEnv = stack.redisEnv): Record<string, string> {
  const env = stack.workerEnvironment;
  return {
    ...redisEnv,
    S3_ENDPOINT: env.S3_ENDPOINT!,
    S3_REGION: env.S3_REGION!,
    S3_FORCE_PATH_STYLE: "true",
    S3_ACCESS_KEY_ID: env.S3_ACCESS_KEY_ID!,
    S3_SECRET_ACCESS_KEY: env.S3_SECRET_ACCESS_KEY!,
    SCRATCH_BUCKET: env.SCRATCH_BUCKET!,
    OUTPUT_BUCKET: env.OUTPUT_BUCKET!,
  };
}

export interface CliRun {
  readonly child: ChildProcess;
  stdout(): string;
  stderr(): string;
  /** Resolves once stderr or stdout matches (rejects if the process ends first). */
  waitFor(pattern: RegExp): Promise<void>;
  readonly exited: Promise<{ code: number | null; signal: NodeJS.Signals | null }>;
}

/** The real CLI as its own process, as a user runs it. */
export function startCli(args: string[], env: Record<string, string>): CliRun {
  const child = spawn(process.execPath, [...CLI_NODE_FLAGS, CLI, ...args], {
    env: { PATH: process.env.PATH ?? "", ...env },
    stdio: ["ignore", "pipe", "pipe"],
  });
  let stdout = "";
  let stderr = "";
  const waiters: { pattern: RegExp; resolve: () => void }[] = [];
  const check = () => {
    for (const waiter of [...waiters]) {
      if (waiter.pattern.test(stdout) || waiter.pattern.test(stderr)) {
        waiters.splice(waiters.indexOf(waiter), 1);
        waiter.resolve();
      }
    }
  };
  child.stdout!.on("data", (chunk: Buffer) => {
    stdout += chunk.toString("utf8");
    check();
  });
  child.stderr!.on("data", (chunk: Buffer) => {
    stderr += chunk.toString("utf8");
    check();
  });
  const exited = once(child, "exit").then(([code, signal]) => ({
    code: code as number | null,
    signal: signal as NodeJS.Signals | null,
  }));
  return {
    child,
    stdout: () => stdout,
    stderr: () => stderr,
    exited,
    waitFor(pattern) {
      return new Promise((resolve, reject) => {
        waiters.push({ pattern, resolve });
        check();
        void exited.then(({ code }) =>
          reject(new Error(`the CLI exited (${code}) before ${pattern}:\n${stdout}\n${stderr}`)),
        );
      });
    },
  };
}

export async function runCli(
  args: string[],
  env: Record<string, string>,
): Promise<{ code: number | null; stdout: string; stderr: string }> {
  const run = startCli(args, env);
  const { code } = await run.exited;
  return { code, stdout: run.stdout(), stderr: run.stderr() };
}

/** A number printed on a plan or summary line, such as "  to run   175". */
export function planNumber(text: string, label: string): number {
  const match = new RegExp(`^\\s+${label}\\s+\\$?([\\d.]+)`, "m").exec(text);
  if (!match) throw new Error(`no "${label}" line in:\n${text}`);
  return Number(match[1]);
}

export interface RedisGate {
  url: string;
  /**
   * From the `occurrence`-th time `marker` is sent by a client, nothing more reaches Redis: the
   * command holding it is cut short (Redis never runs a partial command) and everything after it is
   * dropped when the client goes away. Resolves once holding, so the client can be killed at a known
   * place instead of racing it with a timer.
   */
  holdAt(marker: string, occurrence: number): Promise<void>;
  close(): Promise<void>;
}

/** A TCP proxy in front of Redis that can stop its clients in the middle of what they send. */
export async function startRedisGate(redisUrl: string): Promise<RedisGate> {
  const target = new URL(redisUrl);
  const sockets = new Set<Socket>();
  let marker = Buffer.alloc(0);
  let seen = 0;
  let holdAt = Number.POSITIVE_INFINITY;
  let holding = false;
  let onHold: (() => void) | undefined;
  const server: Server = createServer((client) => {
    const upstream = createConnection(Number(target.port), target.hostname);
    sockets.add(client).add(upstream);
    upstream.pipe(client);
    client.on("data", (chunk: Buffer) => {
      if (holding) return;
      for (let at = marker.length ? chunk.indexOf(marker) : -1; at >= 0; at = chunk.indexOf(marker, at + 1)) {
        seen += 1;
        if (seen >= holdAt) {
          upstream.write(chunk.subarray(0, at));
          holding = true;
          onHold?.();
          return;
        }
      }
      upstream.write(chunk);
    });
    const close = () => {
      client.destroy();
      upstream.destroy();
    };
    client.on("close", close).on("error", close);
    upstream.on("close", close).on("error", close);
  });
  server.listen(0, "127.0.0.1");
  await once(server, "listening");
  const { port } = server.address() as { port: number };
  return {
    url: `redis://127.0.0.1:${port}`,
    holdAt(text, occurrence) {
      marker = Buffer.from(text);
      holdAt = occurrence;
      return new Promise((resolve) => {
        onHold = resolve;
      });
    },
    async close() {
      for (const socket of sockets) socket.destroy();
      server.close();
      await once(server, "close").catch(() => undefined);
    },
  };
}
