import { mkdtemp, readFile, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterEach, describe, expect, it } from "vitest";
import { type BenchReport, runBenchmarks, writeReport } from "./main.ts";
import { BENCHMARKS, type BenchmarkName } from "./registry.ts";

/**
 * The benchmark harness at a tiny scale (tens of jobs): every benchmark runs end to end and its JSON
 * carries every figure with a number, so `pnpm bench` cannot rot. No timing is asserted.
 */
describe("pnpm bench at a tiny scale", () => {
  let directory: string | undefined;
  afterEach(async () => {
    if (directory) await rm(directory, { recursive: true, force: true });
  });

  it("runs every benchmark and writes a JSON report with every figure", async () => {
    directory = await mkdtemp(join(tmpdir(), "reframe-bench-"));
    const names = Object.keys(BENCHMARKS) as BenchmarkName[];
    const file = await writeReport(await runBenchmarks(names, 0.004, () => undefined), directory);
    const report = JSON.parse(await readFile(file, "utf8")) as BenchReport;
    const figures = new Map(report.results.flatMap((result) => result.figures.map((f) => [f.id, f])));
    const expected = names.flatMap((name) => [...BENCHMARKS[name].figures]);
    expect([...figures.keys()].sort()).toEqual([...expected].sort());
    for (const figure of figures.values()) {
      expect(Number.isFinite(figure.value), figure.id).toBe(true);
      if (figure.target) expect(typeof figure.met, figure.id).toBe("boolean");
    }
  }, 480_000);
});
