import { PeriodicTask } from "@reframe/lifecycle";
import { connectionProblem } from "@reframe/reachability";
import type { Logger } from "@reframe/telemetry";

/**
 * Notices a worker that went silent while Redis is fine, and has it recreated.
 *
 * BullMQ relies on ioredis to reconnect. That covers a Redis restart (the socket closes, ioredis
 * reconnects) but not a failover that leaves the old connections half-open (no FIN, no RST: a DNS
 * switch, a load balancer, a host that vanished): commands on them wait forever, the worker takes
 * no job and says nothing (BullMQ issues 648, 2466, 2964, 3185; the maintainers suggest a watchdog
 * that recreates the worker). BullMQ 6 re-arms its own blocking connection, but the connection
 * that moves jobs to active stays stuck.
 *
 * Every `intervalMs` it looks through a fresh connection. Redis unreachable is an outage, not
 * silence: ioredis reconnects on its own when Redis returns. With Redis reachable, the worker is
 * silent when, for `silentAfterMs` on end,
 * - its own connection does not answer a PING within `pingTimeoutMs`, or
 * - jobs wait in an unpaused queue while the worker has free slots and takes none of them.
 */

export type Look = { reachable: false } | { reachable: true; waiting: number; paused: boolean };

export interface WatchdogProbe {
  /** Redis as a fresh connection sees it. */
  look(): Promise<Look>;
  /** Whether the worker's own connection answers a PING within the timeout. */
  ownConnectionAnswers(timeoutMs: number): Promise<boolean>;
}

export interface SilenceWatchdogOptions {
  probe: WatchdogProbe;
  /** Jobs the worker has taken so far and processors running now, and its concurrency. */
  progress(): { taken: number; running: number };
  concurrency: number;
  /** Recreates the worker; the watchdog starts afresh once it resolves. */
  onSilent(reason: string): Promise<void>;
  logger: Logger;
  intervalMs: number;
  silentAfterMs: number;
  pingTimeoutMs?: number;
  now?: () => number;
}

export class SilenceWatchdog {
  private readonly options: SilenceWatchdogOptions & { pingTimeoutMs: number; now: () => number };
  private suspectSince: { at: number; taken: number; reason: string } | undefined;
  private readonly loop: PeriodicTask;

  constructor(options: SilenceWatchdogOptions) {
    this.options = {
      pingTimeoutMs: Math.min(5_000, options.silentAfterMs),
      now: Date.now,
      ...options,
    };
    this.loop = new PeriodicTask({
      run: () => this.check(),
      intervalMs: this.options.intervalMs,
      firstDelayMs: this.options.intervalMs,
      unref: true,
      onError: (error) => {
        // Redis away is reported once per reconnection attempt by the connection's own report.
        if (!connectionProblem(error)) this.options.logger.warn({ err: error }, "watchdog check failed");
      },
    });
  }

  start(): void {
    this.loop.start();
  }

  async stop(): Promise<void> {
    await this.loop.stop();
  }

  /** One look; recreates the worker when it has been silent long enough. Exposed for tests. */
  async check(): Promise<void> {
    const reason = await this.suspicion();
    const now = this.options.now();
    const { taken } = this.options.progress();
    if (!reason || (this.suspectSince && taken > this.suspectSince.taken)) {
      this.suspectSince = reason ? { at: now, taken, reason } : undefined;
      return;
    }
    this.suspectSince ??= { at: now, taken, reason };
    if (now - this.suspectSince.at < this.options.silentAfterMs) return;
    this.suspectSince = undefined;
    await this.options.onSilent(reason);
  }

  /** Why the worker looks silent right now, or undefined when it does not. */
  private async suspicion(): Promise<string | undefined> {
    const look = await this.options.probe.look();
    if (!look.reachable) return undefined;
    if (!(await this.options.probe.ownConnectionAnswers(this.options.pingTimeoutMs))) {
      return `its Redis connection has not answered a PING for ${this.options.pingTimeoutMs} ms while Redis answers a new connection`;
    }
    const { running } = this.options.progress();
    if (look.waiting > 0 && !look.paused && running < this.options.concurrency) {
      return `${look.waiting} jobs wait while it has free slots and takes none`;
    }
    return undefined;
  }
}
