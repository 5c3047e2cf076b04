import { createHash } from "node:crypto";
import { mkdir, writeFile } from "node:fs/promises";
import { dirname, join } from "node:path";
import { formatScale, formatShare } from "@reframe/geometry";
import sharp from "sharp";
import { type Figure, type ReportFailure, type ReportRow, renderReportPage } from "./report-page.ts";

/** One source of a batch and how each of its jobs ended. */
export interface ReportSource {
  /** s3://bucket/key or the URL. */
  source: string;
  outputs: {
    target: string;
    bucket: string;
    key: string;
    width: number;
    height: number;
    /** The factor the source was resized by before outpainting (absent in results of older workers). */
    sourceScale?: number | undefined;
    /** The share of the output that was generated, 0 to 1. */
    generatedShare?: number | undefined;
  }[];
  failures: { target: string; code: string; message: string }[];
}

/** Reads an image: `ref` is s3://bucket/key or an http(s) URL. */
export type ImageLoader = (ref: string) => Promise<Uint8Array>;

export interface WriteReportOptions {
  /** The page's path; pictures go to `thumbs/` beside it. */
  file: string;
  title: string;
  intro?: string;
  summary: { label: string; value: string }[];
  sources: readonly ReportSource[];
  loadImage: ImageLoader;
  /**
   * Sources whose pictures are downloaded; the others are listed as text. Each picture is a
   * download, so a report of 100,000 sources would take as long as a second run: 500 is enough to
   * judge the look, and every failure is still listed.
   */
  maxSourcesWithPictures?: number;
  concurrency?: number;
  /** The longer side of a thumbnail, in pixels. */
  thumbnailSide?: number;
}

export interface WrittenReport {
  file: string;
  rows: number;
  pictures: number;
  /** Pictures that could not be read (gone, not an image): shown as a note in their place. */
  missing: number;
}

const DEFAULT_MAX_SOURCES_WITH_PICTURES = 500;

/** Downloads a thumbnail of each source and output (up to the cap) and writes the page beside them. */
export async function writeBatchReport(options: WriteReportOptions): Promise<WrittenReport> {
  const directory = dirname(options.file);
  await mkdir(join(directory, "thumbs"), { recursive: true });
  const cap = options.maxSourcesWithPictures ?? DEFAULT_MAX_SOURCES_WITH_PICTURES;
  const side = options.thumbnailSide ?? 320;
  let pictures = 0;
  let missing = 0;
  const picture = async (ref: string, caption: string): Promise<Figure> => {
    const file = `thumbs/${createHash("sha256").update(ref).digest("hex").slice(0, 24)}.webp`;
    try {
      const bytes = await options.loadImage(ref);
      const thumbnail = await sharp(bytes)
        .rotate()
        .resize(side, side, { fit: "inside", withoutEnlargement: true })
        .webp({ quality: 80 })
        .toBuffer();
      await writeFile(join(directory, file), thumbnail);
      pictures += 1;
      return { file, caption };
    } catch (error) {
      missing += 1;
      return { caption, missing: `no picture: ${error instanceof Error ? error.message : String(error)}` };
    }
  };
  const rows = await mapBounded(options.sources, options.concurrency ?? 6, async (item, index) => {
    const withPictures = index < cap;
    const outputs = item.outputs.map((output) => ({
      ref: `s3://${output.bucket}/${output.key}`,
      caption: `${output.target} → ${output.width}×${output.height}${planCaption(output)}`,
    }));
    const row: ReportRow = {
      title: item.source,
      source: withPictures ? await picture(item.source, "source") : { caption: "source" },
      outputs: [],
      failures: item.failures.map((failure) => ({ source: item.source, ...failure })),
    };
    for (const output of outputs) {
      row.outputs.push(
        withPictures
          ? await picture(output.ref, output.caption)
          : { caption: `${output.caption}: ${output.ref}` },
      );
    }
    return row;
  });
  const failures: ReportFailure[] = rows.flatMap((row) => row.failures);
  const notes =
    options.sources.length > cap
      ? [`Pictures for the first ${cap} of ${options.sources.length} sources; the others are listed by name.`]
      : [];
  await writeFile(
    options.file,
    renderReportPage({
      title: options.title,
      ...(options.intro ? { intro: options.intro } : {}),
      summary: options.summary,
      notes,
      rows,
      failures,
    }),
  );
  return { file: options.file, rows: rows.length, pictures, missing };
}

/** ", source ×2.11, 44% generated": how much of the output is the source, and at what scale. */
function planCaption(output: ReportSource["outputs"][number]): string {
  const parts = [
    ...(output.sourceScale === undefined ? [] : [`source ${formatScale(output.sourceScale)}`]),
    ...(output.generatedShare === undefined ? [] : [`${formatShare(output.generatedShare)} generated`]),
  ];
  return parts.length === 0 ? "" : `, ${parts.join(", ")}`;
}

/** `map` with at most `concurrency` calls at once; results keep the input's order. */
async function mapBounded<T, R>(
  items: readonly T[],
  concurrency: number,
  map: (item: T, index: number) => Promise<R>,
): Promise<R[]> {
  const results: R[] = new Array(items.length);
  let next = 0;
  await Promise.all(
    Array.from({ length: Math.min(concurrency, items.length) }, async () => {
      for (let index = next++; index < items.length; index = next++) {
        results[index] = await map(items[index]!, index);
      }
    }),
  );
  return results;
}
