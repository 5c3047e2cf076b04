import { jobTraceMetadata, promoteJob, type TaskStore, toOutcomeRecord } from "@reframe/jobs";
import { PeriodicTask } from "@reframe/lifecycle";
import { backoffMs, connectionProblem, formatDelay } from "@reframe/reachability";
import type { LeaderLock } from "@reframe/redis";
import { ProviderError, type RunwareClient } from "@reframe/runware";
import { ATTRIBUTES, type Logger, linkFromJobMetadata, SPANS, type Span, withSpan } from "@reframe/telemetry";
import type { Queue } from "bullmq";
import { nextPollDelayMs } from "./poll-schedule.ts";

export interface ReconcilerOptions {
  lock: Pick<LeaderLock, "acquireOrRenew" | "release">;
  taskStore: TaskStore;
  provider: Pick<RunwareClient, "getResponses">;
  queue: Queue;
  logger: Logger;
  /** getResponse takes many taskUUIDs; 100 per request keeps bodies small. */
  batchSize?: number;
  /** Requests per tick at most, so a backlog drains over several ticks instead of in one burst. */
  maxRequestsPerTick?: number;
  /** How often the loop looks for due tasks. */
  tickMs?: number;
  /** Shortest wait before the next check of a task that is still processing. */
  pollIntervalMs?: number;
  /** Longest wait: the wait grows with the task's age (poll-schedule.ts) up to this. */
  pollMaxIntervalMs?: number;
  /** A task polled right after its submit may not be known yet (docs/provider-protocol.md §4.3). */
  notFoundGraceMs?: number;
  /** True while the provider breaker is open: nothing is polled (the breaker's probe checks instead). */
  providerDown?: () => boolean;
  now?: () => number;
}

/**
 * Polls the provider for tasks whose outcome has not arrived (no webhook configured, or one lost),
 * many taskUUIDs per getResponse, stores outcomes like the webhook receiver does and promotes the
 * parked jobs. One reconciler runs at a time across all worker processes (`LeaderLock`).
 */
export class Reconciler {
  private readonly options: Required<Omit<ReconcilerOptions, "now" | "providerDown">> & {
    now: () => number;
    providerDown: () => boolean;
  };
  private readonly loop: PeriodicTask;
  private pausedUntil = 0;
  /** getResponse requests in a row that failed: the wait before the next one doubles with each. */
  private failures = 0;
  isLeader = false;
  /** getResponse requests sent, for metrics and tests. */
  requests = 0;

  constructor(options: ReconcilerOptions) {
    this.options = {
      batchSize: 100,
      maxRequestsPerTick: 20,
      tickMs: 500,
      pollIntervalMs: 1000,
      pollMaxIntervalMs: 10_000,
      notFoundGraceMs: 10_000,
      providerDown: () => false,
      now: Date.now,
      ...options,
    };
    this.loop = new PeriodicTask({
      run: () => this.tick(),
      intervalMs: this.options.tickMs,
      onError: (error) => {
        // Redis away is reported once per reconnection attempt by the connection's own report.
        if (!connectionProblem(error)) this.options.logger.warn({ err: error }, "reconciler tick failed");
      },
    });
  }

  start(): void {
    this.loop.start();
  }

  async stop(): Promise<void> {
    await this.loop.stop();
    if (this.isLeader) await this.options.lock.release().catch(() => undefined);
    this.isLeader = false;
  }

  /** One pass: keep or take leadership, then poll the due tasks. Exposed for tests. */
  async tick(): Promise<void> {
    this.isLeader = await this.options.lock.acquireOrRenew();
    if (!this.isLeader || this.options.now() < this.pausedUntil || this.options.providerDown()) return;
    const { batchSize, maxRequestsPerTick } = this.options;
    const due = await this.options.taskStore.duePending(this.options.now(), batchSize * maxRequestsPerTick);
    // A failed request (pausedUntil) or an outage seen meanwhile ends the pass: the rest wait.
    const goOn = () =>
      !this.loop.stopping && this.options.now() >= this.pausedUntil && !this.options.providerDown();
    for (let start = 0; start < due.length && goOn(); start += batchSize) {
      const batch = due.slice(start, start + batchSize);
      // Each poll starts a trace of its own: the loop outlives every job it serves.
      await withSpan(
        SPANS.reconcilerPoll,
        { [ATTRIBUTES.tasks]: batch.length, [ATTRIBUTES.taskUUIDs]: batch },
        (span) => this.pollBatch(batch, span),
        { root: true },
      );
    }
  }

  /** `span`, while tracing: the poll links to the trace of each job it wakes. */
  private async pollBatch(taskUUIDs: string[], span?: Pick<Span, "addLink">): Promise<void> {
    const { taskStore, provider, logger, pollIntervalMs, pollMaxIntervalMs } = this.options;
    this.requests += 1;
    let answers: Awaited<ReturnType<RunwareClient["getResponses"]>>;
    try {
      answers = await provider.getResponses(taskUUIDs);
    } catch (error) {
      this.failures += 1;
      const backoff = backoffMs({ baseMs: pollIntervalMs, maxMs: pollMaxIntervalMs }, this.failures - 1);
      const wait = error instanceof ProviderError ? Math.max(error.retryAfterMs ?? 0, backoff) : backoff;
      this.pausedUntil = this.options.now() + wait;
      // One line per failed request, without a stack: the provider's answer or why it could not be reached.
      logger.warn(
        { tasks: taskUUIDs.length, code: (error as { code?: unknown }).code, retryInMs: wait },
        `getResponse failed: ${(error as Error).message}; the reconciler tries again in ${formatDelay(wait)}`,
      );
      return;
    }
    this.failures = 0;
    const now = this.options.now();
    const readings = taskUUIDs.map((taskUUID) => {
      const answer = answers.get(taskUUID);
      return answer ? toOutcomeRecord(answer, "poll", now) : undefined;
    });
    const records = readings.map((reading) => (reading?.kind === "store" ? reading.record : undefined));
    const unfinished = taskUUIDs.filter(
      (_, index) => records[index]?.kind !== "success" && records[index]?.kind !== "error",
    );
    const registered = new Map(
      (await taskStore.registeredAtMany(unfinished)).map((at, index) => [unfinished[index]!, at] as const),
    );
    const later: { taskUUID: string; at: number }[] = [];
    for (const [index, taskUUID] of taskUUIDs.entries()) {
      const record = records[index];
      const age = now - (registered.get(taskUUID) ?? now);
      // taskNotFound right after a submit means "not visible yet", not "lost".
      const young = registered.get(taskUUID) != null && age < this.options.notFoundGraceMs;
      if (!record || (record.kind === "resubmit" && young)) {
        // Refused for now (a rate limit, an account refusal): not before the provider's Retry-After.
        const reading = readings[index];
        const retryAfterMs =
          reading?.kind === "later" || reading?.kind === "pause" ? reading.error.retryAfterMs : 0;
        const delay = nextPollDelayMs(age, { minMs: pollIntervalMs, maxMs: pollMaxIntervalMs });
        later.push({ taskUUID, at: now + Math.max(delay, retryAfterMs ?? 0) });
        continue;
      }
      const { stored, jobId } = await taskStore.storeOutcome(taskUUID, record);
      if (stored && jobId) await promoteJob(this.options.queue, jobId);
      if (stored && jobId && span) {
        const link = linkFromJobMetadata(
          await jobTraceMetadata(this.options.queue, jobId).catch(() => undefined),
        );
        if (link) span.addLink(link);
      }
    }
    if (later.length > 0) await taskStore.reschedule(later);
  }
}
