#!/usr/bin/env node

import { parseArgs } from "node:util";
import { ConfigError, parseEnv } from "@reframe/config";
import { formatScale, formatShare } from "@reframe/geometry";
import { createBatchStore, createOutpaintQueue } from "@reframe/jobs";
import {
  confirmWrites,
  createRedisClient,
  type RedisClient,
  redisSettingsOf,
  WriteNotConfirmedError,
  waitForRedisReady,
} from "@reframe/redis";
import { SPANS, startTracing, type Tracing, TracingConfigError, withSpan } from "@reframe/telemetry";
import type { Queue } from "bullmq";
import { BULK_USAGE, batchCommand, bulkCommand } from "./bulk/bulk-command.ts";
import { JOB_FLAGS } from "./bulk/bulk-request.ts";
import {
  type EnqueueFlags,
  enqueueCommand,
  type JobStatus,
  jobFromFlags,
  jobStatus,
  waitForJob,
} from "./commands.ts";
import {
  DELIVERIES_USAGE,
  ENDPOINTS_USAGE,
  runDeliveriesCommand,
  runEndpointsCommand,
} from "./outbound/index.ts";
import { PIPELINES_USAGE, runPipelinesCommand } from "./pipelines-command.ts";
import { producerConfigSchema } from "./producer-config.ts";
import { runQueueCommand } from "./queue-command.ts";
import { UsageError } from "./source-spec.ts";

const USAGE = `reframe — outpaint jobs on a queue

  reframe enqueue --source s3://bucket/key|URL --target 16:9|1080x1350|preset:NAME|margins:T,R,B,L
                  [--anchor center] [--bucket OUT] [--prefix P/] [--format JPG|PNG|WEBP] [--quality 90]
                  [--variants 1] [--mode high|fast] [--fit fit|down-only] [--max-upscale 4]
                  [--max-generated-share 90%] [--route q1,q2] [--batch ID] [--wait]
  reframe status <jobId> [--wait]
  reframe queue pause|resume|counts
${PIPELINES_USAGE}
${BULK_USAGE}
${ENDPOINTS_USAGE}
${DELIVERIES_USAGE}

Environment: REDIS_URL (or REDIS_SENTINELS with REDIS_SENTINEL_NAME, or REDIS_CLUSTER_NODES; see the
README for credentials and TLS), QUEUE_PREFIX, OUTPUT_BUCKET; bulk and batch also S3_ENDPOINT,
S3_REGION, S3_FORCE_PATH_STYLE, S3_ACCESS_KEY_ID, S3_SECRET_ACCESS_KEY (as the worker's).`;

const ENQUEUE_FLAGS = {
  ...JOB_FLAGS,
  source: { type: "string" },
  target: { type: "string" },
  wait: { type: "boolean" },
} as const;

function describe(status: JobStatus): string {
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

async function withQueue<T>(
  run: (
    queue: Queue,
    context: { connection: RedisClient; prefix: string; confirm: () => Promise<void> },
  ) => Promise<T>,
): Promise<T> {
  const settings = redisSettingsOf(parseEnv(producerConfigSchema, process.env));
  const connection = createRedisClient(settings, { role: "producer" });
  const queue = createOutpaintQueue({ connection, prefix: settings.prefix, telemetry: tracing?.bullmq });
  try {
    await waitForRedisReady(connection);
    return await run(queue, {
      connection,
      prefix: settings.prefix,
      confirm: () => confirmWrites(connection, settings),
    });
  } finally {
    await queue.close();
    connection.disconnect();
  }
}

async function run(argv: string[]): Promise<number> {
  const [command, ...rest] = argv;
  switch (command) {
    case "enqueue": {
      const { values } = parseArgs({ args: rest, options: ENQUEUE_FLAGS, strict: true });
      if (values.help) return print(USAGE, 0);
      if (!values.source || !values.target) throw new UsageError("enqueue needs --source and --target");
      return withQueue(async (queue, { connection, prefix, confirm }) => {
        const input = jobFromFlags(values as EnqueueFlags, process.env.OUTPUT_BUCKET || undefined);
        const batches = createBatchStore(connection, { prefix });
        const { jobId, added } = await enqueueCommand(queue, batches, input);
        await confirm();
        console.log(added ? jobId : `${jobId} (already queued: same source, target and options)`);
        if (!values.wait) return 0;
        const final = await waitForJob(queue, jobId, (status) => console.error(describe(status)));
        console.log(describe(final));
        return final.state === "completed" ? 0 : 1;
      });
    }
    case "status": {
      const { values, positionals } = parseArgs({
        args: rest,
        options: { wait: { type: "boolean" } },
        allowPositionals: true,
      });
      const jobId = positionals[0];
      if (!jobId) throw new UsageError("status needs a job id");
      return withQueue(async (queue) => {
        const status = values.wait
          ? await waitForJob(queue, jobId, (s) => console.error(describe(s)))
          : await jobStatus(queue, jobId);
        if (!status) throw new UsageError(`no job ${jobId}`);
        console.log(describe(status));
        return status.state === "failed" ? 1 : 0;
      });
    }
    case "queue":
      return withQueue((queue, context) =>
        runQueueCommand(rest, { queue, ...context, print: (line) => console.log(line) }),
      );
    case "pipelines":
      return withQueue((_queue, context) =>
        runPipelinesCommand(rest, { ...context, print: (line) => console.log(line) }),
      );
    case "endpoints":
      return withQueue((_queue, context) =>
        runEndpointsCommand(rest, { ...context, print: (line) => console.log(line) }),
      );
    case "deliveries":
      return withQueue((_queue, context) =>
        runDeliveriesCommand(rest, { ...context, print: (line) => console.log(line) }),
      );
    case "bulk": {
      const code = await bulkCommand(rest, process.env);
      return code === "help" ? print(USAGE, 0) : code;
    }
    case "batch": {
      const code = await batchCommand(rest, process.env);
      return code === "help" ? print(USAGE, 0) : code;
    }
    case undefined:
    case "help":
    case "--help":
    case "-h":
      return print(USAGE, 0);
    default:
      throw new UsageError(`unknown command ${command}`);
  }
}

function print(text: string, code: number): number {
  console.log(text);
  return code;
}

// With OTEL_* set, a command is the root of its jobs' traces (see the README's Tracing).
let tracing: Tracing | undefined;
try {
  tracing = startTracing({ serviceName: "cli" });
  const argv = process.argv.slice(2);
  process.exitCode = await withSpan(SPANS.cliCommand, { command: argv[0] ?? "help" }, () => run(argv), {
    root: true,
  });
} catch (error) {
  if (error instanceof UsageError || error instanceof ConfigError || error instanceof TracingConfigError) {
    console.error(`reframe: ${error.message}`);
    process.exitCode = 2;
  } else if (error instanceof WriteNotConfirmedError) {
    console.error(`reframe: ${error.message}`);
    process.exitCode = 1;
  } else if (error instanceof Error && "code" in error && String(error.code).startsWith("ERR_PARSE_ARGS_")) {
    console.error(`reframe: ${error.message}\n\n${USAGE}`);
    process.exitCode = 2;
  } else {
    throw error;
  }
} finally {
  await tracing?.shutdown();
}
