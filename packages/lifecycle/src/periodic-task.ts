export interface PeriodicTaskOptions {
  /** One pass. A pass that throws is handed to `onError` and the loop goes on. */
  run: () => Promise<void>;
  /** The wait between the end of one pass and the start of the next: passes never overlap. */
  intervalMs: number;
  /** The wait before the first pass; 0 (the default) runs it as soon as `start` returns. */
  firstDelayMs?: number;
  onError: (error: unknown) => void;
  /** The timer does not keep the process alive (a watchdog, not the process's work). */
  unref?: boolean;
}

/**
 * A loop that runs a pass, waits, and runs the next: the reconciler, the breakers' checks, the
 * admitter and the silence watchdog. `stop` ends it after the pass under way, so whatever the pass
 * holds (a lease, a connection) can be given up once it resolves.
 */
export class PeriodicTask {
  private readonly options: PeriodicTaskOptions;
  private timer: NodeJS.Timeout | undefined;
  private running: Promise<void> | undefined;
  private stopRequested = false;
  private started = false;

  constructor(options: PeriodicTaskOptions) {
    this.options = options;
  }

  /** True once `stop` was called (until the next `start`): a long pass checks it between slices. */
  get stopping(): boolean {
    return this.stopRequested;
  }

  /** Starts the loop; a loop already started is left as it is (one chain of passes, never two). */
  start(): void {
    if (this.started) return;
    this.started = true;
    this.stopRequested = false;
    this.schedule(this.options.firstDelayMs ?? 0);
  }

  /**
   * No pass starts after this; resolves when the pass under way, if any, has finished. A pass that
   * ends its own loop calls it without awaiting it (it would wait for itself).
   */
  async stop(): Promise<void> {
    this.stopRequested = true;
    this.started = false;
    clearTimeout(this.timer);
    this.timer = undefined;
    await this.running;
  }

  private schedule(delayMs: number): void {
    if (this.stopRequested) return;
    this.timer = setTimeout(() => {
      this.timer = undefined;
      this.running = this.options
        .run()
        .catch((error: unknown) => this.options.onError(error))
        .finally(() => this.schedule(this.options.intervalMs));
    }, delayMs);
    if (this.options.unref) this.timer.unref();
  }
}
