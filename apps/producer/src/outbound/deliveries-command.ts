import { parseArgs } from "node:util";
import { DELIVERY_QUEUE } from "@reframe/jobs";
import { type DeliveryRecord, listDeliveries, parseDuration, retryDeliveries } from "@reframe/outbound";
import { Queue } from "bullmq";
import { type CliCommand, producerConfig, withOutpaintQueue } from "../cli/cli-command.ts";
import { UsageError } from "../cli/usage-error.ts";
import type { OutboundContext } from "./endpoints-command.ts";

export const DELIVERIES_USAGE = `  reframe deliveries list [--endpoint N] [--failed] [--limit 50]
                                                  deliveries, the newest first: attempts, statuses, latency, last error
  reframe deliveries retry <id> | --endpoint N --since T
                                                  deliver again with the same webhook-id (T: an ISO time, or 2h for 2 hours ago)`;

const DEFAULT_LIMIT = 50;

/** `reframe deliveries …`; returns the exit code. */
export async function runDeliveriesCommand(argv: string[], context: OutboundContext): Promise<number> {
  const [sub, ...rest] = argv;
  const { values, positionals } = parseArgs({
    args: rest,
    options: {
      endpoint: { type: "string" },
      failed: { type: "boolean" },
      limit: { type: "string" },
      since: { type: "string" },
    },
    allowPositionals: true,
    strict: true,
  });
  const now = context.now ?? Date.now;
  const queue = new Queue(DELIVERY_QUEUE, { connection: context.connection, prefix: context.prefix });
  try {
    switch (sub) {
      case "list": {
        const limit = values.limit === undefined ? DEFAULT_LIMIT : Number(values.limit);
        if (!Number.isInteger(limit) || limit < 1)
          throw new UsageError(`--limit ${values.limit}: must be a whole number ≥ 1`);
        const records = await listDeliveries(queue, {
          limit,
          ...(values.endpoint === undefined ? {} : { endpoint: values.endpoint }),
          ...(values.failed ? { failed: true } : {}),
          ...(values.since === undefined ? {} : { since: parseSince(values.since, now()) }),
        });
        if (records.length === 0) context.print("no deliveries");
        for (const record of records) context.print(describe(record));
        return 0;
      }
      case "retry": {
        const id = positionals[0];
        if (id && (values.endpoint || values.since))
          throw new UsageError("deliveries retry takes an id, or --endpoint with --since, not both");
        if (!id && !(values.endpoint && values.since))
          throw new UsageError("deliveries retry needs an id, or --endpoint N --since T");
        const summary = await retryDeliveries(
          queue,
          id ? { id } : { endpoint: values.endpoint!, since: parseSince(values.since!, now()) },
        );
        const count = summary.retried.length;
        context.print(`${count} ${count === 1 ? "delivery" : "deliveries"} sent again (same webhook-id)`);
        for (const skipped of summary.skipped)
          context.print(`  ${skipped.id}: not retried, ${skipped.reason}`);
        return summary.retried.length === 0 && summary.skipped.length > 0 ? 1 : 0;
      }
      default:
        throw new UsageError("deliveries needs list or retry");
    }
  } finally {
    await queue.close();
  }
}

/** An ISO time, or a duration meaning that long ago. */
function parseSince(text: string, now: number): number {
  const ago = parseDuration(text);
  if (ago !== undefined) return now - ago;
  const at = Date.parse(text);
  if (Number.isNaN(at)) throw new UsageError(`--since ${text}: must be an ISO time or a duration such as 2h`);
  return at;
}

function describe(record: DeliveryRecord): string {
  const head = [
    record.id,
    record.endpoint,
    record.eventType,
    record.state.toUpperCase(),
    `${record.attempts.length} attempt${record.attempts.length === 1 ? "" : "s"}`,
    record.lagMs === undefined ? undefined : `lag ${formatMs(record.lagMs)}`,
    record.nextAttemptAt === undefined ? undefined : `next ${new Date(record.nextAttemptAt).toISOString()}`,
    `event ${record.eventId}`,
  ].filter(Boolean);
  const lines = [head.join("  ")];
  for (const attempt of record.attempts) {
    const outcome =
      attempt.status ?? (attempt.result === undefined ? "no result (in flight, or its worker died)" : "-");
    const latency = attempt.ms === undefined ? "" : `  ${formatMs(attempt.ms)}`;
    lines.push(
      `  ${new Date(attempt.sentAt).toISOString()}  ${outcome}${latency}${attempt.error ? `  ${attempt.error}` : ""}`,
    );
  }
  if (record.lastError && record.state === "failed") lines.push(`  last error: ${record.lastError}`);
  return lines.join("\n");
}

function formatMs(ms: number): string {
  return ms < 1000 ? `${ms} ms` : `${(ms / 1000).toFixed(1)} s`;
}

export const deliveriesCommand: CliCommand = {
  help: `${DELIVERIES_USAGE}

  Exit codes: 0, 2 bad usage, 4 Redis unreachable.`,
  run: (args, io) =>
    withOutpaintQueue(producerConfig(io.env), (_queue, context) =>
      runDeliveriesCommand(args, { ...context, print: (line) => io.out.write(`${line}\n`) }),
    ),
};
