import { resolve } from "node:path";
import { parseArgs } from "node:util";
import { BATCH_ID_PATTERN } from "@reframe/jobs";
import { createImageLoader, writeBatchReport } from "@reframe/report";
import { UsageError } from "../source-spec.ts";
import { formatSummary, summarizeBatch, summaryLines } from "./batch-summary.ts";
import type { BulkContext } from "./bulk-context.ts";
import { followBatch } from "./follow-batch.ts";
import { INTERRUPTED_EXIT_CODE } from "./interrupt.ts";
import { createProgressLine } from "./progress-line.ts";

/** Where a run's report goes unless --report says otherwise. */
export function defaultReportFile(batchId: string): string {
  return resolve("out", "reports", batchId, "index.html");
}

export function reattachHint(batchId: string): string {
  return `reframe batch status ${batchId} --follow`;
}

/**
 * Follows a batch to its end (unless `follow` is false), prints its summary and writes its report.
 * Exit code: 0 when every awaited job completed, 1 when some failed, 130 when Ctrl-C stopped the
 * following (the batch runs on).
 */
export async function finishBatch(
  context: BulkContext,
  batchId: string,
  { follow, reportFile }: { follow: boolean; reportFile: string | undefined },
): Promise<number> {
  let status = await context.store.status(batchId);
  if (!status)
    throw new UsageError(`no batch ${batchId} (unknown, or expired 30 days after its last change)`);
  if (follow) {
    const outcome = await followBatch(context.store, batchId, {
      progress: createProgressLine({ stream: context.err }),
      signal: context.interrupt.signal,
    });
    if (outcome.kind === "interrupted") {
      context.err.write(`batch ${batchId} keeps running; reattach with: ${reattachHint(batchId)}\n`);
      return INTERRUPTED_EXIT_CODE;
    }
    status = outcome.status;
  }
  const summary = await summarizeBatch(context.store, status, context.now());
  context.out.write(`${formatSummary(summary)}\n`);
  if (reportFile) {
    context.err.write(`writing the report (pictures of up to 500 sources)…\n`);
    const report = await writeBatchReport({
      file: reportFile,
      title: `reframe batch ${batchId}`,
      intro: "Each source beside its outputs; every failure with its reason below.",
      summary: summaryLines(summary),
      sources: summary.sources,
      loadImage: createImageLoader({ s3: context.s3, sourceFetch: context.sourceFetch }),
    });
    context.out.write(`report: ${report.file}\n`);
  }
  return status.failed > 0 ? 1 : 0;
}

const BATCH_STATUS_FLAGS = {
  follow: { type: "boolean" },
  report: { type: "string" },
  help: { type: "boolean", short: "h" },
} as const;

/** `reframe batch status <id> [--follow] [--report FILE]`: any batch, bulk, API or pipeline run. */
export function parseBatchStatusArgs(args: string[]): {
  batchId: string;
  follow: boolean;
  reportFile: string | undefined;
  help: boolean;
} {
  const [subcommand, ...rest] = args;
  if (subcommand !== "status") throw new UsageError("batch needs a subcommand: batch status <id>");
  const { values, positionals } = parseArgs({
    args: rest,
    options: BATCH_STATUS_FLAGS,
    allowPositionals: true,
    strict: true,
  });
  if (values.help) return { batchId: "", follow: false, reportFile: undefined, help: true };
  if (positionals.length !== 1) throw new UsageError("batch status needs one batch id");
  if (!BATCH_ID_PATTERN.test(positionals[0]!))
    throw new UsageError(`batch id ${positionals[0]}: letters, digits, '.', '_' or '-', at most 128`);
  return {
    batchId: positionals[0]!,
    follow: values.follow ?? false,
    reportFile: values.report === undefined ? undefined : resolve(values.report),
    help: false,
  };
}
