import type { BatchStatus, BreakerService, PauseState } from "@reframe/jobs";
import { escapeHtml as e } from "@reframe/report";

/**
 * The dashboard's own pages as HTML strings: no script, forms for the few actions (each with the
 * session's CSRF token), pictures from the dashboard's thumbnail route (never a presigned URL).
 */

export interface PageContext {
  base: string;
  csrf: string;
  actions: boolean;
}

const STYLE = `*{box-sizing:border-box}body{font-family:system-ui,sans-serif;margin:0;background:#f6f7f9;color:#1d2330}
header{background:#1d2330;color:#fff;padding:10px 24px;display:flex;gap:24px;align-items:center}
header a{color:#cfd6e4;text-decoration:none}header a:hover{color:#fff}header strong{font-size:17px;margin-right:8px}
header form{margin-left:auto}main{padding:20px 24px;max-width:1280px}
h1{font-size:20px;margin:4px 0 16px}h2{font-size:16px;margin:24px 0 8px}
table{border-collapse:collapse;background:#fff;font-size:13px;width:100%}
td,th{border-bottom:1px solid #e3e6eb;padding:6px 10px;text-align:left;vertical-align:top}th{background:#eef0f4;font-weight:600}
.num{text-align:right;font-variant-numeric:tabular-nums}.bar{background:#e3e6eb;height:8px;width:140px;border-radius:4px;overflow:hidden;display:inline-block;vertical-align:middle}
.bar span{display:block;height:100%;background:#2f9e6e}.bar .f{background:#d9534f;float:left}
.card{background:#fff;border:1px solid #e3e6eb;border-radius:6px;padding:12px 16px;margin-bottom:12px}
.paused{border-left:4px solid #d9534f}.running{border-left:4px solid #2f9e6e}
.muted{color:#6b7385}.failed{color:#b3261e}dl{display:grid;grid-template-columns:max-content auto;gap:4px 18px;margin:0}dt{color:#6b7385}dd{margin:0}
button{background:#2d5bd7;color:#fff;border:0;border-radius:4px;padding:6px 12px;cursor:pointer;font-size:13px}button.quiet{background:#4a5366}
.row{display:flex;gap:12px;align-items:flex-end;flex-wrap:wrap}figure{margin:0;background:#fff;border:1px solid #e3e6eb;padding:6px}
figure img{display:block;max-height:180px;max-width:280px;background:repeating-conic-gradient(#eee 0 25%,#fff 0 50%) 0/16px 16px}
figcaption{font-size:12px;color:#4a5366;margin-top:4px;max-width:280px;overflow-wrap:anywhere}figure.src{border-color:#8fa3d9}
section.source{background:#fff;border:1px solid #e3e6eb;border-radius:6px;padding:10px 14px;margin-bottom:12px}
section.source h3{font-size:13px;margin:0 0 8px;overflow-wrap:anywhere;font-weight:600}
.stats{display:flex;gap:12px;flex-wrap:wrap;margin-bottom:12px}.stat{background:#fff;border:1px solid #e3e6eb;border-radius:6px;padding:8px 14px;min-width:110px;color:#6b7385;font-size:13px}
.stat span{display:block;font-size:22px;color:#1d2330;font-weight:600}
.login{max-width:380px;margin:80px auto}.login input{width:100%;padding:8px;margin:8px 0 12px;font-size:14px}`;

function layout(title: string, body: string, context: PageContext | undefined): string {
  const nav = context
    ? `<a href="${context.base}">Overview</a><a href="${context.base}/pipelines">Pipelines</a><a href="${context.base}/queues">Queues (Bull Board)</a>
<form method="post" action="${context.base}/logout"><input type="hidden" name="csrf" value="${e(context.csrf)}"><button class="quiet">Log out</button></form>`
    : "";
  return `<!doctype html><html lang="en"><head><meta charset="utf-8"><meta name="viewport" content="width=device-width,initial-scale=1">
<title>${e(title)} · reframe</title><style>${STYLE}</style></head>
<body><header><strong>reframe</strong>${nav}</header><main>${body}</main></body></html>`;
}

export function loginPage(base: string, failed: boolean): string {
  return layout(
    "Log in",
    `<form class="login card" method="post" action="${base}/login">
<h1>reframe dashboard</h1>
<label for="token">Token (DASHBOARD_TOKEN, or the API token)</label>
<input id="token" name="token" type="password" autocomplete="current-password" autofocus required>
${failed ? `<p class="failed">That token does not open the dashboard.</p>` : ""}
<button>Log in</button></form>`,
    undefined,
  );
}

const usd = (value: number | undefined) => (value === undefined ? "—" : `$${value.toFixed(2)}`);
const when = (epochMs: number | undefined) =>
  epochMs ? new Date(epochMs).toISOString().replace("T", " ").slice(0, 19) : "—";

function actionForm(context: PageContext, action: string, label: string, quiet = false): string {
  if (!context.actions) return "";
  return `<form method="post" action="${context.base}${action}" style="display:inline"><input type="hidden" name="csrf" value="${e(context.csrf)}"><button${quiet ? ' class="quiet"' : ""}>${e(label)}</button></form>`;
}

function progressBar(status: Pick<BatchStatus, "total" | "completed" | "failed">): string {
  const total = Math.max(1, status.total);
  const done = (100 * status.completed) / total;
  const failed = (100 * status.failed) / total;
  return `<span class="bar" title="${status.completed} completed, ${status.failed} failed of ${status.total}"><span class="f" style="width:${failed.toFixed(1)}%"></span><span style="width:${done.toFixed(1)}%;margin-left:${failed.toFixed(1)}%"></span></span>`;
}

/** Where a batch is: still taking jobs (a bulk or pipeline run not yet sealed), running, or ended. */
function batchState(batch: Pick<BatchStatus, "closedAt" | "sealedAt" | "info">): string {
  if (batch.closedAt) return "ended";
  return batch.sealedAt || batch.info.kind === "api" || batch.info.kind === "cli" ? "running" : "adding jobs";
}

export interface QueueView {
  name: string;
  counts: Record<string, number>;
  pause: PauseState;
  /** The breakers (the provider's, S3's): one card each, red while open. */
  breakers: { service: BreakerService; open: boolean; line: string }[];
}

export interface AlertView {
  type: string;
  subject: string;
  message: string;
  time: string;
}

export function overviewPage(
  context: PageContext,
  queue: QueueView,
  batches: BatchStatus[],
  alerts: AlertView[],
): string {
  const pause = queue.pause.paused
    ? `<div class="card paused"><strong>The ${e(queue.name)} queue is paused</strong> — ${e(queue.pause.reason?.code ?? "manual")}: ${e(queue.pause.reason?.message ?? "")}
<span class="muted">(since ${when(queue.pause.reason?.pausedAt)})</span> ${actionForm(context, "/queue/resume", "Resume")}</div>`
    : `<div class="card running"><strong>The ${e(queue.name)} queue is running</strong></div>`;
  const breakers = queue.breakers
    .map(
      (breaker) =>
        `<div class="card ${breaker.open ? "paused" : "running"}"><strong>${breaker.service === "s3" ? "S3" : "Provider"} breaker ${breaker.open ? "open" : "closed"}</strong> — ${e(breaker.line)}</div>`,
    )
    .join("");
  const counts = Object.entries(queue.counts)
    .map(([state, count]) => `<div class="stat"><span class="num">${count}</span>${e(state)}</div>`)
    .join("");
  const rows = batches
    .map(
      (
        batch,
      ) => `<tr><td><a href="${context.base}/batches/${encodeURIComponent(batch.batchId)}">${e(batch.batchId)}</a></td>
<td>${e(batch.info.kind)}${batch.info.pipeline ? ` · ${e(batch.info.pipeline)}` : ""}</td><td>${when(batch.info.createdAt)}</td>
<td>${progressBar(batch)} <span class="muted">${batch.completed + batch.failed}/${batch.total}</span></td>
<td class="num">${batch.completed}</td><td class="num ${batch.failed ? "failed" : ""}">${batch.failed}</td><td class="num">${batch.inFlight}</td>
<td class="num">${usd(batch.costUsd)} <span class="muted">/ ${usd(batch.info.estimatedCostUsd)}</span></td>
<td>${batchState(batch)}</td></tr>`,
    )
    .join("\n");
  const alertRows = alerts
    .map(
      (alert) =>
        `<tr><td>${e(alert.time.replace("T", " ").slice(0, 19))}</td><td>${e(alert.type)}</td><td>${e(alert.subject)}</td><td>${e(alert.message)}</td></tr>`,
    )
    .join("\n");
  return layout(
    "Overview",
    `<h1>Overview</h1>${pause}${breakers}
<div class="stats">${counts}</div>
<h2>Batches and pipeline runs</h2>
${batches.length ? `<table><thead><tr><th>batch</th><th>kind</th><th>created (UTC)</th><th>progress</th><th class="num">completed</th><th class="num">failed</th><th class="num">in flight</th><th class="num">cost / estimate</th><th>state</th></tr></thead><tbody>${rows}</tbody></table>` : `<p class="muted">No batch yet.</p>`}
<h2>Recent alerts</h2>
${alerts.length ? `<table><thead><tr><th>time (UTC)</th><th>type</th><th>about</th><th>message</th></tr></thead><tbody>${alertRows}</tbody></table>` : `<p class="muted">No alert.</p>`}`,
    context,
  );
}

export interface SourceView {
  source: string;
  picture: string | undefined;
  outputs: { caption: string; picture: string | undefined }[];
  failures: { target: string; code: string; message: string }[];
}

export function batchPage(
  context: PageContext,
  status: BatchStatus,
  sources: SourceView[],
  more: number,
): string {
  const failures = Object.entries(status.failuresByReason)
    .filter(([, count]) => count > 0)
    .sort((a, b) => b[1] - a[1])
    .map(([code, count]) => `<tr><td>${e(code)}</td><td class="num">${count}</td></tr>`)
    .join("");
  const figure = (picture: string | undefined, caption: string, className = "") =>
    `<figure class="${className}">${picture ? `<img src="${e(picture)}" alt="${e(caption)}" loading="lazy">` : ""}<figcaption>${e(caption)}</figcaption></figure>`;
  const rows = sources
    .map(
      (row) =>
        `<section class="source"><h3>${e(row.source)}</h3><div class="row">${figure(row.picture, "source", "src")}${row.outputs
          .map((output) => figure(output.picture, output.caption))
          .join("")}</div>${row.failures
          .map((f) => `<p class="failed">${e(f.target)}: ${e(f.code)} — ${e(f.message)}</p>`)
          .join("")}</section>`,
    )
    .join("\n");
  return layout(
    `Batch ${status.batchId}`,
    `<h1>Batch ${e(status.batchId)}</h1>
<div class="card"><dl>
<dt>kind</dt><dd>${e(status.info.kind)}${status.info.pipeline ? ` (pipeline ${e(status.info.pipeline)})` : ""}</dd>
${status.info.description ? `<dt>started by</dt><dd>${e(status.info.description)}</dd>` : ""}
<dt>created (UTC)</dt><dd>${when(status.info.createdAt)}</dd>
<dt>progress</dt><dd>${progressBar(status)} ${status.completed + status.failed} of ${status.total} ended${status.closedAt ? ` at ${when(status.closedAt)}` : ""}</dd>
<dt>completed</dt><dd>${status.completed}</dd><dt>failed</dt><dd class="${status.failed ? "failed" : ""}">${status.failed}</dd>
<dt>in flight</dt><dd>${status.inFlight}</dd>
<dt>skipped</dt><dd>${status.skipped.done} done before, ${status.skipped.failed} failed before, ${status.skipped.inFlight} in flight elsewhere</dd>
<dt>cost</dt><dd>${usd(status.costUsd)} (estimated ${usd(status.info.estimatedCostUsd)})</dd>
</dl></div>
${failures ? `<h2>Failures by reason</h2><table style="width:auto"><thead><tr><th>reason</th><th class="num">jobs</th></tr></thead><tbody>${failures}</tbody></table>` : ""}
${status.failed > 0 ? `<p>${context.actions ? actionForm(context, `/batches/${encodeURIComponent(status.batchId)}/retry`, status.failed === 1 ? "Retry the failed job" : `Retry the ${status.failed} failed jobs`) : `<span class="muted">Retrying needs DASHBOARD_ACTIONS=on.</span>`}</p>` : ""}
<h2>Sources and their outputs</h2>
${rows || `<p class="muted">No job of this batch has ended yet.</p>`}
${more > 0 ? `<p class="muted">${more} more sources are not shown; the batch report (reframe batch status ${e(status.batchId)} --report FILE) lists them all.</p>` : ""}`,
    context,
  );
}

export interface PipelineView {
  name: string;
  schedule: string | undefined;
  nextRun: number | undefined;
  triggers: string[];
  budgetPerRunUsd: number | undefined;
  spentTodayUsd: number;
  dailyLimitUsd: number | undefined;
  lastRuns: RunView[];
}

/**
 * A pipeline run: its record says whether it was refused or its jobs enqueued; how far those jobs
 * are is its batch's (absent when the batch has expired).
 */
interface RunView {
  runId: string;
  state: "enqueued" | "refused";
  startedAt: number;
  reason?: string | undefined;
  batch?: BatchStatus | undefined;
}

function runProgress(run: RunView): string {
  if (run.state === "refused") return `refused <span class="failed">${e(run.reason ?? "")}</span>`;
  const batch = run.batch;
  if (!batch) return "enqueued";
  const failed = batch.failed ? `, <span class="failed">${batch.failed} failed</span>` : "";
  // A run over an unchanged library adds nothing: its jobs were already done or queued.
  const skipped = Object.values(batch.skipped).reduce((sum, count) => sum + count, 0);
  const already = skipped ? `, <span class="muted">${skipped} already done or queued</span>` : "";
  return `${batchState(batch)} <span class="muted">${batch.completed + batch.failed}/${batch.total}</span>${failed}${already}`;
}

export function pipelinesPage(context: PageContext, pipelines: PipelineView[]): string {
  const rows = pipelines
    .map(
      (
        p,
      ) => `<tr><td><strong>${e(p.name)}</strong></td><td>${p.schedule ? e(p.schedule) : `<span class="muted">none</span>`}</td>
<td>${when(p.nextRun)}</td><td>${p.triggers.map(e).join("<br>") || `<span class="muted">none</span>`}</td>
<td class="num">${usd(p.spentTodayUsd)}${p.dailyLimitUsd === undefined ? "" : ` <span class="muted">/ ${usd(p.dailyLimitUsd)} a day</span>`}</td>
<td class="num">${usd(p.budgetPerRunUsd)}</td>
<td>${p.lastRuns
        .map(
          (run) =>
            `<a href="${context.base}/batches/${encodeURIComponent(run.runId)}">${e(run.runId)}</a> ${runProgress(run)}`,
        )
        .join("<br>")}</td></tr>`,
    )
    .join("\n");
  return layout(
    "Pipelines",
    `<h1>Pipelines</h1>
${pipelines.length ? `<table><thead><tr><th>pipeline</th><th>schedule</th><th>next run (UTC)</th><th>upload triggers</th><th class="num">spent today (UTC)</th><th class="num">budget per run</th><th>recent runs</th></tr></thead><tbody>${rows}</tbody></table>` : `<p class="muted">No pipeline applied (reframe pipelines apply FILE).</p>`}`,
    context,
  );
}
