import { mkdir, writeFile } from "node:fs/promises";
import { join } from "node:path";
import { renderReportPage } from "@reframe/report";

export interface DemoRow {
  source: { key: string; file: string; width: number; height: number };
  outputs: {
    target: string;
    key: string;
    file: string;
    width: number;
    height: number;
    size: number;
    costUsd: number;
  }[];
  failures: { target: string; reason: string }[];
}

/**
 * A static page with each source beside its outputs, so a person can judge the outpainting: the
 * same page as a bulk run's report (packages/report), with the full-size images the demo wrote.
 */
export async function writeDemoReport(directory: string, rows: DemoRow[]): Promise<string> {
  await mkdir(directory, { recursive: true });
  const failures = rows.flatMap((row) =>
    row.failures.map((failure) => ({
      source: row.source.key,
      target: failure.target,
      code: "failed",
      message: failure.reason,
    })),
  );
  const html = renderReportPage({
    title: "reframe demo",
    intro: "Each source beside its reformats (outpainted by the local emulator).",
    summary: [],
    notes: [],
    rows: rows.map((row) => ({
      title: row.source.key,
      source: { file: row.source.file, caption: `source ${row.source.width}×${row.source.height}` },
      outputs: row.outputs.map((o) => ({
        file: o.file,
        caption: `${o.target} → ${o.width}×${o.height}, ${(o.size / 1024).toFixed(0)} KiB, $${o.costUsd.toFixed(2)}`,
      })),
      failures: failures.filter((failure) => failure.source === row.source.key),
    })),
    failures,
  });
  const path = join(directory, "index.html");
  await writeFile(path, html);
  return path;
}
