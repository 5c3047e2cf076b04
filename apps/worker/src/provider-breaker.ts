import {
  type AlertPublisher,
  type BreakerState,
  DEFAULT_BREAKER_SETTINGS,
  type ProviderBreakerStore,
  providerOutageAlert,
  publishAlert,
} from "@reframe/jobs";
import { connectionProblem, formatDelay } from "@reframe/reachability";
import { isOutage, type RunwareClient } from "@reframe/runware";
import type { Logger } from "@reframe/telemetry";
import type { WorkerMetrics } from "./worker-telemetry.ts";

/**
 * A taskUUID no job ever uses (task UUIDs are v5, task-uuid.ts): the probe asks the provider about
 * it, and any answer — taskNotFound is the usual one — says the provider is back.
 */
export const PROBE_TASK_UUID = "00000000-0000-4000-8000-000000000000";

export interface ProviderBreakerOptions {
  /** The provider endpoint's host (breakerEndpointOf(RUNWARE_API_URL)). */
  endpoint: string;
  /** The client the probe goes through: not the guarded one, a probe is not a job's request. */
  provider: Pick<RunwareClient, "getResponses">;
  logger: Logger;
  metrics?: Pick<WorkerMetrics, "setProviderBreaker">;
  /** How often the breaker's state is read, and a due probe is looked for. */
  tickMs?: number;
  now?: () => number;
}

/**
 * This worker process's side of the shared provider breaker (packages/jobs breaker.ts): it counts
 * the outcome of every provider request, keeps the state it last read for the step machine (which
 * neither submits nor polls while it is open), runs the probe when this process holds its lease, sets
 * the gauge, and raises the providerOutage alert when one of its own failures opened the breaker.
 * The Redis side comes with each worker session (`attach`); the client and the loop outlive them.
 */
export class ProviderBreaker {
  readonly endpoint: string;
  private readonly options: Required<Omit<ProviderBreakerOptions, "metrics">> &
    Pick<ProviderBreakerOptions, "metrics">;
  private store: ProviderBreakerStore | undefined;
  private alerts: AlertPublisher | undefined;
  private state: BreakerState;
  private timer: NodeJS.Timeout | undefined;
  private running: Promise<void> | undefined;
  private stopped = true;

  constructor(options: ProviderBreakerOptions) {
    this.endpoint = options.endpoint;
    this.options = { tickMs: 500, now: Date.now, ...options };
    this.state = { endpoint: options.endpoint, open: false, failures: 0 };
  }

  /** The session's store and alert route; a new session replaces them. */
  attach(store: ProviderBreakerStore, alerts?: AlertPublisher): void {
    this.store = store;
    this.alerts = alerts;
  }

  start(): void {
    this.stopped = false;
    this.schedule(0);
  }

  async stop(): Promise<void> {
    this.stopped = true;
    clearTimeout(this.timer);
    await this.running;
  }

  /** The breaker as last read: undefined while closed. */
  openState(): (BreakerState & { openedAt: number }) | undefined {
    return this.state.open && this.state.openedAt !== undefined
      ? (this.state as BreakerState & { openedAt: number })
      : undefined;
  }

  /**
   * When a job that found the breaker open should look again: just after the next probe (spread over
   * one minimum probe wait, so the woken jobs do not all send at once), never later than `latest`.
   */
  parkUntil(now: number, latest: number): number {
    const minMs = (this.store?.settings ?? DEFAULT_BREAKER_SETTINGS).probeMinMs;
    const probeAt = Math.max(now, this.state.nextProbeAt ?? now);
    return Math.min(latest, probeAt + this.options.tickMs + Math.random() * minMs);
  }

  /** The client every job and the reconciler use: each request's outcome counts for the breaker. */
  guard<T extends Pick<RunwareClient, "submit" | "getResponses">>(client: T): T {
    const observe = async <R>(send: () => Promise<R>): Promise<R> => {
      try {
        const answer = await send();
        await this.answered();
        return answer;
      } catch (error) {
        if (isOutage(error)) await this.failed();
        else await this.answered();
        throw error;
      }
    };
    return {
      ...client,
      submit: (tasks, options) => observe(() => client.submit(tasks, options)),
      getResponses: (taskUUIDs, options) => observe(() => client.getResponses(taskUUIDs, options)),
    };
  }

  private async failed(): Promise<void> {
    const store = this.store;
    if (!store) return;
    const now = this.options.now();
    const result = await store.recordFailure(now).catch(() => undefined);
    if (!result?.open) {
      this.state = { ...this.state, failures: this.state.failures + 1 };
      return;
    }
    await this.refresh();
    if (!result.opened) return;
    const alert = providerOutageAlert({
      endpoint: this.endpoint,
      failures: store.settings.threshold,
      openedAt: this.state.openedAt ?? now,
    });
    if (this.alerts) await publishAlert(this.alerts, alert).catch(() => undefined);
    else this.options.logger.error({ alert: alert.kind, endpoint: this.endpoint }, alert.message);
  }

  /** Only a breaker that counted failures or is open needs the answer: most requests cost no Redis call. */
  private async answered(): Promise<void> {
    if (!this.store || (!this.state.open && this.state.failures === 0)) return;
    await this.close(this.store);
  }

  private async close(store: ProviderBreakerStore): Promise<void> {
    const now = this.options.now();
    const { closedOpenSince } = await store.recordSuccess(now).catch(() => ({ closedOpenSince: undefined }));
    this.state = { endpoint: this.endpoint, open: false, failures: 0 };
    this.options.metrics?.setProviderBreaker(this.endpoint, false);
    if (closedOpenSince !== undefined)
      this.options.logger.info(
        { endpoint: this.endpoint, openForMs: now - closedOpenSince },
        `the provider at ${this.endpoint} answers again after ${formatDelay(now - closedOpenSince)}; the provider breaker closed and the waiting jobs go on`,
      );
  }

  private schedule(delayMs: number): void {
    if (this.stopped) return;
    this.timer = setTimeout(() => {
      this.running = this.tick()
        .catch((error: unknown) => {
          if (!connectionProblem(error))
            this.options.logger.warn({ err: error }, "provider breaker check failed");
        })
        .finally(() => this.schedule(this.options.tickMs));
    }, delayMs);
  }

  /** Reads the shared state; sends the probe when it is due and this process took the lease. Exposed for tests. */
  async tick(): Promise<void> {
    await this.refresh();
    const store = this.store;
    if (!store || !this.state.open || !(await store.acquireProbe(this.options.now()))) return;
    try {
      await this.options.provider.getResponses([PROBE_TASK_UUID]);
    } catch (error) {
      if (isOutage(error)) {
        const next = await store.recordProbeFailure(this.options.now());
        const openFor = this.options.now() - (this.state.openedAt ?? this.options.now());
        this.options.logger.warn(
          { endpoint: this.endpoint, openForMs: openFor, nextProbeAt: next },
          `the provider at ${this.endpoint} is still unavailable (${formatDelay(openFor)}): ${(error as Error).message.replace(/\.$/, "")}; next probe in ${formatDelay(Math.max(0, (next ?? 0) - this.options.now()))}`,
        );
        await this.refresh();
        return;
      }
    }
    await this.close(store);
  }

  private async refresh(): Promise<void> {
    if (!this.store) return;
    const wasOpen = this.state.open;
    this.state = await this.store.state();
    this.options.metrics?.setProviderBreaker(this.endpoint, this.state.open);
    if (this.state.open && !wasOpen)
      this.options.logger.warn(
        { endpoint: this.endpoint, openedAt: this.state.openedAt },
        `the provider breaker for ${this.endpoint} is open: no job submits or polls until a probe is answered`,
      );
  }
}
