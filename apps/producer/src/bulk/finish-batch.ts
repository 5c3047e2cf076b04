import { resolve } from "node:path";
import { createImageLoader, writeBatchReport } from "@reframe/report";
import { batchView } from "../batch-view.ts";
import { UsageError } from "../cli/usage-error.ts";
import { type BatchSummary, formatSummary, summarizeBatch, summaryLines } from "./batch-summary.ts";
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
 * Follows a batch to its end (unless `follow` is false), prints its summary (as JSON with `json`)
 * and writes its report. Exit code: 0 when every awaited job completed, 1 when some failed, 130 when
 * Ctrl-C stopped the following (the batch runs on).
 */
export async function finishBatch(
  context: BulkContext,
  batchId: string,
  { follow, reportFile, json = false }: { follow: boolean; reportFile: string | undefined; json?: boolean },
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
  context.out.write(
    json ? `${JSON.stringify(summaryJson(summary), null, 2)}\n` : `${formatSummary(summary)}\n`,
  );
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
    (json ? context.err : context.out).write(`report: ${report.file}\n`);
  }
  return status.failed > 0 ? 1 : 0;
}

function summaryJson(summary: BatchSummary) {
  return { ...batchView(summary.status), p50Ms: summary.p50Ms, p95Ms: summary.p95Ms, wallMs: summary.wallMs };
}
