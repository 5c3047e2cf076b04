import type { CliCommand } from "./cli-command.ts";

export interface CommandEntry {
  name: string;
  /** One line, shown in `reframe --help`. */
  summary: string;
  /** The command's module, loaded only when it runs or shows its help: `reframe --version` and
   * `reframe --help` load none, and `reframe presets` not the AWS SDK. */
  load(): Promise<CliCommand>;
}

/**
 * Every `reframe` command, in the order `reframe --help` lists them. A new command is a module
 * exporting a CliCommand (cli-command.ts: its help and what it runs) and one entry here.
 */
export const COMMANDS: readonly CommandEntry[] = [
  {
    name: "enqueue",
    summary: "add one job: a source, a target, where the output goes",
    load: async () => (await import("./enqueue-command.ts")).enqueueCommand,
  },
  {
    name: "status",
    summary: "a job's state, step, outputs or failure reason",
    load: async () => (await import("./status-command.ts")).statusCommand,
  },
  {
    name: "queue",
    summary: "the outpaint queue: counts by state, pause, resume",
    load: async () => (await import("./queue-command.ts")).queueCommand,
  },
  {
    name: "presets",
    summary: "the presets (--target preset:NAME) with their sizes",
    load: async () => (await import("./presets-command.ts")).presetsCommand,
  },
  {
    name: "bulk",
    summary: "reformat a library: every image under an S3 prefix, or every row of a manifest",
    load: async () => (await import("./bulk-command.ts")).bulkCommand,
  },
  {
    name: "batch",
    summary: "batches (bulk runs, pipeline runs, API and CLI jobs with one batch id): status, list, retry",
    load: async () => (await import("./batch-command.ts")).batchCommand,
  },
  {
    name: "pipelines",
    summary: "scheduled and upload-triggered runs from a pipelines file: apply, list, run, runs",
    load: async () => (await import("./pipelines-command.ts")).pipelinesCommand,
  },
  {
    name: "endpoints",
    summary: "outbound webhook endpoints (Standard Webhooks): add, list, disable, enable, rotate-secret",
    load: async () => (await import("../outbound/endpoints-command.ts")).endpointsCommand,
  },
  {
    name: "deliveries",
    summary: "outbound webhook deliveries: list, retry",
    load: async () => (await import("../outbound/deliveries-command.ts")).deliveriesCommand,
  },
];
