/**
 * The report page as data, and its HTML. Pure: every picture is a file beside the page (written by
 * report-writer.ts), so the page works offline and carries no presigned URL (their signatures are
 * credentials for as long as they live).
 */

export interface Figure {
  /** Path relative to the page; absent when there is no picture (over the cap, or unreadable). */
  file?: string;
  caption: string;
  /** Why there is no picture, when that is news (an image that could not be read). */
  missing?: string;
}

export interface ReportFailure {
  source: string;
  target: string;
  code: string;
  message: string;
}

export interface ReportRow {
  /** The source's name: s3://bucket/key or its URL. */
  title: string;
  source: Figure;
  outputs: Figure[];
  failures: ReportFailure[];
}

export interface ReportPage {
  title: string;
  intro?: string;
  summary: { label: string; value: string }[];
  /** Said once above the rows, such as how many sources have pictures. */
  notes: string[];
  rows: ReportRow[];
  /** Every failure, with its reason, also those of rows shown without pictures. */
  failures: ReportFailure[];
}

const ENTITIES: Record<string, string> = {
  "&": "&amp;",
  "<": "&lt;",
  ">": "&gt;",
  '"': "&quot;",
  "'": "&#39;",
};

/** Text and attribute values alike: keys and provider messages are untrusted. */
export function escapeHtml(text: string): string {
  return text.replace(/[&<>"']/g, (c) => ENTITIES[c] ?? c);
}

function figureHtml(figure: Figure): string {
  const picture = figure.file
    ? `<img src="${escapeHtml(figure.file)}" alt="${escapeHtml(figure.caption)}" loading="lazy">`
    : figure.missing
      ? `<div class="missing">${escapeHtml(figure.missing)}</div>`
      : "";
  return `<figure>${picture}<figcaption>${escapeHtml(figure.caption)}</figcaption></figure>`;
}

function failureText(failure: ReportFailure): string {
  return `${failure.target}: ${failure.code} — ${failure.message}`;
}

function rowHtml(row: ReportRow): string {
  const failures = row.failures
    .map((failure) => `<p class="failed">${escapeHtml(failureText(failure))}</p>`)
    .join("");
  return `<section><h2>${escapeHtml(row.title)}</h2><div class="row">${figureHtml(row.source)}${row.outputs
    .map(figureHtml)
    .join("")}</div>${failures}</section>`;
}

function failuresTable(failures: readonly ReportFailure[]): string {
  if (failures.length === 0) return "";
  const rows = failures
    .map(
      (f) =>
        `<tr><td>${escapeHtml(f.source)}</td><td>${escapeHtml(f.target)}</td><td>${escapeHtml(f.code)}</td><td>${escapeHtml(f.message)}</td></tr>`,
    )
    .join("\n");
  return `<h2 id="failures">Failures (${failures.length})</h2><table class="failures"><thead><tr><th>source</th><th>target</th><th>reason</th><th>message</th></tr></thead><tbody>
${rows}
</tbody></table>`;
}

const STYLE = `body{font-family:system-ui,sans-serif;margin:24px;background:#fafafa;color:#222}
.row{display:flex;gap:16px;align-items:flex-end;flex-wrap:wrap}
figure{margin:0;background:#fff;padding:8px;border:1px solid #ddd}
img{max-height:260px;max-width:420px;display:block;background:repeating-conic-gradient(#eee 0 25%,#fff 0 50%) 0/16px 16px}
figcaption{font-size:12px;color:#555;margin-top:4px;max-width:420px;overflow-wrap:anywhere}
.missing{font-size:12px;color:#b00;padding:24px 8px}.failed{color:#b00}
h2{font-size:15px;overflow-wrap:anywhere}dl{display:grid;grid-template-columns:max-content auto;gap:2px 16px}
dt{color:#555}dd{margin:0}table{border-collapse:collapse;font-size:13px}
td,th{border:1px solid #ddd;padding:4px 8px;text-align:left;vertical-align:top}`;

export function renderReportPage(page: ReportPage): string {
  const summary = page.summary
    .map(({ label, value }) => `<dt>${escapeHtml(label)}</dt><dd>${escapeHtml(value)}</dd>`)
    .join("");
  const notes = page.notes.map((note) => `<p class="note">${escapeHtml(note)}</p>`).join("\n");
  return `<!doctype html><html><head><meta charset="utf-8"><title>${escapeHtml(page.title)}</title><style>
${STYLE}
</style></head><body><h1>${escapeHtml(page.title)}</h1>
${page.intro ? `<p>${escapeHtml(page.intro)}</p>` : ""}
${summary ? `<dl>${summary}</dl>` : ""}
${notes}
${page.rows.map(rowHtml).join("\n")}
${failuresTable(page.failures)}
</body></html>
`;
}
