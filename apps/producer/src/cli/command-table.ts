import { batchCommand } from "./batch-command.ts";
import { bulkCommand } from "./bulk-command.ts";
import type { CliCommand } from "./cli-command.ts";
import { enqueueCommand } from "./enqueue-command.ts";
import { pipelinesCommand } from "./pipelines-command.ts";
import { presetsCommand } from "./presets-command.ts";
import { queueCommand } from "./queue-command.ts";
import { statusCommand } from "./status-command.ts";

/**
 * Every `reframe` command, in the order `reframe --help` lists them. A new command is a module
 * exporting a CliCommand (cli-command.ts) and one line here; its help, `--help` and exit codes
 * come with it.
 */
export const COMMANDS: readonly CliCommand[] = [
  enqueueCommand,
  statusCommand,
  queueCommand,
  presetsCommand,
  bulkCommand,
  batchCommand,
  pipelinesCommand,
];
