import { mkdir, writeFile } from "node:fs/promises";
import { join } from "node:path";

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

const escapeHtml = (text: string) =>
  text.replace(/[&<>"]/g, (c) => ({ "&": "&amp;", "<": "&lt;", ">": "&gt;", '"': "&quot;" })[c] ?? c);

/** A static page with each source beside its outputs, so a person can judge the outpainting. */
export async function writeDemoReport(directory: string, rows: DemoRow[]): Promise<string> {
  await mkdir(directory, { recursive: true });
  const figure = (file: string, caption: string) =>
    `<figure><img src="${escapeHtml(file)}" loading="lazy"><figcaption>${escapeHtml(caption)}</figcaption></figure>`;
  const sections = rows
    .map((row) => {
      const outputs = row.outputs
        .map((o) =>
          figure(
            o.file,
            `${o.target} → ${o.width}×${o.height}, ${(o.size / 1024).toFixed(0)} KiB, $${o.costUsd.toFixed(2)}`,
          ),
        )
        .join("");
      const failures = row.failures
        .map((f) => `<p class="failed">${escapeHtml(f.target)}: ${escapeHtml(f.reason)}</p>`)
        .join("");
      return `<section><h2>${escapeHtml(row.source.key)}</h2><div class="row">${figure(row.source.file, `source ${row.source.width}×${row.source.height}`)}${outputs}</div>${failures}</section>`;
    })
    .join("\n");
  const html = `<!doctype html><html><head><meta charset="utf-8"><title>reframe demo</title><style>
body{font-family:system-ui,sans-serif;margin:24px;background:#fafafa;color:#222}
.row{display:flex;gap:16px;align-items:flex-end;flex-wrap:wrap}
figure{margin:0;background:#fff;padding:8px;border:1px solid #ddd}
img{max-height:260px;max-width:420px;display:block;background:repeating-conic-gradient(#eee 0 25%,#fff 0 50%) 0/16px 16px}
figcaption{font-size:12px;color:#555;margin-top:4px}.failed{color:#b00}
</style></head><body><h1>reframe demo</h1><p>Each source beside its reformats (outpainted by the local emulator).</p>
${sections}</body></html>`;
  const path = join(directory, "index.html");
  await writeFile(path, html);
  return path;
}
