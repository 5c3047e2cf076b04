/**
 * The figures of a fault-injection run, computed from what was observed after the drain: every
 * job's final state, the emulator's counters, the route queue's events and every output in S3.
 * Pure, so that each figure can be shown to catch its fault (chaos-report.test.ts).
 */

type FinalState = "completed" | "failed" | "missing" | "unfinished";

export interface JobObservation {
  jobId: string;
  state: FinalState;
  /** The code of a failed job (the part of BullMQ's failedReason before the first colon). */
  failureCode?: string;
  /** Every taskUUID the job could have used (all generations of all variants). */
  taskUUIDs: string[];
  /**
   * Indexes (into taskUUIDs) of the generations the job gave back for an S3 outage (its step state's
   * outageGenerations): redone because the outage ended them, not for want of a result.
   */
  outageGenerations?: number[];
  /** The job's current deadline (its latest task's), epoch ms, once planned. */
  deadline?: number;
  /** When the job finished, epoch ms. */
  finishedAt?: number;
  /** Events in the route queue about this job, by CloudEvents type. */
  events: { completed: number; failed: number };
  /** Times the job was found stalled (its worker was SIGKILLed while running it). */
  stalls: number;
  /** For a completed job: each output compared with the independently planned size. */
  outputs: { key: string; problem?: string }[];
}

/** The run's batch as the batch store reports it, and its completion events. */
export interface BatchObservation {
  status:
    | {
        total: number;
        completed: number;
        failed: number;
        inFlight: number;
        failuresByReason: Record<string, number>;
        closedAt: number | undefined;
      }
    | undefined;
  announcements: number;
}

/**
 * Redis's outage in the run, measured by the harness (redis-outage.ts): from the kill to writes
 * going through reframe's client again, and to every worker reporting itself ready.
 */
export interface RedisOutage {
  startedAt: number;
  writableAt: number;
  endedAt: number;
}

interface TaskCounters {
  accepted?: number;
  conflicts?: number;
  terminalFaults?: number;
  uploadFaults?: number;
}

export interface ChaosFacts {
  jobs: JobObservation[];
  /** The batch the jobs were enqueued in (`reframe bulk` style), when there was one. */
  batch?: BatchObservation;
  /** The emulator's per-task counters (GET /admin/counters `tasks`). */
  tasks: Record<string, TaskCounters>;
  /** How often each fault fired (GET /admin/counters `injected`). */
  injected: Record<string, number>;
  /** Generations a variant may go through (TASK_MAX_GENERATIONS). */
  maxGenerations: number;
  workerKills: number;
  /** What was done to Redis (a restart, a master killed and failed over), and how often. */
  redisFault: string;
  redisFaults: number;
  /** From the first enqueue to the last job finished; undefined when the run never drained. */
  drainMs: number | undefined;
  /** When the figures were taken, epoch ms (unfinished jobs are judged against it). */
  observedAt: number;
  /**
   * How long after its deadline a job counts as stuck; a job whose latest generation was in flight
   * during the Redis outage is given the measured outage on top (the run compresses deadlines, not
   * a failover's detection, election and reconnection).
   */
  stuckGraceMs: number;
  /** A new generation's deadline (deadlineSeconds), in ms: when the latest one started. */
  taskDeadlineMs: number;
  /** The Redis fault's outage as measured; null when it was not over within the harness's limit. */
  redisOutage?: RedisOutage | null;
  /** A provider outage run: the requests the emulator refused during it, and their bound. */
  providerOutage?: ProviderOutageFacts;
  /** An S3 outage run: the workers' S3 requests during it (and the provider's), and their bound. */
  s3Outage?: S3OutageFacts;
}

interface S3OutageFacts {
  durationMs: number;
  started: boolean;
  /** The workers' S3 requests (each try) during the outage. */
  requests: number;
  /** The provider's, through presigned URLs (generations under way as S3 went). */
  providerRequests: number;
  bound: number;
  /**
   * Tasks sent to the provider during the outage: only before S3's breaker opened (and before each
   * worker read that it is open), at most one per job slot (`submitBound`); none while it is open.
   */
  submits: number;
  submitBound: number;
}

interface ProviderOutageFacts {
  durationMs: number;
  /** Whether the run got as far as starting it. */
  started: boolean;
  requests: number;
  submits: number;
  polls: number;
  /** What the probe schedule (and the requests in flight as it opens) allows. */
  bound: number;
}

export interface ChaosReport {
  jobs: number;
  completed: number;
  failedByReason: Record<string, number>;
  /** Jobs one of whose tasks the emulator ended with its injected terminal error. */
  injectedTerminalJobs: number;
  /** Must-be-zero figures, each with the ids behind it. */
  mustBeZero: {
    failuresNotInjected: string[];
    lost: string[];
    stuckPastDeadline: string[];
    duplicateSubmissions: string[];
    duplicateEvents: string[];
    missingEvents: string[];
    badOutputs: string[];
    batchMismatches: string[];
  };
  conflicts: number;
  /** Provider generations started (tasks the emulator accepted), to compare with the jobs. */
  generations: number;
  /**
   * Generations redone with no injected fault to explain it: a task with no result by its deadline,
   * or one the provider lost. Not a defect by itself, but what spends a job's few generations.
   */
  unexplainedRedos: number;
  /** Generations redone because an S3 outage ended them (given back: TASK_MAX_OUTAGE_GENERATIONS). */
  outageRedos: number;
  /** Jobs that ran again after their worker died holding them, and the most stalls of one job. */
  stalledJobs: number;
  maxStalls: number;
  injected: Record<string, number>;
  workerKills: number;
  redisFault: string;
  redisFaults: number;
  drainMs: number | undefined;
  redisOutage?: RedisOutage | null;
  stuckGraceMs: number;
  /** Every job's deadlineSeconds, in ms (an outage run's decides whether its jobs may wait it out). */
  taskDeadlineMs: number;
  providerOutage?: ProviderOutageFacts & { failedForOutage: number };
  s3Outage?: S3OutageFacts & { failedForOutage: number };
}

export function computeReport(facts: ChaosFacts): ChaosReport {
  const failedByReason: Record<string, number> = {};
  const mustBeZero: ChaosReport["mustBeZero"] = {
    failuresNotInjected: [],
    lost: [],
    stuckPastDeadline: [],
    duplicateSubmissions: [],
    duplicateEvents: [],
    missingEvents: [],
    badOutputs: [],
    batchMismatches: [],
  };
  let completed = 0;
  let injectedTerminalJobs = 0;
  let stalledJobs = 0;
  let maxStalls = 0;
  let unexplainedRedos = 0;
  let outageRedos = 0;
  for (const job of facts.jobs) {
    if (job.stalls > 0) stalledJobs += 1;
    maxStalls = Math.max(maxStalls, job.stalls);
    const expected = expectedFailure(job, facts);
    if (expected === "contentPolicyViolation") injectedTerminalJobs += 1;
    if (job.state === "completed") completed += 1;
    if (job.state === "failed") {
      const code = job.failureCode ?? "unknown";
      failedByReason[code] = (failedByReason[code] ?? 0) + 1;
    }
    // A failure must have an injected cause, and an injected terminal error must fail its job.
    const failed = job.state === "failed" ? (job.failureCode ?? "unknown") : undefined;
    const used = generationsOf(job, facts);
    unexplainedRedos += used.unexplainedRedos;
    outageRedos += used.outageRedos;
    if ((failed !== undefined || expected === "contentPolicyViolation") && failed !== expected) {
      mustBeZero.failuresNotInjected.push(
        `${job.jobId} (${failed ?? job.state}, injected ${expected ?? "none"}; ${used.started} generations started, ${used.uploadFaults} with an injected upload fault)`,
      );
    }
    if (job.state === "missing" || job.state === "unfinished") mustBeZero.lost.push(job.jobId);
    const endedAt = job.finishedAt ?? facts.observedAt;
    const grace = stuckGrace(job, facts);
    if (job.deadline !== undefined && endedAt > job.deadline + grace) {
      mustBeZero.stuckPastDeadline.push(
        `${job.jobId} (${Math.round((endedAt - job.deadline) / 1000)} s late, grace ${Math.round(grace / 1000)} s)`,
      );
    }
    const events = job.events.completed + job.events.failed;
    if (events > 1) mustBeZero.duplicateEvents.push(`${job.jobId} (${events} events)`);
    const owed = job.state === "completed" ? "completed" : job.state === "failed" ? "failed" : undefined;
    if (owed && job.events[owed] === 0) mustBeZero.missingEvents.push(`${job.jobId} (no ${owed} event)`);
    for (const output of job.outputs) {
      if (output.problem) mustBeZero.badOutputs.push(`${job.jobId} ${output.key}: ${output.problem}`);
    }
  }
  let conflicts = 0;
  let generations = 0;
  for (const [taskUUID, counters] of Object.entries(facts.tasks)) {
    conflicts += counters.conflicts ?? 0;
    generations += counters.accepted ?? 0;
    if ((counters.accepted ?? 0) > 1) {
      mustBeZero.duplicateSubmissions.push(`${taskUUID} (generated ${counters.accepted} times)`);
    }
  }
  if (facts.batch)
    mustBeZero.batchMismatches.push(
      ...batchMismatches(facts.batch, facts.jobs.length, completed, failedByReason),
    );
  return {
    jobs: facts.jobs.length,
    completed,
    failedByReason,
    injectedTerminalJobs,
    mustBeZero,
    conflicts,
    generations,
    unexplainedRedos,
    outageRedos,
    stalledJobs,
    maxStalls,
    injected: facts.injected,
    workerKills: facts.workerKills,
    redisFault: facts.redisFault,
    redisFaults: facts.redisFaults,
    drainMs: facts.drainMs,
    ...(facts.redisOutage === undefined ? {} : { redisOutage: facts.redisOutage }),
    stuckGraceMs: facts.stuckGraceMs,
    taskDeadlineMs: facts.taskDeadlineMs,
    ...(facts.providerOutage
      ? {
          providerOutage: {
            ...facts.providerOutage,
            failedForOutage: failedByReason.providerUnavailable ?? 0,
          },
        }
      : {}),
    ...(facts.s3Outage
      ? { s3Outage: { ...facts.s3Outage, failedForOutage: failedByReason.storageUnavailable ?? 0 } }
      : {}),
  };
}

/**
 * The grace past its deadline a job has before it counts as stuck: the run's, plus the measured
 * Redis outage when that overlapped the job's latest generation (from its start to its deadline and
 * the grace). A generation started after the outage, or ended before it, gets nothing more.
 */
function stuckGrace(job: Pick<JobObservation, "deadline">, facts: ChaosFacts): number {
  const outage = facts.redisOutage;
  if (!outage || job.deadline === undefined) return facts.stuckGraceMs;
  const from = job.deadline - facts.taskDeadlineMs;
  const until = job.deadline + facts.stuckGraceMs;
  const overlaps = outage.startedAt < until && outage.endedAt > from;
  return facts.stuckGraceMs + (overlaps ? outage.endedAt - outage.startedAt : 0);
}

/** Where the batch's own report differs from the jobs, or it did not announce its end exactly once. */
function batchMismatches(
  batch: BatchObservation,
  jobs: number,
  completed: number,
  failedByReason: Record<string, number>,
): string[] {
  const { status, announcements } = batch;
  if (!status) return ["the batch is gone"];
  const failed = Object.values(failedByReason).reduce((sum, count) => sum + count, 0);
  const mismatches: string[] = [];
  const compare = (what: string, reported: unknown, actual: unknown) => {
    if (JSON.stringify(reported) !== JSON.stringify(actual)) {
      mismatches.push(
        `${what}: the batch says ${JSON.stringify(reported)}, the jobs ${JSON.stringify(actual)}`,
      );
    }
  };
  compare("total", status.total, jobs);
  compare("completed", status.completed, completed);
  compare("failed", status.failed, failed);
  compare("failures by reason", sortedEntries(status.failuresByReason), sortedEntries(failedByReason));
  if (completed + failed === jobs) {
    compare("in flight", status.inFlight, 0);
    if (status.closedAt === undefined) mismatches.push("every job ended but the batch did not close");
    compare("completion announcements", announcements, 1);
  }
  return mismatches;
}

function sortedEntries(record: Record<string, number>): [string, number][] {
  return Object.entries(record).sort(([a], [b]) => a.localeCompare(b));
}

/**
 * The failure the injected faults force on a job: the terminal error ends it; an upload fault on
 * every generation of a variant exhausts it (uploadFailed is retryable: the variant is redone).
 */
function expectedFailure(job: JobObservation, facts: ChaosFacts): string | undefined {
  const counters = job.taskUUIDs.map((taskUUID) => facts.tasks[taskUUID]);
  if (counters.some((task) => (task?.terminalFaults ?? 0) > 0)) return "contentPolicyViolation";
  return generationsOf(job, facts).uploadFaults >= facts.maxGenerations ? "uploadFailed" : undefined;
}

/**
 * The job's generations the provider started, those its upload fault ended, those redone (a later one
 * started) because an S3 outage ended them (given back), and those redone with neither to explain it.
 */
function generationsOf(
  job: JobObservation,
  facts: ChaosFacts,
): { started: number; uploadFaults: number; outageRedos: number; unexplainedRedos: number } {
  const counters = job.taskUUIDs.map((taskUUID) => facts.tasks[taskUUID]);
  const started = counters.map((task) => (task?.accepted ?? 0) > 0);
  const faulted = counters.map((task) => (task?.uploadFaults ?? 0) > 0);
  const outage = new Set(job.outageGenerations ?? []);
  const last = started.lastIndexOf(true);
  const redone = started.map((yes, i) => yes && i < last);
  return {
    started: started.filter(Boolean).length,
    uploadFaults: faulted.filter(Boolean).length,
    outageRedos: redone.filter((yes, i) => yes && outage.has(i)).length,
    unexplainedRedos: redone.filter((yes, i) => yes && !faulted[i] && !outage.has(i)).length,
  };
}

const MUST_BE_ZERO_LABELS: Record<keyof ChaosReport["mustBeZero"], string> = {
  failuresNotInjected: "failures not matching the injected terminal errors",
  lost: "lost (neither completed nor failed)",
  stuckPastDeadline: "stuck past their deadline",
  duplicateSubmissions: "duplicate provider submissions per task",
  duplicateEvents: "duplicate completion events",
  missingEvents: "finished jobs without their event",
  badOutputs: "outputs missing, of the wrong size, or not the one announced",
  batchMismatches: "batch report differing from the jobs (or not closed once)",
};

/** The must-be-zero figures that are not zero. */
export function violations(report: ChaosReport): string[] {
  const found = (Object.keys(report.mustBeZero) as (keyof ChaosReport["mustBeZero"])[])
    .filter((name) => report.mustBeZero[name].length > 0)
    .map((name) => MUST_BE_ZERO_LABELS[name]);
  if (report.redisOutage === null)
    found.push("Redis and the workers were not back within the harness's limit");
  const outage = report.providerOutage;
  if (outage) {
    if (!outage.started) found.push("the provider outage never started");
    if (outage.failedForOutage > 0)
      found.push(`${outage.failedForOutage} jobs failed for the provider outage`);
    if (outage.requests > outage.bound)
      found.push(
        `${outage.requests} provider requests during the outage, above the bound of ${outage.bound}`,
      );
  }
  const s3 = report.s3Outage;
  if (s3) {
    if (!s3.started) found.push("the S3 outage never started");
    if (s3.failedForOutage > 0) found.push(`${s3.failedForOutage} jobs failed for the S3 outage`);
    if (s3.requests > s3.bound)
      found.push(
        `${s3.requests} S3 requests by the workers during the outage, above the bound of ${s3.bound}`,
      );
    if (s3.submits > s3.submitBound)
      found.push(
        `${s3.submits} tasks sent to the provider during the S3 outage, above the bound of ${s3.submitBound}`,
      );
  }
  return found;
}

const seconds = (ms: number) => `${(ms / 1000).toFixed(1)} s`;

const FAULT_LABELS: [string, string][] = [
  ["rate429", "429"],
  ["rate503", "503"],
  ["timeoutRate", "timeouts"],
  ["uploadFailureRate", "failed uploads"],
  ["terminalErrorRate", "terminal errors"],
  ["webhookDropRate", "webhooks dropped"],
  ["webhookDuplicateRate", "duplicated"],
  ["webhookDelayRate", "delayed"],
  ["webhookReorderRate", "reordered"],
];

/** The table a run prints, then up to `detail` ids behind each non-zero figure. */
export function formatReport(report: ChaosReport, { detail = 5 }: { detail?: number } = {}): string {
  const rows: [string, string, string][] = [["completed", String(report.completed), ""]];
  const reasons = Object.entries(report.failedByReason).sort(([a], [b]) => a.localeCompare(b));
  for (const [code, count] of reasons) rows.push([`failed: ${code}`, String(count), ""]);
  if (reasons.length === 0) rows.push(["failed", "0", ""]);
  rows.push(["jobs given an injected terminal error", String(report.injectedTerminalJobs), ""]);
  for (const [name, label] of Object.entries(MUST_BE_ZERO_LABELS)) {
    const shown =
      name === "stuckPastDeadline"
        ? `${label} (by more than ${report.stuckGraceMs / 1000} s${report.redisOutage ? " + the outage, if it overlapped" : ""})`
        : label;
    rows.push([shown, String(report.mustBeZero[name as keyof ChaosReport["mustBeZero"]].length), "0"]);
  }
  if (report.redisOutage !== undefined) {
    const outageOf = report.redisOutage;
    rows.push([
      "Redis outage measured: kill → writes accepted (→ workers ready)",
      outageOf === null
        ? "not over in 300 s"
        : `${seconds(outageOf.writableAt - outageOf.startedAt)} (${seconds(outageOf.endedAt - outageOf.startedAt)})`,
      "",
    ]);
  }
  const outage = report.providerOutage;
  if (outage) {
    rows.push(["jobs failed for the provider outage", String(outage.failedForOutage), "0"]);
    rows.push([
      `provider requests during the ${(outage.durationMs / 1000).toFixed(0)} s outage (submits, polls)`,
      `${outage.requests} (${outage.submits}, ${outage.polls})`,
      `≤ ${outage.bound}`,
    ]);
  }
  const s3 = report.s3Outage;
  if (s3) {
    rows.push(["jobs failed for the S3 outage", String(s3.failedForOutage), "0"]);
    rows.push([
      `S3 requests by the workers during the ${(s3.durationMs / 1000).toFixed(0)} s outage`,
      String(s3.requests),
      `≤ ${s3.bound}`,
    ]);
    rows.push(["tasks sent to the provider during it", String(s3.submits), `≤ ${s3.submitBound}`]);
    rows.push(["S3 requests by the provider (presigned) during it", String(s3.providerRequests), ""]);
  }
  rows.push([
    "time to drain",
    report.drainMs === undefined ? "did not drain" : `${(report.drainMs / 1000).toFixed(1)} s`,
    "",
  ]);
  const widths = [0, 1, 2].map((column) => Math.max(...rows.map((row) => row[column]!.length), 7));
  const line = (cells: string[]) => `| ${cells.map((cell, i) => cell.padEnd(widths[i]!)).join(" | ")} |`;
  const table = [
    line(["figure", "value", "must be"]),
    `|${widths.map((width) => "-".repeat(width + 2)).join("|")}|`,
    ...rows.map((row) => line(row)),
  ];
  const injected = FAULT_LABELS.map(([name, label]) => `${label} ×${report.injected[name] ?? 0}`).join(", ");
  const lines = [
    `injected: ${injected}; ${outage ? `provider outage of ${(outage.durationMs / 1000).toFixed(0)} s` : s3 ? `S3 outage of ${(s3.durationMs / 1000).toFixed(0)} s` : `workers SIGKILLed ×${report.workerKills}; ${report.redisFault} ×${report.redisFaults}`}`,
    `provider generations: ${report.generations} for ${report.jobs} jobs (a failed upload is redone as a new generation); re-sent taskUUIDs answered conflictTaskUUID (not duplicates): ${report.conflicts}`,
    ...(s3
      ? [
          `generations redone because the S3 outage ended them (given back, not counted against TASK_MAX_GENERATIONS): ${report.outageRedos}`,
        ]
      : []),
    `generations redone with no injected fault${s3 ? " or the outage" : ""} to explain it (no result by the task's deadline, a task lost): ${report.unexplainedRedos}`,
    `jobs run again after their worker died holding them: ${report.stalledJobs} (at most ${report.maxStalls} times one job)`,
    `each job's deadlineSeconds: ${report.taskDeadlineMs / 1000}`,
    "",
    ...table,
  ];
  for (const [name, label] of Object.entries(MUST_BE_ZERO_LABELS)) {
    const ids = report.mustBeZero[name as keyof ChaosReport["mustBeZero"]];
    if (ids.length === 0) continue;
    lines.push("", `${label}:`, ...ids.slice(0, detail).map((id) => `  ${id}`));
    if (ids.length > detail) lines.push(`  … and ${ids.length - detail} more`);
  }
  return lines.join("\n");
}
