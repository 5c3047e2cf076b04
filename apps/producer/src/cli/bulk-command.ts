import { parseEnv } from "@reframe/config";
import { bulkConfigSchema } from "../bulk/bulk-config.ts";
import { withBulkContext } from "../bulk/bulk-context.ts";
import { BULK_FLAGS, type BulkFlags, parseBulkRequest } from "../bulk/bulk-request.ts";
import { runBulk } from "../bulk/bulk-run.ts";
import { watchInterrupt } from "../bulk/interrupt.ts";
import { type CliCommand, parseCommandArgs } from "./cli-command.ts";
import { UsageError } from "./usage-error.ts";

/** How the run is described in its batch (for `batch status`): the command line, quoted for a shell. */
function commandLine(args: readonly string[]): string {
  const quote = (arg: string) => (/^[\w@%+=:,./-]+$/.test(arg) ? arg : `'${arg.replaceAll("'", `'\\''`)}'`);
  return ["reframe", "bulk", ...args.map(quote)].join(" ");
}

export const bulkCommand: CliCommand = {
  help: `reframe bulk --source s3://bucket/prefix/ [--include GLOB]… [--exclude GLOB]…
             | --manifest FILE.csv|FILE.jsonl [--source-bucket B]
             --target 16:9 [--target preset:NAME]… [--anchor center]
             [--bucket OUT] [--prefix P/] [--key-template T] [--format JPG|PNG|WEBP] [--quality 90]
             [--variants 1] [--mode high|fast] [--fit fit|down-only] [--max-upscale 4]
             [--max-generated-share 90%] [--route q1,q2] [--batch ID] [--chunk-size 500]
             [--dry-run] [--max-cost USD] [--no-estimate] [--detach] [--report FILE]

  Prints its plan (jobs, already done, to run, scaled down or up, copies, refused, the generated
  share, estimated cost, and the planned outputs), then enqueues and follows the batch to its end,
  with a summary and an HTML report. The same command again
  resumes the same batch and adds only what is missing.

  --dry-run      the plan only: nothing is enqueued, no batch is made
  --max-cost     refuse (exit 3, nothing enqueued) when the estimate is over this many US dollars
  --no-estimate  skip reading image sizes for the estimate (very large runs; not with --max-cost)
  --detach       enqueue and leave; follow later with: reframe batch status <id> --follow
  --report FILE  where the report goes (default out/reports/<batch>/index.html)
  --batch ID     name the batch (default: derived from the request, so a rerun resumes it)
  Ctrl-C while following leaves the batch running.

  Exit codes: 0 done, 1 some jobs failed, 2 bad usage, 3 over --max-cost, 4 Redis or S3
  unreachable, 130 interrupted.`,
  async run(args, io) {
    const { values, positionals } = parseCommandArgs(args, BULK_FLAGS);
    if (positionals.length > 0) throw new UsageError(`bulk takes flags only, not ${positionals[0]}`);
    const config = parseEnv(bulkConfigSchema, io.env);
    const request = parseBulkRequest(values as BulkFlags, config);
    const interrupt = watchInterrupt();
    try {
      return await withBulkContext(config, { out: io.out, err: io.err, interrupt }, (context) =>
        runBulk(request, context, commandLine(args)),
      );
    } finally {
      interrupt.dispose();
    }
  },
};
