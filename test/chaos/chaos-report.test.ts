import { describe, expect, it } from "vitest";
import {
  type ChaosFacts,
  computeReport,
  formatReport,
  type JobObservation,
  violations,
} from "./chaos-report.ts";

const NOW = 1_700_000_000_000;

function job(id: string, overrides: Partial<JobObservation> = {}): JobObservation {
  return {
    jobId: id,
    state: "completed",
    taskUUIDs: [`${id}-g0`, `${id}-g1`, `${id}-g2`],
    deadline: NOW - 60_000,
    finishedAt: NOW - 70_000,
    events: { completed: 1, failed: 0 },
    stalls: 0,
    outputs: [{ key: `out/${id}.png` }],
    ...overrides,
  };
}

function facts(jobs: JobObservation[], tasks: ChaosFacts["tasks"] = {}): ChaosFacts {
  return {
    jobs,
    tasks,
    injected: { terminalErrorRate: 1 },
    maxGenerations: 3,
    workerKills: 4,
    redisFault: "Redis restarted",
    redisFaults: 1,
    drainMs: 12_345,
    observedAt: NOW,
    stuckGraceMs: 30_000,
    taskDeadlineMs: 60_000,
  };
}

describe("the fault-injection run's figures", () => {
  it("a clean run: every must-be-zero figure is zero and the table says so", () => {
    const failed = job("b", {
      state: "failed",
      failureCode: "contentPolicyViolation",
      events: { completed: 0, failed: 1 },
      outputs: [],
    });
    const report = computeReport(facts([job("a"), failed], { "b-g1": { terminalFaults: 1, accepted: 1 } }));
    expect(violations(report)).toEqual([]);
    expect(report).toMatchObject({
      completed: 1,
      failedByReason: { contentPolicyViolation: 1 },
      injectedTerminalJobs: 1,
    });
    expect(formatReport(report)).toContain("| failed: contentPolicyViolation ");
    expect(formatReport(report)).toContain("12.3 s");
  });

  it("each fault shows in its own figure", () => {
    const report = computeReport(
      facts(
        [
          job("lost", {
            state: "unfinished",
            finishedAt: undefined,
            deadline: NOW,
            events: { completed: 0, failed: 0 },
          }),
          job("missing", { state: "missing", deadline: undefined, events: { completed: 0, failed: 0 } }),
          job("stuck", { finishedAt: NOW - 60_000 + 31_000 }),
          job("twice", { events: { completed: 2, failed: 0 } }),
          job("silent", { events: { completed: 0, failed: 0 } }),
          job("small", { outputs: [{ key: "out/small.png", problem: "64×64, planned 96×96" }] }),
          job("uninjected", {
            state: "failed",
            failureCode: "stalledTooOften",
            events: { completed: 0, failed: 1 },
          }),
          job("survived"),
        ],
        { "dup-task": { accepted: 2 }, "survived-g0": { terminalFaults: 1 } },
      ),
    );
    expect(report.mustBeZero).toEqual({
      lost: ["lost", "missing"],
      stuckPastDeadline: ["stuck (31 s late, grace 30 s)"],
      duplicateSubmissions: ["dup-task (generated 2 times)"],
      duplicateEvents: ["twice (2 events)"],
      missingEvents: ["silent (no completed event)"],
      badOutputs: ["small out/small.png: 64×64, planned 96×96"],
      batchMismatches: [],
      failuresNotInjected: [
        "uninjected (stalledTooOften, injected none; 0 generations started, 0 with an injected upload fault)",
        "survived (completed, injected contentPolicyViolation; 0 generations started, 0 with an injected upload fault)",
      ],
    });
    expect(violations(report)).toHaveLength(7);
  });

  it("a batch that miscounts, does not close, or announces twice shows as a batch mismatch", () => {
    const status = {
      total: 2,
      completed: 2,
      failed: 0,
      inFlight: 0,
      failuresByReason: {},
      closedAt: NOW,
    };
    const clean = computeReport({ ...facts([job("a"), job("b")]), batch: { status, announcements: 1 } });
    expect(clean.mustBeZero.batchMismatches).toEqual([]);
    const wrong = computeReport({
      ...facts([job("a"), job("b")]),
      batch: { status: { ...status, completed: 1, inFlight: 1, closedAt: undefined }, announcements: 2 },
    });
    expect(wrong.mustBeZero.batchMismatches).toEqual([
      "completed: the batch says 1, the jobs 2",
      "in flight: the batch says 1, the jobs 0",
      "every job ended but the batch did not close",
      "completion announcements: the batch says 2, the jobs 1",
    ]);
  });

  it("an upload fault on every generation explains an uploadFailed failure; on fewer it does not", () => {
    const exhausted = job("x", {
      state: "failed",
      failureCode: "uploadFailed",
      events: { completed: 0, failed: 1 },
    });
    const upload = { uploadFaults: 1 };
    expect(
      computeReport(facts([exhausted], { "x-g0": upload, "x-g1": upload, "x-g2": upload })).mustBeZero
        .failuresNotInjected,
    ).toEqual([]);
    expect(
      computeReport(facts([exhausted], { "x-g0": upload, "x-g1": upload })).mustBeZero.failuresNotInjected,
    ).toHaveLength(1);
  });

  it("says how many generations a job started and how many an upload fault ended, and counts the other redos", () => {
    const exhausted = job("x", {
      state: "failed",
      failureCode: "uploadFailed",
      events: { completed: 0, failed: 1 },
    });
    const started = { accepted: 1 };
    const report = computeReport(
      facts([exhausted], { "x-g0": started, "x-g1": started, "x-g2": { accepted: 1, uploadFaults: 1 } }),
    );
    expect(report.mustBeZero.failuresNotInjected).toEqual([
      "x (uploadFailed, injected none; 3 generations started, 1 with an injected upload fault)",
    ]);
    expect(report.unexplainedRedos).toBe(2);
    expect(formatReport(report)).toContain("generations redone with no injected fault to explain it");
  });

  it("a generation given back for an S3 outage is redone for the outage, not unexplained; the job may use five", () => {
    const taskUUIDs = ["y-g0", "y-g1", "y-g2", "y-g3", "y-g4"];
    const started = { accepted: 1 };
    const upload = { accepted: 1, uploadFaults: 1 };
    // Generations 0 and 1 met the outage (given back); 2, 3 and 4 each got an injected upload fault.
    const exhausted = job("y", {
      state: "failed",
      failureCode: "uploadFailed",
      events: { completed: 0, failed: 1 },
      outputs: [],
      taskUUIDs,
      outageGenerations: [0, 1],
    });
    const report = computeReport(
      facts([exhausted], {
        "y-g0": started,
        "y-g1": started,
        "y-g2": upload,
        "y-g3": upload,
        "y-g4": upload,
      }),
    );
    expect(report.mustBeZero.failuresNotInjected).toEqual([]);
    expect(report).toMatchObject({ outageRedos: 2, unexplainedRedos: 0 });
    // Without the record of what was given back, the same two redos have nothing to explain them.
    const unrecorded = computeReport(
      facts([{ ...exhausted, outageGenerations: [] }], {
        "y-g0": started,
        "y-g1": started,
        "y-g2": upload,
        "y-g3": upload,
        "y-g4": upload,
      }),
    );
    expect(unrecorded).toMatchObject({ outageRedos: 0, unexplainedRedos: 2 });
  });
});

describe("the Redis outage's part in the stuck judgement", () => {
  // A generation from NOW - 120 s to its deadline at NOW - 60 s; the grace ends at NOW - 30 s.
  const deadline = NOW - 60_000;
  const outage = (from: number, ms: number) => ({
    startedAt: from,
    writableAt: from + ms / 2,
    endedAt: from + ms,
  });

  it("adds the measured outage to the grace of a job whose generation it overlapped, and no more", () => {
    const during = outage(NOW - 100_000, 25_000);
    const late = (ms: number) => job("late", { deadline, finishedAt: deadline + ms });
    const withOutage = (jobs: JobObservation[]) => computeReport({ ...facts(jobs), redisOutage: during });
    expect(withOutage([late(54_000)]).mustBeZero.stuckPastDeadline).toEqual([]);
    expect(withOutage([late(56_000)]).mustBeZero.stuckPastDeadline).toEqual(["late (56 s late, grace 55 s)"]);
  });

  it("adds nothing for a generation started after the outage or ended before it", () => {
    const late = job("late", { deadline, finishedAt: deadline + 31_000 });
    for (const redisOutage of [outage(NOW - 150_000, 25_000), outage(NOW - 29_000, 25_000)]) {
      expect(computeReport({ ...facts([late]), redisOutage }).mustBeZero.stuckPastDeadline).toHaveLength(1);
    }
  });

  it("prints the measured outage, and fails a run whose outage did not end", () => {
    const measured = computeReport({ ...facts([job("a")]), redisOutage: outage(NOW - 100_000, 24_000) });
    expect(formatReport(measured)).toMatch(
      /kill → writes accepted \(→ workers ready\) +\| 12\.0 s \(24\.0 s\)/,
    );
    expect(violations(measured)).toEqual([]);
    const unmeasured = computeReport({ ...facts([job("a")]), redisOutage: null });
    expect(violations(unmeasured)).toEqual([
      "Redis and the workers were not back within the harness's limit",
    ]);
  });
});

describe("the provider outage figures", () => {
  const outage = { durationMs: 180_000, started: true, requests: 12, submits: 3, polls: 9, bound: 119 };
  it("pass when no job failed for the outage and the requests stay within the bound", () => {
    const report = computeReport({ ...facts([job("a")]), providerOutage: outage });
    expect(violations(report)).toEqual([]);
    expect(formatReport(report)).toMatch(
      /provider requests during the 180 s outage \(submits, polls\) +\| 12 \(3, 9\) +\| ≤ 119/,
    );
    // Whether a job could wait the outage out depends on its deadline: the table says which it had.
    expect(formatReport(report)).toContain("each job's deadlineSeconds: 60\n");
  });

  it("catch a job failed for the outage, requests past the bound, and an outage that never came", () => {
    const failed = job("b", {
      state: "failed",
      failureCode: "providerUnavailable",
      events: { completed: 0, failed: 1 },
    });
    const report = computeReport({
      ...facts([job("a"), failed]),
      providerOutage: { ...outage, requests: 120, started: false },
    });
    expect(violations(report)).toEqual([
      "failures not matching the injected terminal errors",
      "the provider outage never started",
      "1 jobs failed for the provider outage",
      "120 provider requests during the outage, above the bound of 119",
    ]);
  });
});

describe("the S3 outage figures", () => {
  const outage = {
    durationMs: 600_000,
    started: true,
    requests: 63,
    providerRequests: 40,
    bound: 372,
    submits: 12,
    submitBound: 100,
  };
  it("pass when no job failed for the outage and the workers' requests and submits stay within their bounds", () => {
    const report = computeReport({ ...facts([job("a")]), s3Outage: outage });
    expect(violations(report)).toEqual([]);
    expect(formatReport(report)).toMatch(/tasks sent to the provider during it +\| 12 +\| ≤ 100/);
  });

  it("catch a job failed for the outage, requests and submits past their bounds, and an outage that never came", () => {
    const failed = job("b", {
      state: "failed",
      failureCode: "storageUnavailable",
      events: { completed: 0, failed: 1 },
    });
    const report = computeReport({
      ...facts([job("a"), failed]),
      s3Outage: { ...outage, started: false, requests: 400, submits: 101 },
    });
    expect(violations(report)).toEqual([
      "failures not matching the injected terminal errors",
      "the S3 outage never started",
      "1 jobs failed for the S3 outage",
      "400 S3 requests by the workers during the outage, above the bound of 372",
      "101 tasks sent to the provider during the S3 outage, above the bound of 100",
    ]);
  });
});
