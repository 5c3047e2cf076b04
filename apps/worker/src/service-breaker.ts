import {
  type AlertInput,
  type AlertPublisher,
  BREAKER_SERVICE_NAMES,
  type BreakerService,
  type BreakerState,
  type BreakerStore,
  DEFAULT_BREAKER_SETTINGS,
  publishAlert,
} from "@reframe/jobs";
import { PeriodicTask } from "@reframe/lifecycle";
import { connectionProblem, formatDelay } from "@reframe/reachability";
import type { Logger } from "@reframe/telemetry";
import type { WorkerMetrics } from "./worker-telemetry.ts";

export interface ServiceBreakerOptions {
  service: BreakerService;
  /** The service endpoint's host (breakerEndpointOf of its URL). */
  endpoint: string;
  /**
   * One cheap request to the service, not through the guarded client (a probe is not a job's
   * request): the outage's problem in a few words, or undefined when the service answered.
   */
  probe: () => Promise<string | undefined>;
  /**
   * A job's failed request as an outage, in a few words (it counts), or undefined when the service
   * answered (it resets the count).
   */
  outageOf: (error: unknown) => string | undefined;
  /** The alert raised when one of this process's failures opened the breaker, when there is one. */
  openedAlert?: (details: { endpoint: string; failures: number; openedAt: number }) => AlertInput;
  /** What stops while it is open, for the log line: "no job submits or polls". */
  whileOpen: string;
  logger: Logger;
  metrics?: Pick<WorkerMetrics, "setBreaker">;
  /** How often the breaker's state is read, and a due probe is looked for. */
  tickMs?: number;
  now?: () => number;
}

/** What a service's breaker (provider-breaker.ts, storage-breaker.ts) takes from the worker. */
export type BreakerProcessOptions = Pick<
  ServiceBreakerOptions,
  "endpoint" | "logger" | "metrics" | "tickMs" | "now"
>;

/**
 * This worker process's side of a shared breaker (packages/jobs breaker.ts), the same for every
 * service: it counts the outcome of the jobs' requests (`observe`), keeps the state it last read for
 * the step machine (which sends nothing to the service while it is open), runs the probe when this
 * process holds its lease, sets the gauge, and raises the alert when one of its own failures opened
 * the breaker. The Redis side comes with each worker session (`attach`); the loop outlives them.
 */
export class ServiceBreaker {
  readonly service: BreakerService;
  readonly endpoint: string;
  private readonly options: Required<Omit<ServiceBreakerOptions, "metrics" | "openedAlert">> &
    Pick<ServiceBreakerOptions, "metrics" | "openedAlert">;
  private store: BreakerStore | undefined;
  private alerts: AlertPublisher | undefined;
  private state: BreakerState;
  private readonly loop: PeriodicTask;
  /** The last outage this process saw (a job's failure or a probe's): what a waiting job says. */
  private lastProblem = "unavailable";

  constructor(options: ServiceBreakerOptions) {
    this.service = options.service;
    this.endpoint = options.endpoint;
    this.options = { tickMs: 500, now: Date.now, ...options };
    this.state = { service: options.service, endpoint: options.endpoint, open: false, failures: 0 };
    this.loop = new PeriodicTask({
      run: () => this.tick(),
      intervalMs: this.options.tickMs,
      onError: (error) => {
        if (!connectionProblem(error))
          this.options.logger.warn({ err: error, service: this.service }, "breaker check failed");
      },
    });
  }

  private get name(): string {
    return `${BREAKER_SERVICE_NAMES[this.service]} at ${this.endpoint}`;
  }

  /** The session's store and alert route; a new session replaces them. */
  attach(store: BreakerStore, alerts?: AlertPublisher): void {
    this.store = store;
    this.alerts = alerts;
  }

  start(): void {
    this.loop.start();
  }

  async stop(): Promise<void> {
    await this.loop.stop();
  }

  /** The breaker as last read, with the last outage seen: undefined while closed. */
  openState(): (BreakerState & { openedAt: number; problem: string }) | undefined {
    return this.state.open && this.state.openedAt !== undefined
      ? { ...this.state, openedAt: this.state.openedAt, problem: this.lastProblem }
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

  /** Sends one of a job's requests and counts its outcome for the breaker. */
  async observe<R>(send: () => Promise<R>): Promise<R> {
    const sentAt = this.options.now();
    try {
      const answer = await send();
      await this.answered(sentAt);
      return answer;
    } catch (error) {
      const problem = this.options.outageOf(error);
      if (problem === undefined) await this.answered(sentAt);
      else await this.failed(problem);
      throw error;
    }
  }

  private async failed(problem: string): Promise<void> {
    this.lastProblem = problem;
    const store = this.store;
    if (!store) return;
    const now = this.options.now();
    const result = await store.recordFailure(now).catch(() => undefined);
    if (!result?.open) {
      this.state = { ...this.state, failures: this.state.failures + 1 };
      return;
    }
    await this.refresh();
    if (!result.opened || !this.options.openedAlert) return;
    const alert = this.options.openedAlert({
      endpoint: this.endpoint,
      failures: store.settings.threshold,
      openedAt: this.state.openedAt ?? now,
    });
    if (this.alerts) await publishAlert(this.alerts, alert).catch(() => undefined);
    else this.options.logger.error({ alert: alert.kind, endpoint: this.endpoint }, alert.message);
  }

  /** Only a breaker that counted failures or is open needs the answer: most requests cost no Redis call. */
  private async answered(sentAt: number): Promise<void> {
    if (!this.store || (!this.state.open && this.state.failures === 0)) return;
    await this.close(this.store, sentAt);
  }

  /** `sentAt`: when the answered request went (a probe's answer closes it whenever it was sent). */
  private async close(store: BreakerStore, sentAt?: number): Promise<void> {
    const now = this.options.now();
    const { closedOpenSince, stillOpen } = await store
      .recordSuccess(now, sentAt)
      .catch(() => ({ closedOpenSince: undefined, stillOpen: undefined }));
    if (stillOpen) {
      // The breaker opened while this request was on its way: it stays open until a probe answers.
      await this.refresh();
      return;
    }
    this.state = { service: this.service, endpoint: this.endpoint, open: false, failures: 0 };
    this.options.metrics?.setBreaker(this.service, this.endpoint, false);
    if (closedOpenSince !== undefined)
      this.options.logger.info(
        { service: this.service, endpoint: this.endpoint, openForMs: now - closedOpenSince },
        `${this.name} answers again after ${formatDelay(now - closedOpenSince)}; its breaker closed and the waiting jobs go on`,
      );
  }

  /** Reads the shared state; sends the probe when it is due and this process took the lease. Exposed for tests. */
  async tick(): Promise<void> {
    await this.refresh();
    const store = this.store;
    if (!store || !this.state.open || !(await store.acquireProbe(this.options.now()))) return;
    const problem = await this.options.probe();
    if (problem === undefined) {
      await this.close(store);
      return;
    }
    this.lastProblem = problem;
    const next = await store.recordProbeFailure(this.options.now());
    const openFor = this.options.now() - (this.state.openedAt ?? this.options.now());
    this.options.logger.warn(
      { service: this.service, endpoint: this.endpoint, openForMs: openFor, nextProbeAt: next },
      `${this.name} is still unavailable (${formatDelay(openFor)}): ${problem.replace(/\.$/, "")}; next probe in ${formatDelay(Math.max(0, (next ?? 0) - this.options.now()))}`,
    );
    await this.refresh();
  }

  private async refresh(): Promise<void> {
    if (!this.store) return;
    const wasOpen = this.state.open;
    this.state = await this.store.state();
    this.options.metrics?.setBreaker(this.service, this.endpoint, this.state.open);
    if (this.state.open && !wasOpen)
      this.options.logger.warn(
        { service: this.service, endpoint: this.endpoint, openedAt: this.state.openedAt },
        `the breaker for ${this.name} is open: ${this.options.whileOpen} until a probe is answered`,
      );
  }
}
