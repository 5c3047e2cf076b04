import type { ImageInferenceTask, TaskAnswer } from "@reframe/runware";

export interface SubmitTransport {
  submit(tasks: ImageInferenceTask[], options?: { signal?: AbortSignal }): Promise<Map<string, TaskAnswer>>;
}

export interface SubmitBatcherOptions {
  transport: SubmitTransport;
  /** How long the first task of a batch waits for company. Short: it adds to every job's latency. */
  windowMs?: number;
  /** The provider takes an array; past this many tasks a request body grows without saving much. */
  maxBatch?: number;
}

interface Pending {
  task: ImageInferenceTask;
  resolve(outcome: TaskAnswer): void;
  reject(error: unknown): void;
}

/**
 * Coalesces the submissions of concurrently running jobs into one POST: each caller gets its own
 * task's outcome (matched by taskUUID), or the request's error when the whole request failed.
 */
export class SubmitBatcher {
  private readonly transport: SubmitTransport;
  private readonly windowMs: number;
  private readonly maxBatch: number;
  private pending: Pending[] = [];
  private timer: NodeJS.Timeout | undefined;
  private readonly inFlight = new Set<Promise<void>>();
  /** HTTP requests sent, for metrics and tests. */
  requests = 0;

  constructor(options: SubmitBatcherOptions) {
    this.transport = options.transport;
    this.windowMs = options.windowMs ?? 20;
    this.maxBatch = options.maxBatch ?? 50;
  }

  submit(task: ImageInferenceTask): Promise<TaskAnswer> {
    return new Promise<TaskAnswer>((resolve, reject) => {
      this.pending.push({ task, resolve, reject });
      if (this.pending.length >= this.maxBatch) this.flush();
      else this.timer ??= setTimeout(() => this.flush(), this.windowMs);
    });
  }

  /** Sends whatever is waiting now; resolves when every request sent so far has been answered. */
  async drain(): Promise<void> {
    this.flush();
    await Promise.allSettled([...this.inFlight]);
  }

  private flush(): void {
    clearTimeout(this.timer);
    this.timer = undefined;
    while (this.pending.length > 0) {
      const batch = this.pending.splice(0, this.maxBatch);
      const request = this.send(batch);
      this.inFlight.add(request);
      void request.finally(() => this.inFlight.delete(request));
    }
  }

  private async send(batch: Pending[]): Promise<void> {
    this.requests += 1;
    try {
      const outcomes = await this.transport.submit(batch.map((entry) => entry.task));
      for (const entry of batch) {
        const outcome = outcomes.get(entry.task.taskUUID);
        if (outcome) entry.resolve(outcome);
        else entry.reject(new Error(`the provider's answer has no outcome for task ${entry.task.taskUUID}`));
      }
    } catch (error) {
      for (const entry of batch) entry.reject(error);
    }
  }
}
