/**
 * What a benchmark reports: one figure per measured quantity, its baseline measured in the same run,
 * the ratio between them, and its target (README: Benchmarks) with whether it was met. `pnpm bench` prints them
 * as a table and writes them as JSON (out/bench/).
 */

interface Target {
  /** Which number the target is about: the value itself or its ratio to the baseline. */
  on: "value" | "ratio";
  op: ">=" | "<=";
  limit: number;
}

export interface Figure {
  /** Stable id, `<benchmark>.<name>`: the smoke test checks that every one is present. */
  id: string;
  label: string;
  value: number;
  unit: string;
  baseline?: { value: number; label: string };
  /** value / baseline (or baseline / value when `ratioInverted`: "10× fewer requests"). */
  ratio?: number;
  target?: Target;
  met?: boolean;
  note?: string;
}

export interface FigureInput extends Omit<Figure, "ratio" | "met"> {
  /** The ratio is baseline / value (how many times fewer), not value / baseline. */
  ratioInverted?: boolean;
}

export function figure(input: FigureInput): Figure {
  const { ratioInverted, ...rest } = input;
  const out: Figure = { ...rest };
  if (input.baseline && input.baseline.value !== 0 && input.value !== 0) {
    out.ratio = ratioInverted ? input.baseline.value / input.value : input.value / input.baseline.value;
  }
  if (input.target) {
    const subject = input.target.on === "value" ? input.value : out.ratio;
    out.met =
      subject !== undefined &&
      Number.isFinite(subject) &&
      (input.target.op === ">=" ? subject >= input.target.limit : subject <= input.target.limit);
  }
  return out;
}

export interface BenchmarkResult {
  name: string;
  figures: Figure[];
  /** How the run was set up (sizes, latencies, settings), for the reader of the JSON. */
  setup: Record<string, unknown>;
  durationMs: number;
}

const formatNumber = (value: number): string => {
  const abs = Math.abs(value);
  if (abs >= 100_000) return Math.round(value).toLocaleString("en-US");
  if (abs >= 100) return value.toFixed(0);
  if (abs >= 10) return value.toFixed(1);
  if (abs >= 1) return value.toFixed(2);
  return value.toPrecision(2);
};

function formatValue(value: number, unit: string): string {
  if (unit === "bytes") {
    if (value >= 1024 * 1024) return `${(value / 1024 / 1024).toFixed(1)} MiB`;
    if (value >= 1024) return `${(value / 1024).toFixed(1)} KiB`;
    return `${Math.round(value)} B`;
  }
  return `${formatNumber(value)} ${unit}`.trim();
}

function formatTarget(target: Target | undefined, unit: string): string {
  if (!target) return "";
  const op = target.op === ">=" ? "≥" : "≤";
  return target.on === "ratio"
    ? `ratio ${op} ${formatNumber(target.limit)}`
    : `${op} ${formatValue(target.limit, unit)}`;
}

/** A plain-text table: figure, value, baseline, ratio, target, met. */
export function renderTable(results: readonly BenchmarkResult[]): string {
  const header = ["figure", "value", "baseline", "ratio", "target", "met"];
  const rows = results.flatMap((result) =>
    result.figures.map((f) => [
      f.label,
      formatValue(f.value, f.unit),
      f.baseline ? `${formatValue(f.baseline.value, f.unit)} (${f.baseline.label})` : "",
      f.ratio === undefined ? "" : `${formatNumber(f.ratio)}×`,
      formatTarget(f.target, f.unit),
      f.met === undefined ? "" : f.met ? "yes" : "NO",
    ]),
  );
  const widths = header.map((_, column) => Math.max(...[header, ...rows].map((row) => row[column]!.length)));
  const line = (row: string[]) =>
    row
      .map((cell, column) => cell.padEnd(widths[column]!))
      .join(" | ")
      .trimEnd();
  return [line(header), widths.map((w) => "-".repeat(w)).join("-|-"), ...rows.map(line)].join("\n");
}
