import { mkdtemp, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { freePort } from "./free-port.ts";
import { type RunningProcess, startProcess } from "./process.ts";

export interface LocalRedis {
  url: string;
  port: number;
  /** The data directory (AOF lives here when `appendOnly` is set). */
  directory: string;
  /** Stops the server (SIGTERM: it saves AOF if enabled) and, unless kept, removes the directory. */
  stop(options?: { keepDirectory?: boolean }): Promise<void>;
  /** Restarts on the same port and directory, as after a crash or failover. */
  restart(): Promise<void>;
  /** SIGKILL, as a crash: no save, the directory stays for `start()`. */
  kill(): Promise<void>;
  /** Starts it again on the same port and directory after `kill()`. */
  start(): Promise<void>;
  /** Whether the process is running (not killed or stopped). */
  running(): boolean;
  /** The process id now (it changes with each start), for SIGSTOP/SIGCONT in tests. */
  pid(): number;
}

export interface StartRedisOptions {
  /** AOF with fsync every second, as in production; off by default (faster tests). */
  appendOnly?: boolean;
  /** Reuse a directory (a restart after a crash); a fresh temporary one by default. */
  directory?: string;
  port?: number;
  executable?: string;
  /** More `redis-server` arguments (cluster mode, replication), after the defaults. */
  extraArgs?: readonly string[];
}

/**
 * A real redis-server on a free loopback port with its own temporary directory, configured as
 * reframe expects in production (maxmemory-policy noeviction). Never 6379: a machine may run its own.
 */
export async function startRedisServer(options: StartRedisOptions = {}): Promise<LocalRedis> {
  const directory = options.directory ?? (await mkdtemp(join(tmpdir(), "reframe-redis-")));
  const port = options.port ?? (await freePort());
  const launch = () =>
    startProcess({
      name: `redis-server:${port}`,
      command: [
        options.executable ?? "redis-server",
        "--port",
        String(port),
        "--bind",
        "127.0.0.1",
        "--dir",
        directory,
        "--save",
        "",
        "--appendonly",
        options.appendOnly ? "yes" : "no",
        "--appendfsync",
        "everysec",
        "--maxmemory-policy",
        "noeviction",
        "--protected-mode",
        "no",
        ...(options.extraArgs ?? []),
      ],
      ready: { line: /Ready to accept connections/ },
    });
  let server: RunningProcess = await launch();
  let up = true;
  return {
    url: `redis://127.0.0.1:${port}`,
    port,
    directory,
    async stop(stopOptions = {}) {
      await server.stop("SIGTERM");
      up = false;
      if (!stopOptions.keepDirectory && !options.directory)
        await rm(directory, { recursive: true, force: true });
    },
    async restart() {
      await server.stop("SIGTERM");
      server = await launch();
      up = true;
    },
    async kill() {
      await server.kill();
      up = false;
    },
    async start() {
      if (up) throw new Error(`redis-server:${port} is already running`);
      server = await launch();
      up = true;
    },
    running: () => up,
    pid: () => server.pid,
  };
}
