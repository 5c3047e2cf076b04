import { randomUUID } from "node:crypto";
import { mkdir, writeFile } from "node:fs/promises";
import { dirname } from "node:path";
import { COMPLETION_EVENT_TYPE, DELIVERY_QUEUE, openRouteQueues, publishEvent } from "@reframe/jobs";
import { type LocalStack, startLocalStack } from "@reframe/local-stack";
import { attemptsFromLog, createEndpointStore } from "@reframe/outbound";
import {
  seededRandom,
  startWebhookReceiver,
  type WebhookAnswer,
  type WebhookReceiver,
} from "@reframe/testkit";
import { type Job, Queue } from "bullmq";
import { type StackClients, stackClients } from "../outpaint-flow/stack-fixture.ts";
import { ChaosActions } from "./chaos-run.ts";

/**
 * The outbound fault-injection run: events published (by publishEvent, as the worker's finalize
 * does) to two endpoints whose receivers answer 500, hold the answer past the timeout, close the
 * connection, answer slowly (within the timeout) or, at the second endpoint only, answer 410 Gone,
 * at injected rates; meanwhile a worker process is SIGKILLed every few seconds and started again,
 * and Redis (with AOF) is restarted once. The receivers verify every request with the
 * standardwebhooks package. Then: every event must have reached the endpoint that stayed enabled
 * (a 2xx answered within the timeout), no request may fail verification, and no request may have
 * been sent to the other endpoint after reframe disabled it (seen from both sides: the signed
 * timestamp at the receiver, and the attempts in reframe's delivery records).
 */

export interface OutboundChaosOptions {
  events: number;
  workers?: number;
  killEveryMs?: { min: number; max: number };
  /** Share of the deliveries finished when Redis is restarted (once). */
  redisRestartAt?: number;
  seed?: number;
  drainTimeoutMs?: number;
  logFile?: string;
  onProgress?: (line: string) => void;
}

/** Per request, at each receiver; `gone` only at the endpoint that ends up disabled. */
const OUTBOUND_FAULTS = { error500: 0.12, timeout: 0.04, close: 0.04, slow: 0.1, gone: 0.004 };

const TIMEOUT_MS = 1000;
const SLOW_MS = { min: 200, max: 700 };
/** Compressed like the default schedule (roughly doubling), ten retries over about 21 s. */
const RETRY_SCHEDULE = "100ms,200ms,400ms,800ms,1s,2s,3s,4s,5s,5s";
const STEADY = "chaos-steady";
const GONE = "chaos-gone";

export interface OutboundReport {
  seed: number;
  events: number;
  injected: Record<string, number>;
  workerKills: number;
  redisRestarts: number;
  drainMs: number | undefined;
  steady: {
    /** Events answered 2xx within the timeout at least once. */
    delivered: number;
    /** Requests answered 2xx per event: how many events got 1, 2, … */
    twoXxPerEvent: Record<string, number>;
    duplicates: number;
    requests: number;
    lagMs: { p50: number; p99: number; max: number };
    /** reframe's own records: deliveries in state delivered. */
    recordsDelivered: number;
  };
  gone: {
    disabledAt: number | undefined;
    disabledReason: string | undefined;
    requests: number;
    /** Requests that arrived after the disable but were sent before it (in flight), seen in records. */
    inFlightAtDisable: number;
    failedAsDisabled: number;
  };
  mustBeZero: {
    neverDelivered: number;
    badSignatures: number;
    sentToDisabledEndpoint: number;
  };
  /** The first few event ids behind each non-zero figure. */
  examples: Record<string, string[]>;
}

export async function runOutboundChaos(options: OutboundChaosOptions): Promise<OutboundReport> {
  const seed = options.seed ?? Math.floor(Math.random() * 2 ** 31);
  const random = seededRandom(seed);
  const progress = options.onProgress ?? (() => undefined);
  const injected: Record<string, number> = { error500: 0, timeout: 0, close: 0, slow: 0, gone: 0 };
  const answer = (allowGone: boolean) => (): WebhookAnswer => {
    const draw = random();
    let edge = 0;
    for (const [fault, rate] of Object.entries(OUTBOUND_FAULTS)) {
      if (fault === "gone" && !allowGone) continue;
      edge += rate;
      if (draw >= edge) continue;
      injected[fault]! += 1;
      if (fault === "error500") return { status: 500 };
      if (fault === "timeout") return { status: 200, delayMs: TIMEOUT_MS * 3 };
      if (fault === "close") return { close: true };
      if (fault === "slow")
        return { status: 200, delayMs: SLOW_MS.min + random() * (SLOW_MS.max - SLOW_MS.min) };
      return { status: 410 };
    }
    return { status: 200 };
  };
  const steady = await startWebhookReceiver({ secrets: [], answer: answer(false) });
  const gone = await startWebhookReceiver({ secrets: [], answer: answer(true) });
  let stack: LocalStack | undefined;
  let clients: StackClients | undefined;
  try {
    stack = await startLocalStack({
      workers: options.workers ?? 2,
      webhooks: false,
      appendOnly: true,
      workerEnv: {
        RECONCILER: "false",
        PIPELINE_RUNS: "false",
        DELIVERY_TIMEOUT_MS: String(TIMEOUT_MS),
        DELIVERY_RETRY_SCHEDULE: RETRY_SCHEDULE,
        DELIVERY_CONCURRENCY: "50",
        WORKER_LOCK_DURATION_MS: "5000",
        WORKER_STALLED_INTERVAL_MS: "2500",
      },
    });
    clients = stackClients(stack);
    clients.connection.on("error", () => undefined);
    const endpoints = createEndpointStore(clients.connection);
    for (const [name, receiver] of [
      [STEADY, steady],
      [GONE, gone],
    ] as const) {
      const { generatedSecret } = await endpoints.add({ name, url: receiver.url });
      receiver.setSecrets([generatedSecret!]);
    }
    const routes = openRouteQueues({ connection: clients.connection });
    const deliveries = new Queue(DELIVERY_QUEUE, { connection: clients.connection, prefix: "{reframe}" });
    deliveries.on("error", () => undefined);
    const chaos = new ChaosActions(stack, random, options.killEveryMs ?? { min: 3000, max: 6000 });
    const publishedAt = new Map<string, number>();
    const startedAt = Date.now();
    chaos.startKilling();
    progress(`seed ${seed}: publishing ${options.events} events to ${STEADY} and ${GONE}`);
    const waves = 20;
    for (let wave = 0; wave < waves; wave += 1) {
      const from = Math.floor((options.events * wave) / waves);
      const to = Math.floor((options.events * (wave + 1)) / waves);
      const batch = Array.from({ length: to - from }, (_, i) => completionEvent(from + i));
      for (const event of batch) publishedAt.set(event.id, Date.now());
      await Promise.all(
        batch.map((event) => publishEvent(routes, [`webhook:${STEADY}`, `webhook:${GONE}`], event)),
      );
      await new Promise((resolve) => setTimeout(resolve, 250));
    }
    const total = options.events * 2;
    const drainedAt = await waitForDeliveries(deliveries, total, {
      timeoutMs: options.drainTimeoutMs ?? 15 * 60_000,
      restartRedisAt: Math.ceil(total * (options.redisRestartAt ?? 0.4)),
      chaos,
      progress: (finished) =>
        progress(
          `${Math.round((Date.now() - startedAt) / 1000)} s: ${finished}/${total} deliveries finished · workers SIGKILLed ${chaos.kills} · Redis restarted ${chaos.redisFaults}`,
        ),
    });
    await chaos.stop();
    progress(drainedAt ? "drained; checking every request and record" : "did not drain; checking");
    const goneState = (await endpoints.get(GONE))?.state;
    const records = await readRecords(deliveries);
    await deliveries.close();
    await routes.close();
    return computeOutboundReport({
      seed,
      publishedAt,
      steady: steady.received,
      gone: gone.received,
      records,
      disabledAt: goneState?.disabledAt,
      disabledReason: goneState?.disabledReason,
      injected,
      workerKills: chaos.kills,
      redisRestarts: chaos.redisFaults,
      drainMs: drainedAt === undefined ? undefined : drainedAt - startedAt,
    });
  } finally {
    await clients?.close().catch(() => undefined);
    if (options.logFile && stack) {
      await mkdir(dirname(options.logFile), { recursive: true });
      await writeFile(options.logFile, stack.outputs());
    }
    await stack?.stop();
    await steady.close();
    await gone.close();
  }
}

function completionEvent(n: number) {
  return {
    specversion: "1.0",
    id: `evt-${randomUUID().replaceAll("-", "")}`,
    source: "/reframe/worker",
    type: COMPLETION_EVENT_TYPE,
    subject: `chaos/${n}.jpg`,
    time: new Date().toISOString(),
    datacontenttype: "application/json",
    data: { jobId: `op-chaos-${n}` },
  };
}

async function waitForDeliveries(
  queue: Queue,
  total: number,
  settings: {
    timeoutMs: number;
    restartRedisAt: number;
    chaos: ChaosActions;
    progress: (finished: number) => void;
  },
): Promise<number | undefined> {
  const deadline = Date.now() + settings.timeoutMs;
  let lastReport = 0;
  while (Date.now() < deadline) {
    const counts = await queue.getJobCounts("completed", "failed").catch(() => undefined);
    if (counts) {
      const finished = (counts.completed ?? 0) + (counts.failed ?? 0);
      if (finished >= total) return Date.now();
      if (settings.chaos.redisFaults === 0 && finished >= settings.restartRedisAt)
        await settings.chaos.failRedis();
      if (Date.now() - lastReport >= 5000) {
        settings.progress(finished);
        lastReport = Date.now();
      }
    }
    await new Promise((resolve) => setTimeout(resolve, 200));
  }
  return undefined;
}

interface RecordFacts {
  endpoint: string;
  eventId: string;
  state: string;
  failedReason: string;
  attempts: { sentAt: number }[];
}

async function readRecords(queue: Queue): Promise<RecordFacts[]> {
  const jobs = (await queue.getJobs(["completed", "failed", "active", "waiting", "delayed"], 0, -1)) as Job[];
  const facts: RecordFacts[] = [];
  for (const job of jobs) {
    if (!job?.id) continue;
    const { logs } = await queue.getJobLogs(job.id, 0, -1, true);
    facts.push({
      endpoint: job.data.endpoint,
      eventId: job.data.event.id,
      state: await job.getState(),
      failedReason: job.failedReason ?? "",
      attempts: attemptsFromLog(logs),
    });
  }
  return facts;
}

function computeOutboundReport(facts: {
  seed: number;
  publishedAt: Map<string, number>;
  steady: WebhookReceiver["received"];
  gone: WebhookReceiver["received"];
  records: RecordFacts[];
  disabledAt: number | undefined;
  disabledReason: string | undefined;
  injected: Record<string, number>;
  workerKills: number;
  redisRestarts: number;
  drainMs: number | undefined;
}): OutboundReport {
  const examples: Record<string, string[]> = {};
  const note = (figure: string, id: string) => {
    const list = examples[figure] ?? [];
    examples[figure] = list;
    if (list.length < 5) list.push(id);
  };
  // Delivered: answered 2xx within the timeout (a late 200 is a timeout to reframe, and retried).
  const inTime = (request: WebhookReceiver["received"][number]) =>
    request.status !== undefined &&
    request.status >= 200 &&
    request.status < 300 &&
    (request.answeredAfterMs ?? Infinity) < TIMEOUT_MS;
  const twoXx = new Map<string, number>();
  const firstAt = new Map<string, number>();
  for (const request of facts.steady) {
    if (!inTime(request) || !request.verified) continue;
    twoXx.set(request.id, (twoXx.get(request.id) ?? 0) + 1);
    if (!firstAt.has(request.id)) firstAt.set(request.id, request.arrivedAt);
  }
  let neverDelivered = 0;
  const perEvent: Record<string, number> = {};
  const lags: number[] = [];
  for (const [id, published] of facts.publishedAt) {
    const count = twoXx.get(id) ?? 0;
    perEvent[String(count)] = (perEvent[String(count)] ?? 0) + 1;
    if (count === 0) {
      neverDelivered += 1;
      note("neverDelivered", id);
    } else lags.push(firstAt.get(id)! - published);
  }
  lags.sort((a, b) => a - b);
  const quantile = (q: number) => lags[Math.min(lags.length - 1, Math.floor(q * lags.length))] ?? 0;
  let badSignatures = 0;
  for (const request of [...facts.steady, ...facts.gone])
    if (!request.verified) {
      badSignatures += 1;
      note("badSignatures", request.id);
    }
  // After the disable: at the receiver, a request signed (webhook-timestamp, whole seconds) after it;
  // in reframe's records, an attempt sent after it. Either one counts.
  let sentToDisabledEndpoint = 0;
  let inFlightAtDisable = 0;
  if (facts.disabledAt !== undefined) {
    const disabledAt = facts.disabledAt;
    const lateAttempts = new Set<string>();
    for (const record of facts.records)
      if (record.endpoint === GONE && record.attempts.some((attempt) => attempt.sentAt > disabledAt))
        lateAttempts.add(record.eventId);
    for (const request of facts.gone) {
      if (request.arrivedAt <= disabledAt) continue;
      if (request.timestamp * 1000 > disabledAt) lateAttempts.add(request.id);
      else inFlightAtDisable += 1;
    }
    sentToDisabledEndpoint = lateAttempts.size;
    for (const id of lateAttempts) note("sentToDisabledEndpoint", id);
  }
  return {
    seed: facts.seed,
    events: facts.publishedAt.size,
    injected: facts.injected,
    workerKills: facts.workerKills,
    redisRestarts: facts.redisRestarts,
    drainMs: facts.drainMs,
    steady: {
      delivered: facts.publishedAt.size - neverDelivered,
      twoXxPerEvent: perEvent,
      duplicates: [...twoXx.values()].reduce((sum, n) => sum + n - 1, 0),
      requests: facts.steady.length,
      lagMs: { p50: quantile(0.5), p99: quantile(0.99), max: lags.at(-1) ?? 0 },
      recordsDelivered: facts.records.filter((r) => r.endpoint === STEADY && r.state === "completed").length,
    },
    gone: {
      disabledAt: facts.disabledAt,
      disabledReason: facts.disabledReason,
      requests: facts.gone.length,
      inFlightAtDisable,
      failedAsDisabled: facts.records.filter(
        (r) => r.endpoint === GONE && r.failedReason.startsWith("endpointDisabled"),
      ).length,
    },
    mustBeZero: { neverDelivered, badSignatures, sentToDisabledEndpoint },
    examples,
  };
}

const OUTBOUND_MUST_BE_ZERO: Record<keyof OutboundReport["mustBeZero"], string> = {
  neverDelivered: "events never delivered to the endpoint that stayed enabled",
  badSignatures: "deliveries with a bad signature (either endpoint)",
  sentToDisabledEndpoint: "deliveries to the disabled endpoint after its 410",
};

export function outboundViolations(report: OutboundReport): string[] {
  return Object.entries(report.mustBeZero)
    .filter(([, value]) => value !== 0)
    .map(([key, value]) => `${OUTBOUND_MUST_BE_ZERO[key as keyof OutboundReport["mustBeZero"]]}: ${value}`);
}

export function formatOutboundReport(report: OutboundReport): string {
  const seconds = (ms: number | undefined) =>
    ms === undefined ? "did not drain" : `${(ms / 1000).toFixed(1)} s`;
  const perEvent = Object.entries(report.steady.twoXxPerEvent)
    .sort(([a], [b]) => Number(a) - Number(b))
    .map(([count, events]) => `${count}: ${events}`)
    .join(", ");
  const disabled =
    report.gone.disabledAt === undefined
      ? "never (no 410 was drawn)"
      : `yes: ${report.gone.disabledReason}; ${report.gone.failedAsDisabled} deliveries held as endpointDisabled`;
  const rows: [string, string, string][] = [
    ["events published, each to both endpoints", String(report.events), ""],
    [`${STEADY}: events delivered (2xx within the timeout)`, String(report.steady.delivered), ""],
    [`${STEADY}: deliveries reframe records as delivered`, String(report.steady.recordsDelivered), ""],
    [OUTBOUND_MUST_BE_ZERO.neverDelivered, String(report.mustBeZero.neverDelivered), "0"],
    [OUTBOUND_MUST_BE_ZERO.badSignatures, String(report.mustBeZero.badSignatures), "0"],
    [OUTBOUND_MUST_BE_ZERO.sentToDisabledEndpoint, String(report.mustBeZero.sentToDisabledEndpoint), "0"],
    [`${GONE}: disabled after a 410`, disabled, ""],
    [`${GONE}: requests in flight when it was disabled`, String(report.gone.inFlightAtDisable), ""],
    [`${STEADY}: 2xx answers per event (count: events)`, perEvent, ""],
    [`${STEADY}: duplicate deliveries (2xx beyond the first)`, String(report.steady.duplicates), ""],
    [`${STEADY}: requests in all (retries included)`, String(report.steady.requests), ""],
    [
      "delivery lag, published → first 2xx (p50 / p99 / max)",
      `${seconds(report.steady.lagMs.p50)} / ${seconds(report.steady.lagMs.p99)} / ${seconds(report.steady.lagMs.max)}`,
      "",
    ],
    ["time to drain", seconds(report.drainMs), ""],
  ];
  const width = [0, 1, 2].map((i) =>
    Math.max(...rows.map((row) => row[i]!.length), ["figure", "value", "must be"][i]!.length),
  );
  const line = (cells: string[]) => `| ${cells.map((cell, i) => cell.padEnd(width[i]!)).join(" | ")} |`;
  const injected = Object.entries(report.injected)
    .map(([fault, count]) => `${fault} ×${count}`)
    .join(", ");
  const examples = Object.entries(report.examples)
    .map(([figure, ids]) => `\n${figure}: ${ids.join(", ")}`)
    .join("");
  return (
    [
      `seed ${report.seed}; injected: ${injected}; workers SIGKILLed ×${report.workerKills}; Redis restarted ×${report.redisRestarts}`,
      "",
      line(["figure", "value", "must be"]),
      `|${width.map((w) => "-".repeat(w + 2)).join("|")}|`,
      ...rows.map(line),
    ].join("\n") + examples
  );
}
