import { parseArgs } from "node:util";
import { finishBatch, parseBatchStatusArgs } from "./batch-command.ts";
import { withBulkContext } from "./bulk-context.ts";
import { BULK_FLAGS, type BulkFlags, parseBulkRequest } from "./bulk-request.ts";
import { runBulk } from "./bulk-run.ts";
import { watchInterrupt } from "./interrupt.ts";

export const BULK_USAGE = `  reframe bulk --source s3://bucket/prefix/ [--include GLOB]… [--exclude GLOB]…
              | --manifest FILE.csv|FILE.jsonl [--source-bucket B]
              --target 16:9 [--target preset:NAME]… [--anchor center]
              [--bucket OUT] [--prefix P/] [--key-template T] [--format JPG|PNG|WEBP] [--quality 90]
              [--variants 1] [--mode high|fast] [--route q1,q2] [--batch ID] [--chunk-size 500]
              [--dry-run] [--max-cost USD] [--no-estimate] [--detach] [--report FILE]
  reframe batch status <batchId> [--follow] [--report FILE]

  bulk prints its plan (jobs, already done, to run, pre-scaled, copies, estimated cost), then
  enqueues and follows the batch to its end; the same command again resumes the same batch and
  adds only what is missing. Ctrl-C while following leaves the batch running.
  Exit codes: 0 done, 1 some jobs failed, 2 bad usage, 3 over --max-cost, 130 interrupted.`;

/** How the run is described in its batch (for `batch status`): the command line, quoted for a shell. */
function commandLine(args: readonly string[]): string {
  const quote = (arg: string) => (/^[\w@%+=:,./-]+$/.test(arg) ? arg : `'${arg.replaceAll("'", `'\\''`)}'`);
  return ["reframe", "bulk", ...args.map(quote)].join(" ");
}

export async function bulkCommand(args: string[], env: NodeJS.ProcessEnv): Promise<number | "help"> {
  const { values } = parseArgs({ args, options: BULK_FLAGS, strict: true, allowPositionals: false });
  if (values.help) return "help";
  const request = parseBulkRequest(values as BulkFlags, { OUTPUT_BUCKET: env.OUTPUT_BUCKET || undefined });
  const interrupt = watchInterrupt();
  try {
    return await withBulkContext(env, { out: process.stdout, err: process.stderr, interrupt }, (context) =>
      runBulk(request, context, commandLine(args)),
    );
  } finally {
    interrupt.dispose();
  }
}

export async function batchCommand(args: string[], env: NodeJS.ProcessEnv): Promise<number | "help"> {
  const parsed = parseBatchStatusArgs(args);
  if (parsed.help) return "help";
  const interrupt = watchInterrupt();
  try {
    return await withBulkContext(env, { out: process.stdout, err: process.stderr, interrupt }, (context) =>
      finishBatch(context, parsed.batchId, { follow: parsed.follow, reportFile: parsed.reportFile }),
    );
  } finally {
    interrupt.dispose();
  }
}
