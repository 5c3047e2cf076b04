import { formatScale, formatShare } from "@reframe/geometry";
import type { Queue } from "bullmq";
import { type JobStatus, jobStatus } from "../job-status.ts";
import {
  type CliCommand,
  type CliIo,
  EXIT_CODES,
  JSON_FLAG,
  parseCommandArgs,
  producerConfig,
  withOutpaintQueue,
  writeJson,
} from "./cli-command.ts";
import { UsageError } from "./usage-error.ts";

export const statusCommand: CliCommand = {
  help: `reframe status <jobId> [--wait] [--json]

  Prints the job's state (waiting, delayed, active, completed, failed), its step while it runs, each
  output (s3://bucket/key, size, bytes) once completed, or the failure reason.

  --wait   follow the job to its end, printing each change of state or step to stderr
  --json   the status as JSON: {jobId, state, step, outputs, failedReason, costUsd, sourceScale,
           generatedShare}

  Exit codes: 0, 1 the job failed, 2 bad usage or no such job, 4 Redis unreachable.`,
  async run(args, io) {
    const { values, positionals } = parseCommandArgs(args, { wait: { type: "boolean" }, ...JSON_FLAG });
    const [jobId, ...extra] = positionals;
    if (!jobId || extra.length > 0) throw new UsageError("status needs one job id");
    return withOutpaintQueue(producerConfig(io.env), async (queue) => {
      const status = values.wait
        ? await waitForJob(queue, jobId, (change) => io.err.write(`${describeJob(change)}\n`))
        : await jobStatus(queue, jobId);
      if (!status) throw new UsageError(`no job ${jobId}`);
      printJob(io, status, values.json ?? false);
      return status.state === "failed" ? EXIT_CODES.failed : EXIT_CODES.ok;
    });
  },
};

export function printJob(io: CliIo, status: JobStatus, json: boolean): void {
  if (json) writeJson(io, status);
  else io.out.write(`${describeJob(status)}\n`);
}

export function describeJob(status: JobStatus): string {
  const base = `${status.jobId}: ${status.state}${status.step && status.state !== "completed" ? ` (${status.step})` : ""}`;
  if (status.failedReason) return `${base} — ${status.failedReason}`;
  const plan =
    status.sourceScale === undefined || status.generatedShare === undefined
      ? ""
      : `  source ${formatScale(status.sourceScale)}, ${formatShare(status.generatedShare)} generated`;
  const outputs = status.outputs.map(
    (o) => `\n  s3://${o.bucket}/${o.key}  ${o.width}x${o.height}  ${o.size} bytes${plan}`,
  );
  return base + outputs.join("");
}

const FINAL_STATES = new Set(["completed", "failed"]);

/** Follows a job to its end, reporting each change of state or step. */
export async function waitForJob(
  queue: Queue,
  jobId: string,
  onChange: (status: JobStatus) => void,
  { pollMs = 250, timeoutMs = 30 * 60_000 }: { pollMs?: number; timeoutMs?: number } = {},
): Promise<JobStatus> {
  const deadline = Date.now() + timeoutMs;
  let last = "";
  for (;;) {
    const status = await jobStatus(queue, jobId);
    if (!status) throw new UsageError(`no job ${jobId} (it may have been removed by retention)`);
    const signature = `${status.state}/${status.step}`;
    if (signature !== last) onChange(status);
    last = signature;
    if (FINAL_STATES.has(status.state)) return status;
    if (Date.now() > deadline) throw new Error(`job ${jobId} did not finish within ${timeoutMs} ms`);
    await new Promise((resolve) => setTimeout(resolve, pollMs));
  }
}
