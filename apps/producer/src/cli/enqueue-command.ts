import { createBatchStore, enqueueIntoLabelledBatches } from "@reframe/jobs";
import { JOB_FLAGS, jobFromFlags, outputBucketOf, targetOf } from "../job-flags.ts";
import { parseSourceSpec } from "../source-spec.ts";
import {
  type CliCommand,
  EXIT_CODES,
  JSON_FLAG,
  parseCommandArgs,
  producerConfig,
  withOutpaintQueue,
  writeJson,
} from "./cli-command.ts";
import { describeJob, printJob, waitForJob } from "./status-command.ts";
import { UsageError } from "./usage-error.ts";

const ENQUEUE_FLAGS = {
  ...JOB_FLAGS,
  source: { type: "string" },
  target: { type: "string" },
  wait: { type: "boolean" },
  ...JSON_FLAG,
} as const;

export const enqueueCommand: CliCommand = {
  help: `reframe enqueue --source s3://bucket/key|URL --target 16:9|1080x1350|preset:NAME|margins:T,R,B,L
                [--anchor center] [--bucket OUT] [--prefix P/] [--key-template T] [--format JPG|PNG|WEBP]
                [--quality 90] [--variants 1] [--mode high|fast] [--fit fit|down-only] [--max-upscale 4]
                [--max-generated-share 90%] [--route q1,q2] [--batch ID] [--wait] [--json]

  Prints the job's id. The id is the idempotency key: the same source, target, output and options
  enqueued again add nothing ("already queued").

  --source    s3://bucket/key, or an http(s) URL (public addresses only, see SOURCE_URL_ALLOW_HOSTS)
  --target    W:H ratio, WxH exact size, preset:NAME (reframe presets), or margins:top,right,bottom,left
  --anchor    where the source sits: top-left, top, top-right, left, center, right, bottom-left,
              bottom, bottom-right (not with margins)
  --bucket    output bucket (default OUTPUT_BUCKET); --prefix, --key-template, --format, --quality
  --variants  outputs per job (different seeds); --mode high|fast
  --fit       fit: an exact size or preset scales the source up (at most --max-upscale) or down to
              fill one dimension; down-only never scales up
  --max-generated-share  refuse a plan whose outputs would be more generated than this (0.9 or 90%)
  --route     queues that receive the completion event; --batch ID joins that batch
  --wait      follow the job to its end and print its outputs (exit 1 if it failed)
  --json      {jobId, added} (with --wait, the job's final status too)

  Exit codes: 0, 1 the job failed (--wait), 2 bad usage, 4 Redis unreachable.`,
  async run(args, io) {
    const { values, positionals } = parseCommandArgs(args, ENQUEUE_FLAGS);
    if (positionals.length > 0) throw new UsageError(`enqueue takes flags only, not ${positionals[0]}`);
    if (!values.source || !values.target) throw new UsageError("enqueue needs --source and --target");
    const config = producerConfig(io.env);
    const job = jobFromFlags(values, {
      source: parseSourceSpec(values.source),
      target: targetOf(values.target),
      bucket: outputBucketOf(values, config.OUTPUT_BUCKET || undefined),
      labels: { requester: "cli" },
    });
    return withOutpaintQueue(config, async (queue, { connection, prefix, confirmWrites }) => {
      // With --batch the job joins that batch (opened on first use), so `reframe batch status` counts it.
      const batches = createBatchStore(connection, { prefix });
      const { added, jobIds } = await enqueueIntoLabelledBatches(queue, batches, [job], "cli");
      const jobId = jobIds[0]!;
      // On a Sentinel group or a Cluster, the id is printed once the job would survive a failover.
      await confirmWrites();
      if (!values.json)
        io.out.write(added ? `${jobId}\n` : `${jobId} (already queued: same source, target and options)\n`);
      if (!values.wait) {
        if (values.json) writeJson(io, { jobId, added: added === 1 });
        return EXIT_CODES.ok;
      }
      const final = await waitForJob(queue, jobId, (change) => io.err.write(`${describeJob(change)}\n`));
      if (values.json) writeJson(io, { ...final, added: added === 1 });
      else printJob(io, final, false);
      return final.state === "completed" ? EXIT_CODES.ok : EXIT_CODES.failed;
    });
  },
};
