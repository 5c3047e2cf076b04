import { createInterface } from "node:readline";
import type { Readable } from "node:stream";
import {
  type Anchor,
  anchorSchema,
  fitPolicySchema,
  maxGeneratedShareSchema,
  maxUpscaleSchema,
  parseShare,
  parseTargetSpec,
  type Target,
} from "@reframe/geometry";
import { OUTPUT_FORMATS } from "@reframe/jobs";
import { type Options as CsvOptions, parse as parseCsvStream } from "csv-parse";
import { parse as parseCsv } from "csv-parse/sync";
import { z } from "zod";
import type { SourceItem, SourceOverrides } from "./source-item.ts";

/**
 * Manifests: one source per row, as CSV (with a header line) or JSON Lines. A row names its source
 * as `source` (s3://bucket/key or an http(s) URL), or `key` (+ `bucket`, else the run's default
 * bucket), or `url`; it may carry `etag`, `width` and `height` (hints that spare reading the image's
 * header) and per-row overrides: `targets` (CSV: separated by "|"), `anchor`, `prefix`, `format`,
 * `quality`, `mode`, and the canvas policy: `fit`, `maxUpscale`, `maxGeneratedShare` (0.9 or 90%).
 * Every bad row is reported (line, field, rule) before anything is enqueued. A manifest is read whole
 * (parseManifest) or as a stream (readManifest), row by row, holding only the bad rows it reports.
 */

export const MANIFEST_FORMATS = ["csv", "jsonl"] as const;
export type ManifestFormat = (typeof MANIFEST_FORMATS)[number];

export interface ManifestIssue {
  line: number;
  field: string;
  rule: string;
}

/** Bad rows kept with their details; past them a manifest's bad rows are only counted. */
const KEPT_ISSUES = 100;

export class ManifestError extends Error {
  readonly code = "invalid-manifest";
  /** The first bad rows (at most KEPT_ISSUES); `count` counts them all. */
  readonly issues: ManifestIssue[];
  readonly count: number;
  constructor(name: string, issues: ManifestIssue[], count = issues.length) {
    const shown = issues.slice(0, 10).map((issue) => `  line ${issue.line}: ${issue.field} ${issue.rule}`);
    const more = count > 10 ? [`  … and ${count - 10} more`] : [];
    super([`${name}: ${count} bad row${count === 1 ? "" : "s"}`, ...shown, ...more].join("\n"));
    this.name = "ManifestError";
    this.issues = issues;
    this.count = count;
  }
}

/** CSV cells are text; an empty cell is an absent value. */
const blankToUndefined = (value: unknown) => (value === "" || value === null ? undefined : value);
const optional = <T extends z.ZodType>(schema: T) => z.preprocess(blankToUndefined, schema.optional());
/** A CSV cell holds text: "2" is 2, and text that is no number stays text for the schema to refuse. */
const numberFromText = (value: unknown) =>
  typeof value === "string" && value.trim() !== "" && !Number.isNaN(Number(value)) ? Number(value) : value;
const positiveInt = z.coerce.number().int("must be a whole number").min(1, "must be at least 1");

const rowSchema = z.looseObject({
  source: optional(z.string()),
  key: optional(z.string()),
  bucket: optional(z.string()),
  url: optional(z.string()),
  etag: optional(z.string()),
  width: optional(positiveInt),
  height: optional(positiveInt),
  targets: optional(z.union([z.array(z.string()), z.string().transform((text) => text.split("|"))])),
  anchor: optional(z.string()),
  prefix: optional(z.string()),
  format: optional(z.enum(OUTPUT_FORMATS, `must be one of ${OUTPUT_FORMATS.join(", ")}`)),
  quality: optional(
    z.coerce
      .number()
      .int("must be a whole number")
      .min(20, "must be at least 20")
      .max(99, "must be at most 99"),
  ),
  mode: optional(z.enum(["high", "fast"], "must be high or fast")),
  fit: optional(fitPolicySchema),
  maxUpscale: optional(z.preprocess(numberFromText, maxUpscaleSchema)),
  maxGeneratedShare: optional(
    z.preprocess((value) => (typeof value === "string" ? parseShare(value) : value), maxGeneratedShareSchema),
  ),
});
type Row = z.output<typeof rowSchema>;

export function manifestFormatOf(name: string): ManifestFormat | undefined {
  if (/\.csv$/i.test(name)) return "csv";
  if (/\.(jsonl|ndjson)$/i.test(name)) return "jsonl";
  return undefined;
}

export interface ManifestOptions {
  name: string;
  format: ManifestFormat;
  defaultBucket?: string;
}

/** Parses a whole manifest; throws ManifestError listing every bad row. */
export function parseManifest(text: string, options: ManifestOptions): SourceItem[] {
  const rows = manifestRows(options);
  const items: SourceItem[] = [];
  for (const record of records(text, options.format)) {
    const item = rows.item(record);
    if (item) items.push(item);
  }
  rows.finish();
  return items;
}

/**
 * A manifest read as a stream: each good row's item as it is read, then a ManifestError naming the
 * bad rows, if any, once the stream has ended. Holds one row at a time (and the bad rows it reports),
 * so a manifest of any length is read in the same memory.
 */
export async function* readManifest(input: Readable, options: ManifestOptions): AsyncGenerator<SourceItem> {
  const rows = manifestRows(options);
  for await (const record of streamedRecords(input, options.format)) {
    const item = rows.item(record);
    if (item) yield item;
  }
  rows.finish();
}

interface ManifestRecord {
  line: number;
  record: unknown;
  error?: string;
}

/** Rows into items, one at a time, keeping the first bad rows and counting them all. */
function manifestRows({ name, defaultBucket }: ManifestOptions) {
  const issues: ManifestIssue[] = [];
  let count = 0;
  const report = (issue: ManifestIssue) => {
    count += 1;
    if (issues.length < KEPT_ISSUES) issues.push(issue);
  };
  const targetSpecs = new Map<string, ReturnType<typeof parseTargetSpec>>();
  const parseRow = rowParser();
  return {
    item({ line, record, error }: ManifestRecord): SourceItem | undefined {
      if (error) {
        report({ line, field: "(row)", rule: error });
        return undefined;
      }
      const fast = parseRow(record);
      const parsed = fast ? { success: true as const, data: fast } : rowSchema.safeParse(record);
      if (!parsed.success) {
        for (const issue of parsed.error.issues)
          report({ line, field: issue.path.join(".") || "(row)", rule: issue.message });
        return undefined;
      }
      const item = itemOf(parsed.data, `${name} line ${line}`, defaultBucket, targetSpecs);
      if ("rule" in item) {
        report({ line, ...item });
        return undefined;
      }
      return item;
    },
    finish(): void {
      if (count > 0) throw new ManifestError(name, issues, count);
    },
  };
}

/** Distinct cells of one column remembered with their parsed value; past it the column starts over. */
const ROW_MEMO_CELLS = 4096;
const ROW_FIELDS = Object.keys(rowSchema.shape) as (keyof typeof rowSchema.shape)[];

/**
 * rowSchema, field by field: its fields are independent, and a manifest's columns repeat a few values
 * (sizes, targets, overrides), so each distinct cell of a column is parsed once while it repeats
 * (a whole-row parse was an eighth of a manifest plan's CPU). Undefined when the record is no
 * plain object, holds an object cell, or a cell fails: the whole row is parsed then, for its issues.
 * Unknown columns are left out (nothing reads them).
 */
function rowParser(): (record: unknown) => Row | undefined {
  const memos = new Map(ROW_FIELDS.map((field) => [field, new Map<unknown, { value: unknown }>()]));
  return (record) => {
    if (typeof record !== "object" || record === null || Array.isArray(record)) return undefined;
    const cells = record as Record<string, unknown>;
    const row: Record<string, unknown> = {};
    for (const field of ROW_FIELDS) {
      const raw = cells[field];
      if (typeof raw === "object" && raw !== null) return undefined;
      const memo = memos.get(field)!;
      let parsed = memo.get(raw);
      if (parsed === undefined) {
        const result = rowSchema.shape[field].safeParse(raw);
        if (!result.success) return undefined;
        if (memo.size >= ROW_MEMO_CELLS) memo.clear();
        parsed = { value: result.data };
        memo.set(raw, parsed);
      }
      if (parsed.value !== undefined) row[field] = parsed.value;
    }
    return row as Row;
  };
}

const CSV_OPTIONS: CsvOptions = {
  columns: (header: string[]) => header.map((column) => column.trim()),
  skip_empty_lines: true,
  trim: true,
  info: true,
  relax_column_count: false,
};

type CsvRow = { record: Record<string, string>; info: { lines: number } };

function jsonRecord(raw: string, line: number): ManifestRecord | undefined {
  if (raw.trim() === "") return undefined;
  try {
    return { line, record: JSON.parse(raw) };
  } catch {
    return { line, record: undefined, error: "is not valid JSON" };
  }
}

function* records(text: string, format: ManifestFormat): Generator<ManifestRecord> {
  if (format === "jsonl") {
    const lines = text.split(/\r?\n/);
    for (const [index, raw] of lines.entries()) {
      const record = jsonRecord(raw, index + 1);
      if (record) yield record;
    }
    return;
  }
  for (const { record, info } of parseCsv(text, CSV_OPTIONS) as unknown as CsvRow[])
    yield { line: info.lines, record };
}

async function* streamedRecords(input: Readable, format: ManifestFormat): AsyncGenerator<ManifestRecord> {
  if (format === "jsonl") {
    let line = 0;
    for await (const raw of createInterface({ input, crlfDelay: Number.POSITIVE_INFINITY })) {
      line += 1;
      const record = jsonRecord(raw, line);
      if (record) yield record;
    }
    return;
  }
  const parser = parseCsvStream(CSV_OPTIONS);
  input.on("error", (error) => parser.destroy(error));
  input.pipe(parser);
  for await (const { record, info } of parser as AsyncIterable<CsvRow>) yield { line: info.lines, record };
}

function itemOf(
  row: Row,
  origin: string,
  defaultBucket: string | undefined,
  targetSpecs: Map<string, ReturnType<typeof parseTargetSpec>>,
): SourceItem | Omit<ManifestIssue, "line"> {
  const named = [row.source, row.key, row.url].filter((value) => value !== undefined);
  if (named.length !== 1) return { field: "source", rule: "give exactly one of source, key or url" };
  const overrides = overridesOf(row, targetSpecs);
  if ("rule" in overrides) return overrides;
  const hints = {
    ...(row.width === undefined ? {} : { width: row.width }),
    ...(row.height === undefined ? {} : { height: row.height }),
  };
  const spec = row.source ?? (row.url !== undefined ? row.url : undefined);
  if (spec !== undefined && /^https?:\/\//.test(spec))
    return { source: { kind: "url", url: spec }, origin, overrides };
  if (spec !== undefined && !spec.startsWith("s3://"))
    return {
      field: row.url !== undefined ? "url" : "source",
      rule: "must be s3://bucket/key or an http(s) URL",
    };
  let bucket = row.bucket ?? defaultBucket;
  let key = row.key;
  if (spec !== undefined) {
    const match = /^s3:\/\/([^/]+)\/(.+)$/.exec(spec);
    if (!match) return { field: "source", rule: "must be s3://bucket/key" };
    [, bucket, key] = match;
  }
  if (!bucket) return { field: "bucket", rule: "is required for a key (or give the run a source bucket)" };
  return {
    source: { kind: "s3", bucket, key: key!, ...(row.etag ? { etag: row.etag } : {}), ...hints },
    origin,
    overrides,
  };
}

/** `targetSpecs`: the specs parsed so far in this manifest (its rows repeat a few targets). */
function overridesOf(
  row: Row,
  targetSpecs: Map<string, ReturnType<typeof parseTargetSpec>>,
): SourceOverrides | Omit<ManifestIssue, "line"> {
  const overrides: SourceOverrides = {};
  if (row.targets) {
    const targets: Target[] = [];
    for (const spec of row.targets) {
      let parsed = targetSpecs.get(spec);
      if (!parsed) {
        parsed = parseTargetSpec(spec);
        targetSpecs.set(spec, parsed);
      }
      if (!parsed.ok) return { field: "targets", rule: `${spec}: ${parsed.message}` };
      targets.push(parsed.target);
    }
    overrides.targets = targets;
  }
  if (row.anchor !== undefined) {
    const anchor = anchorSchema.safeParse(row.anchor);
    if (!anchor.success)
      return { field: "anchor", rule: "must be one of the nine anchor names (top-left … bottom-right)" };
    overrides.anchor = anchor.data as Anchor;
  }
  const output = {
    ...(row.prefix === undefined ? {} : { prefix: row.prefix }),
    ...(row.format === undefined ? {} : { format: row.format }),
    ...(row.quality === undefined ? {} : { quality: row.quality }),
  };
  if (Object.keys(output).length > 0) overrides.output = output;
  const options = {
    ...(row.mode === undefined ? {} : { mode: row.mode }),
    ...(row.fit === undefined ? {} : { fit: row.fit }),
    ...(row.maxUpscale === undefined ? {} : { maxUpscale: row.maxUpscale }),
    ...(row.maxGeneratedShare === undefined ? {} : { maxGeneratedShare: row.maxGeneratedShare }),
  };
  if (Object.keys(options).length > 0) overrides.options = options;
  return overrides;
}
