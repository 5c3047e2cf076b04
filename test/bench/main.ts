import { mkdir, writeFile } from "node:fs/promises";
import { cpus, loadavg, totalmem } from "node:os";
import { fileURLToPath } from "node:url";
import { parseArgs } from "node:util";
import { type BenchmarkResult, renderTable } from "./figures.ts";
import { BENCHMARKS, type BenchmarkName, type BenchOptions } from "./registry.ts";

/**
 * `pnpm bench [name…] [--scale 0.01] [--rows N] [--jobs N] [--out DIR]`: runs the benchmarks (all of
 * them, or the ones named), prints a table and writes out/bench/bench-<time>.json (and latest.json).
 * `--scale` multiplies every size (jobs, rows): the smoke test runs the whole harness at a tiny scale.
 * `--rows` sets bulkMillion's manifest length outright, `--jobs` redisCeiling's measured jobs.
 */

const REPO_ROOT = fileURLToPath(new URL("../../", import.meta.url));

export interface BenchReport {
  startedAt: string;
  scale: number;
  machine: {
    cpus: number;
    cpuModel: string;
    memoryBytes: number;
    node: string;
    loadAverageAtStart: number[];
  };
  results: BenchmarkResult[];
}

export async function runBenchmarks(
  names: readonly BenchmarkName[],
  scale: number,
  log: (line: string) => void = (line) => process.stderr.write(`${line}\n`),
  options: BenchOptions = {},
): Promise<BenchReport> {
  const report: BenchReport = {
    startedAt: new Date().toISOString(),
    scale,
    machine: {
      cpus: cpus().length,
      cpuModel: cpus()[0]?.model ?? "unknown",
      memoryBytes: totalmem(),
      node: process.version,
      loadAverageAtStart: loadavg(),
    },
    results: [],
  };
  for (const name of names) {
    log(`[bench] ${name} …`);
    const result = await BENCHMARKS[name].run(scale, options);
    log(`[bench] ${name} done in ${(result.durationMs / 1000).toFixed(1)} s`);
    report.results.push(result);
  }
  return report;
}

export async function writeReport(report: BenchReport, directory: string): Promise<string> {
  await mkdir(directory, { recursive: true });
  const file = `${directory}/bench-${report.startedAt.replace(/[:.]/g, "-")}.json`;
  const text = `${JSON.stringify(report, null, 2)}\n`;
  await writeFile(file, text);
  await writeFile(`${directory}/latest.json`, text);
  return file;
}

class UsageError extends Error {}

function wholeNumber(value: string | undefined, flag: string): number | undefined {
  if (value === undefined) return undefined;
  const number = Number(value);
  if (!(Number.isInteger(number) && number > 0))
    throw new UsageError(`${flag} must be a whole number above 0`);
  return number;
}

async function main(): Promise<void> {
  const { values, positionals } = parseArgs({
    allowPositionals: true,
    options: {
      scale: { type: "string", default: "1" },
      rows: { type: "string" },
      jobs: { type: "string" },
      out: { type: "string" },
    },
  });
  const scale = Number(values.scale);
  if (!(scale > 0)) throw new UsageError("--scale must be a positive number");
  const rows = wholeNumber(values.rows, "--rows");
  const jobs = wholeNumber(values.jobs, "--jobs");
  const known = Object.keys(BENCHMARKS) as BenchmarkName[];
  const unknown = positionals.filter((name) => !known.includes(name as BenchmarkName));
  if (unknown.length > 0)
    throw new UsageError(`unknown benchmark ${unknown.join(", ")}; known: ${known.join(", ")}`);
  const names = positionals.length > 0 ? (positionals as BenchmarkName[]) : known;
  const report = await runBenchmarks(names, scale, undefined, {
    ...(rows === undefined ? {} : { rows }),
    ...(jobs === undefined ? {} : { jobs }),
  });
  const file = await writeReport(report, values.out ?? `${REPO_ROOT}out/bench`);
  console.log(renderTable(report.results));
  console.log(
    `\n${report.machine.cpus} × ${report.machine.cpuModel}, Node ${report.machine.node}; JSON: ${file}`,
  );
}

if (process.argv[1] && fileURLToPath(import.meta.url) === process.argv[1]) {
  main().catch((error: unknown) => {
    console.error(error instanceof UsageError ? `pnpm bench: ${error.message}` : error);
    process.exit(error instanceof UsageError ? 2 : 1);
  });
}
