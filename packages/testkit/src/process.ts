import { type ChildProcess, spawn } from "node:child_process";
import { once } from "node:events";

export type ReadyCheck = { url: string; timeoutMs?: number } | { line: RegExp; timeoutMs?: number };

export interface StartProcessOptions {
  /** Shown in errors and in the captured output's prefix. */
  name: string;
  /** argv; the first element is the executable (use process.execPath for Node). */
  command: readonly string[];
  env?: Record<string, string | undefined>;
  cwd?: string;
  ready: ReadyCheck;
}

export interface RunningProcess {
  readonly pid: number;
  readonly name: string;
  /** stdout and stderr so far, interleaved. */
  output(): string;
  /** Sends `signal` (SIGTERM by default) and resolves with the exit code once the process has exited. */
  stop(signal?: NodeJS.Signals): Promise<number | null>;
  /** SIGKILL, for crash tests. */
  kill(): Promise<void>;
  readonly exited: Promise<{ code: number | null; signal: NodeJS.Signals | null }>;
}

const DEFAULT_READY_TIMEOUT_MS = 30_000;
const MAX_CAPTURED_CHARS = 2_000_000;

/**
 * Starts a child process and resolves once it is ready (an HTTP URL answers, or a line matches).
 * Rejects with the captured output when it exits or times out first, so a failing start is readable.
 */
export async function startProcess(options: StartProcessOptions): Promise<RunningProcess> {
  const [executable, ...args] = options.command;
  if (!executable) throw new Error(`${options.name}: empty command`);
  const child = spawn(executable, args, {
    cwd: options.cwd,
    env: { ...process.env, ...options.env },
    stdio: ["ignore", "pipe", "pipe"],
  });
  let captured = "";
  const append = (chunk: Buffer) => {
    captured = (captured + chunk.toString("utf8")).slice(-MAX_CAPTURED_CHARS);
  };
  child.stdout?.on("data", append);
  child.stderr?.on("data", append);
  const exited = once(child, "exit").then(([code, signal]) => ({
    code: code as number | null,
    signal: signal as NodeJS.Signals | null,
  }));
  const running = toRunning(options.name, child, () => captured, exited);
  try {
    await waitUntilReady(options, () => captured, exited);
  } catch (error) {
    await running.kill();
    throw error;
  }
  return running;
}

function toRunning(
  name: string,
  child: ChildProcess,
  output: () => string,
  exited: RunningProcess["exited"],
): RunningProcess {
  let done = false;
  void exited.then(() => {
    done = true;
  });
  return {
    pid: child.pid ?? -1,
    name,
    output,
    exited,
    async stop(signal = "SIGTERM") {
      if (!done) child.kill(signal);
      return (await exited).code;
    },
    async kill() {
      if (!done) child.kill("SIGKILL");
      await exited;
    },
  };
}

async function waitUntilReady(
  options: StartProcessOptions,
  output: () => string,
  exited: RunningProcess["exited"],
): Promise<void> {
  const timeoutMs = options.ready.timeoutMs ?? DEFAULT_READY_TIMEOUT_MS;
  const deadline = Date.now() + timeoutMs;
  let hasExited = false;
  void exited.then(() => {
    hasExited = true;
  });
  while (Date.now() < deadline) {
    if (hasExited) {
      const { code, signal } = await exited;
      throw new Error(
        `${options.name} exited (code ${code}, signal ${signal}) before it was ready:\n${output()}`,
      );
    }
    if (await isReady(options.ready, output())) return;
    await new Promise((resolve) => setTimeout(resolve, 50));
  }
  throw new Error(`${options.name} was not ready within ${timeoutMs} ms:\n${output()}`);
}

async function isReady(ready: ReadyCheck, output: string): Promise<boolean> {
  if ("line" in ready) return ready.line.test(output);
  try {
    const response = await fetch(ready.url, { signal: AbortSignal.timeout(1000) });
    await response.body?.cancel();
    return response.status < 500;
  } catch {
    return false;
  }
}
