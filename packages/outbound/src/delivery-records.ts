import type { DeliveryJobData } from "@reframe/jobs";
import type { Job, JobType, Queue } from "bullmq";
import { type AttemptLogLine, deliveryResultSchema } from "./delivery-worker.ts";

/**
 * The audit trail of deliveries is the delivery queue itself: each job is one event for one endpoint
 * (its data: endpoint name and event, never a secret), its log the attempts (sent, status, latency,
 * error), its state and result the outcome. Per-endpoint counts and the delivery lag derive from
 * these records (and from the endpoint's counters, endpoint-store.ts).
 */
export interface DeliveryAttempt {
  sentAt: number;
  /** Absent while the attempt is in flight, or when its worker died during it. */
  result?: AttemptLogLine["result"];
  status?: number;
  ms?: number;
  error?: string;
}

export type DeliveryState = "pending" | "retrying" | "sending" | "delivered" | "skipped" | "failed";

export interface DeliveryRecord {
  id: string;
  endpoint: string;
  eventId: string;
  eventType: string;
  state: DeliveryState;
  /** When the event was published (the job was added), epoch ms. */
  createdAt: number;
  attempts: DeliveryAttempt[];
  lastError?: string;
  deliveredAt?: number;
  /** Published → delivered. */
  lagMs?: number;
  /** Delayed deliveries: when the next attempt is due. */
  nextAttemptAt?: number;
}

const STATES_OF: Record<string, DeliveryState> = {
  waiting: "pending",
  prioritized: "pending",
  "waiting-children": "pending",
  delayed: "retrying",
  active: "sending",
  failed: "failed",
};

/** Attempts from a delivery's log: the "sent" line and the result line of each, paired by time. */
export function attemptsFromLog(lines: readonly string[]): DeliveryAttempt[] {
  const bySent = new Map<number, DeliveryAttempt>();
  for (const raw of lines) {
    let line: AttemptLogLine;
    try {
      line = JSON.parse(raw) as AttemptLogLine;
    } catch {
      continue;
    }
    if (typeof line.sent !== "number") continue;
    const attempt = bySent.get(line.sent) ?? { sentAt: line.sent };
    if (line.result !== undefined) {
      attempt.result = line.result;
      if (line.status !== undefined) attempt.status = line.status;
      if (line.ms !== undefined) attempt.ms = line.ms;
      if (line.error !== undefined) attempt.error = line.error;
    }
    bySent.set(line.sent, attempt);
  }
  return [...bySent.values()].sort((a, b) => a.sentAt - b.sentAt);
}

export async function deliveryRecord(queue: Queue, job: Job<DeliveryJobData>): Promise<DeliveryRecord> {
  const state = await job.getState();
  const { logs } = await queue.getJobLogs(job.id!, 0, -1, true);
  const attempts = attemptsFromLog(logs);
  // Unfinished deliveries have no result; one that does not parse is shown as delivered, as before.
  const parsed = deliveryResultSchema.safeParse(job.returnvalue);
  const result = parsed.success ? parsed.data : undefined;
  const record: DeliveryRecord = {
    id: job.id!,
    endpoint: job.data.endpoint,
    eventId: job.data.event.id,
    eventType: job.data.event.type,
    state:
      state === "completed"
        ? result && !result.delivered
          ? "skipped"
          : "delivered"
        : (STATES_OF[state] ?? "pending"),
    createdAt: job.timestamp,
    attempts,
  };
  const lastError = job.failedReason || attempts.findLast((attempt) => attempt.error)?.error;
  if (lastError && record.state !== "delivered") record.lastError = lastError;
  if (result?.delivered) {
    record.deliveredAt = result.deliveredAt;
    record.lagMs = result.deliveredAt - job.timestamp;
  }
  const last = attempts.at(-1);
  if (state === "delayed")
    record.nextAttemptAt = (last?.sentAt ?? job.timestamp) + (last?.ms ?? 0) + job.delay;
  return record;
}

export interface ListOptions {
  endpoint?: string;
  failed?: boolean;
  /** Only deliveries published at or after this (epoch ms). */
  since?: number;
  /** The newest this many. */
  limit?: number;
}

const ALL_STATES: JobType[] = ["active", "waiting", "prioritized", "delayed", "completed", "failed"];
/** Jobs read per state at most when filtering: the newest ones, which is what a listing shows. */
const SCAN_PER_STATE = 20_000;

/** Deliveries, the newest first. */
export async function listDeliveries(queue: Queue, options: ListOptions = {}): Promise<DeliveryRecord[]> {
  const jobs = (await queue.getJobs(options.failed ? ["failed"] : ALL_STATES, 0, SCAN_PER_STATE - 1)).filter(
    (job): job is Job<DeliveryJobData> =>
      Boolean(job?.id) &&
      (options.endpoint === undefined || job.data?.endpoint === options.endpoint) &&
      (options.since === undefined || job.timestamp >= options.since),
  );
  jobs.sort((a, b) => b.timestamp - a.timestamp);
  const chosen = options.limit === undefined ? jobs : jobs.slice(0, options.limit);
  return Promise.all(chosen.map((job) => deliveryRecord(queue, job)));
}

export interface RetrySummary {
  /** Sent again (failed or finished deliveries), or brought forward (waiting for their next attempt). */
  retried: string[];
  /** Being sent right now, or not found. */
  skipped: { id: string; reason: string }[];
}

/**
 * Delivers again, with the same event and so the same `webhook-id`: a failed or finished delivery
 * gets a fresh set of attempts, one waiting for its next attempt is sent now. Only what was asked is
 * touched: one id, or every delivery of an endpoint published since a time.
 */
export async function retryDeliveries(
  queue: Queue,
  target: { id: string } | { endpoint: string; since: number },
): Promise<RetrySummary> {
  const summary: RetrySummary = { retried: [], skipped: [] };
  const jobs: Job<DeliveryJobData>[] = [];
  if ("id" in target) {
    const job = (await queue.getJob(target.id)) as Job<DeliveryJobData> | undefined;
    if (!job) summary.skipped.push({ id: target.id, reason: "no such delivery (it may be past retention)" });
    else jobs.push(job);
  } else {
    const found = await queue.getJobs(["failed", "completed", "delayed"], 0, SCAN_PER_STATE - 1);
    for (const job of found as Job<DeliveryJobData>[])
      if (job?.id && job.data?.endpoint === target.endpoint && job.timestamp >= target.since) jobs.push(job);
  }
  for (const job of jobs) {
    const state = await job.getState();
    if (state === "failed" || state === "completed") {
      await job.retry(state, { resetAttemptsMade: true, resetAttemptsStarted: true });
      summary.retried.push(job.id!);
    } else if (state === "delayed") {
      await job.promote();
      summary.retried.push(job.id!);
    } else {
      summary.skipped.push({ id: job.id!, reason: `it is ${state === "active" ? "being sent" : state} now` });
    }
  }
  return summary;
}
