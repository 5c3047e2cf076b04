import { connectionProblem, publicUrl, unreachableMessage } from "@reframe/reachability";
import type { Logger } from "@reframe/telemetry";
import type { FaultSampler } from "./faults.ts";
import type { TaskStore } from "./task-store.ts";

export interface WebhookSettings {
  /** Delays before each retry after a non-2xx answer or a network error. */
  retryDelaysMs: readonly number[];
  timeoutMs: number;
  delayRange: { min: number; max: number };
  timeScale: number;
}

/**
 * One POST per result, retried on failure on a fixed schedule (emulator choice: the real schedule is
 * undocumented). Faults: a dropped delivery is never sent; a duplicated one is sent twice; a delayed
 * one waits first; a reordered one is held until the next delivery has gone (or 2 s).
 */
export class WebhookDispatcher {
  private readonly settings: WebhookSettings;
  private readonly faults: FaultSampler;
  private readonly store: TaskStore;
  private readonly logger: Logger;
  private held: (() => void)[] = [];
  private readonly pending = new Set<Promise<void>>();
  private closed = false;

  constructor(settings: WebhookSettings, faults: FaultSampler, store: TaskStore, logger: Logger) {
    this.settings = settings;
    this.faults = faults;
    this.store = store;
    this.logger = logger;
  }

  deliver(url: string, taskUUID: string, body: unknown): void {
    if (this.faults.hits("webhookDropRate")) return;
    const copies = this.faults.hits("webhookDuplicateRate") ? 2 : 1;
    const delayMs = this.faults.hits("webhookDelayRate") ? this.faults.between(this.settings.delayRange) : 0;
    const reorder = this.faults.hits("webhookReorderRate");
    const run = async () => {
      if (delayMs > 0) await this.sleep(delayMs);
      if (reorder) await new Promise<void>((resolve) => this.hold(resolve));
      this.releaseHeld();
      for (let copy = 0; copy < copies; copy += 1) await this.send(url, taskUUID, body);
    };
    const task = run().catch((error: unknown) =>
      this.logger.warn({ err: error, taskUUID }, "webhook delivery failed"),
    );
    this.pending.add(task);
    void task.finally(() => this.pending.delete(task));
  }

  private hold(resolve: () => void): void {
    this.held.push(resolve);
    setTimeout(resolve, 2000).unref();
  }

  private releaseHeld(): void {
    const held = this.held;
    this.held = [];
    // Let the current delivery go first: held ones follow on the next turn of the loop.
    setImmediate(() => {
      for (const resolve of held) resolve();
    });
  }

  private async send(url: string, taskUUID: string, body: unknown): Promise<void> {
    const delays = [0, ...this.settings.retryDelaysMs];
    let lastProblem = "";
    for (const [attempt, delay] of delays.entries()) {
      if (this.closed) return;
      if (delay > 0) await this.sleep(delay);
      this.store.count(taskUUID, "webhookAttempts");
      try {
        const response = await fetch(url, {
          method: "POST",
          headers: { "content-type": "application/json" },
          body: JSON.stringify(body),
          signal: AbortSignal.timeout(this.settings.timeoutMs),
        });
        await response.body?.cancel();
        if (response.ok) return;
        lastProblem = `the receiver answered HTTP ${response.status}`;
        this.logger.debug({ taskUUID, status: response.status, attempt }, "webhook answered non-2xx");
      } catch (error) {
        const problem = connectionProblem(error);
        // The URL's token stays out of the log (publicUrl drops the query).
        lastProblem = problem
          ? unreachableMessage({ service: "the webhook receiver", at: publicUrl(url) }, problem)
          : (error as Error).message;
        this.logger.debug({ taskUUID, attempt }, `webhook attempt failed: ${lastProblem}`);
      }
    }
    this.logger.warn(
      { taskUUID, attempts: delays.length },
      `webhook gave up after every retry: ${lastProblem}`,
    );
  }

  private sleep(ms: number): Promise<void> {
    return new Promise((resolve) => setTimeout(resolve, ms * this.settings.timeScale).unref());
  }

  /** Stops retrying; deliveries already on the wire finish on their own. */
  close(): void {
    this.closed = true;
    this.releaseHeld();
  }

  /** Resolves when every delivery started so far has finished or given up (tests, shutdown). */
  async settled(): Promise<void> {
    await Promise.allSettled([...this.pending]);
  }
}
