import { isCopyPlan, OUTPAINT_LIMITS, planCanvas, type Size } from "@reframe/geometry";
import { checkPixels, type ImageInspection, inspectImage, type SourceLimits } from "@reframe/images";
import { type OutpaintJob, sourceIdentity } from "@reframe/jobs";
import { type SourceAccess, withSourceRanges } from "./source-bytes.ts";
import { SOURCE_PROBLEM_ESTIMATES, type SourceProblemCode, sourceProblemOf } from "./source-problems.ts";

/**
 * What a job will do and cost, computed before it is enqueued with the same planCanvas, limits and
 * canvas policy the worker uses, so a dry run's numbers are the run's numbers (and what is billed).
 */
export type JobEstimate =
  | {
      kind: "outpaint";
      costUsd: number;
      megapixels: number;
      output: Size;
      /** The factor the source is resized by first: below 1 scaled down, above 1 scaled up to fit. */
      sourceScale: number;
      /** The share of each output that is generated, 0 to 1. */
      generatedShare: number;
    }
  /** The source is already at the target (at the planned scale): copied without a provider call. */
  | { kind: "copy"; output: Size; sourceScale: number }
  | { kind: "refused"; code: string; message: string }
  | { kind: "unreadable"; code: string; message: string };

export type SourceDimensions = { ok: true; size: Size } | { ok: false; code: string; message: string };

export function estimateJob(job: OutpaintJob, source: SourceDimensions): JobEstimate {
  if (!source.ok) {
    const kind = SOURCE_PROBLEM_ESTIMATES[source.code as SourceProblemCode] ?? "unreadable";
    return { kind, code: source.code, message: source.message };
  }
  const planned = planCanvas({
    source: source.size,
    target: job.target,
    limits: OUTPAINT_LIMITS,
    policy: job.options,
  });
  if (!planned.ok) return { kind: "refused", code: planned.reason, message: planned.message };
  const { output, costUsd, sourceScale, generatedShare } = planned.plan;
  if (isCopyPlan(planned.plan)) {
    // The worker refuses a watermark on a copy: it needs the provider.
    return job.options.watermark
      ? { kind: "refused", code: "already-at-target", message: "a watermark needs an outpaint" }
      : { kind: "copy", output, sourceScale };
  }
  const variants = job.options.variants;
  return {
    kind: "outpaint",
    costUsd: costUsd * variants,
    megapixels: ((output.width * output.height) / OUTPAINT_LIMITS.megapixel) * variants,
    output,
    sourceScale,
    generatedShare,
  };
}

/**
 * Estimates every job, reading each distinct source's dimensions once (from the job's hints, else a
 * ranged GET of its header), `concurrency` reads at a time.
 */
export async function estimateJobs(
  jobs: readonly OutpaintJob[],
  {
    dimensionsOf,
    concurrency = 16,
    onProgress,
  }: {
    dimensionsOf: (source: OutpaintJob["source"]) => Promise<SourceDimensions>;
    concurrency?: number;
    onProgress?: (done: number, total: number) => void;
  },
): Promise<JobEstimate[]> {
  const bySource = new Map<string, OutpaintJob["source"]>();
  for (const job of jobs) bySource.set(sourceKey(job.source), job.source);
  const dimensions = new Map<string, SourceDimensions>();
  const pending = [...bySource];
  // A shared cursor, not shift(): shifting a 100,000-entry array is linear each time.
  let cursor = 0;
  let done = 0;
  await Promise.all(
    Array.from({ length: Math.min(concurrency, pending.length) }, async () => {
      while (cursor < pending.length) {
        const [identity, source] = pending[cursor++]!;
        // An estimate does not retry: a transient failure counts as unreadable, with its message.
        dimensions.set(
          identity,
          await dimensionsOf(source).catch((error: unknown) => ({
            ok: false as const,
            code: "sourceUnreadable",
            message: error instanceof Error ? error.message : String(error),
          })),
        );
        done += 1;
        onProgress?.(done, bySource.size);
      }
    }),
  );
  return jobs.map((job) => estimateJob(job, dimensions.get(sourceKey(job.source))!));
}

/** What reading a source found: its size, and what its header says (absent for a source with known dimensions). */
export type SourceInspection =
  | { ok: true; size: Size; image: ImageInspection | undefined }
  | { ok: false; code: SourceProblemCode; message: string };

/**
 * A source's size and what it is, checked against the limits before its body is downloaded: from
 * its hints (known dimensions from a manifest are trusted, and only the pixel limit is checked), or
 * from its header (a ranged GET, more when the header needs it; see inspectImage). A problem retrying
 * cannot fix is a value; a transient failure (network, 5xx) is thrown. The worker's plan and every
 * estimate read sources through this one function, so a dry run counts what the run will refuse.
 */
export async function inspectSource(
  source: OutpaintJob["source"],
  access: SourceAccess & { limits: SourceLimits },
): Promise<SourceInspection> {
  const where = source.kind === "s3" ? `s3://${source.bucket}/${source.key}` : source.url;
  try {
    if (source.kind === "s3" && source.width && source.height) {
      checkPixels(source.width, source.height, access.limits);
      return { ok: true, size: { width: source.width, height: source.height }, image: undefined };
    }
    const image = await withSourceRanges(source, access, (read) => inspectImage(read, access.limits));
    return { ok: true, size: { width: image.width, height: image.height }, image };
  } catch (error) {
    const problem = sourceProblemOf(error, where);
    if (problem) return { ok: false, ...problem };
    throw error;
  }
}

export interface EstimateSummary {
  jobs: number;
  outpaint: number;
  /** Outpaints whose source is scaled down first (larger than an exact size, or over the provider's limits). */
  prescaled: number;
  /** Outpaints whose source is scaled up first, to fit an exact size. */
  upscaled: number;
  /** The generated share of the outpaints' outputs (0 to 1), on average and at most; absent without outpaints. */
  generatedShare: { mean: number; max: number } | undefined;
  copies: number;
  refused: number;
  unreadable: number;
  costUsd: number;
  megapixels: number;
  /** Reason codes of refused and unreadable jobs, with counts. */
  problems: Record<string, number>;
}

export function summarizeEstimates(estimates: readonly JobEstimate[]): EstimateSummary {
  const tally = startEstimateTally();
  for (const estimate of estimates) tally.add(estimate);
  return tally.summary();
}

/** An EstimateSummary added up one estimate at a time: a streamed plan keeps the sums, not the estimates. */
export interface EstimateTally {
  add(estimate: JobEstimate): void;
  summary(): EstimateSummary;
}

export function startEstimateTally(): EstimateTally {
  let jobs = 0;
  let outpaint = 0;
  let prescaled = 0;
  let upscaled = 0;
  let copies = 0;
  const failing = { refused: 0, unreadable: 0 };
  // Cents are summed as integers, so the total does not depend on how many jobs there are.
  let cents = 0;
  let megapixels = 0;
  let shareSum = 0;
  let shareMax = 0;
  const problems: Record<string, number> = {};
  return {
    add(estimate) {
      jobs += 1;
      switch (estimate.kind) {
        case "outpaint":
          outpaint += 1;
          if (estimate.sourceScale < 1) prescaled += 1;
          if (estimate.sourceScale > 1) upscaled += 1;
          shareSum += estimate.generatedShare;
          shareMax = Math.max(shareMax, estimate.generatedShare);
          cents += Math.round(estimate.costUsd * 100);
          megapixels += estimate.megapixels;
          break;
        case "copy":
          copies += 1;
          break;
        case "refused":
        case "unreadable":
          failing[estimate.kind] += 1;
          problems[estimate.code] = (problems[estimate.code] ?? 0) + 1;
          break;
        default:
          throw new Error(`unknown estimate ${JSON.stringify(estimate satisfies never)}`);
      }
    },
    summary() {
      return {
        jobs,
        outpaint,
        prescaled,
        upscaled,
        generatedShare: outpaint > 0 ? { mean: shareSum / outpaint, max: shareMax } : undefined,
        copies,
        refused: failing.refused,
        unreadable: failing.unreadable,
        costUsd: cents / 100,
        megapixels: Math.round(megapixels * 100) / 100,
        problems: { ...problems },
      };
    },
  };
}

/** One source, one key: sourceIdentity builds its members in a fixed order, so plain JSON will do. */
function sourceKey(source: OutpaintJob["source"]): string {
  return JSON.stringify(sourceIdentity(source));
}
