import cookie from "@fastify/cookie";
import formbody from "@fastify/formbody";
import {
  alertEventSchema,
  type BatchStatus,
  type BatchStore,
  describeBreaker,
  listBatches,
  listBreakers,
  readPauseState,
  resumeQueue,
  SAMPLED_STATES,
} from "@reframe/jobs";
import { createPipelineRunQueue, createPipelineStore, schedulerIdOf, type Trigger } from "@reframe/pipelines";
import type { RedisClient } from "@reframe/redis";
import { type ImageLoader, makeThumbnail } from "@reframe/report";
import type { Logger } from "@reframe/telemetry";
import { Queue } from "bullmq";
import type { FastifyInstance, FastifyReply, FastifyRequest } from "fastify";
import { BULL_BOARD_ACTIONS, registerBullBoard } from "./bull-board.ts";
import {
  type AlertView,
  batchPage,
  loginPage,
  overviewPage,
  type PageContext,
  type PipelineView,
  pipelinesPage,
  type SourceView,
} from "./pages.ts";
import {
  csrfTokenOf,
  isCsrfToken,
  isLoginToken,
  isSignedRef,
  newSession,
  readSession,
  SESSION_COOKIE,
  SESSION_TTL_MS,
  type SessionKeys,
  signRef,
} from "./session.ts";

/**
 * The dashboard at /dashboard: reframe's own pages (batches and pipeline runs with their pictures,
 * pipelines, the queue's pause state) and Bull Board at /dashboard/queues, behind a login.
 *
 * - Login with DASHBOARD_TOKEN (or the API token when none is set): a session cookie, HttpOnly,
 *   SameSite=Strict, scoped to /dashboard, Secure behind https. Without it nothing of the queues is
 *   served: pages redirect to the login, data routes answer 401.
 * - Every action (a POST of ours, a PUT/PATCH/POST of Bull Board's) must come from the dashboard's
 *   own origin (Origin, or Sec-Fetch-Site); our forms also carry the session's CSRF token.
 * - Read-only unless DASHBOARD_ACTIONS=on.
 * - Pictures are thumbnails made here from S3 on demand and cached, at URLs signed for this
 *   dashboard and served only with the session cookie: no presigned URL reaches a page.
 * - The cookie and the tokens are never logged (Fastify's request log is off; nothing here logs them).
 */

export const DASHBOARD_PATH = "/dashboard";

export interface DashboardOptions {
  /** DASHBOARD_TOKEN, or the API token. */
  tokens: readonly string[];
  /** DASHBOARD_ACTIONS=on: resume, retry, Bull Board's retry/promote/clean/schedulers. */
  actions: boolean;
  queue: Queue;
  redis: RedisClient;
  prefix: string;
  batches: BatchStore;
  /** Reads s3://bucket/key for thumbnails; undefined when the API has no S3 credentials. */
  loadImage: ImageLoader | undefined;
  /** The queue whose alerts the overview lists (the first of ALERTS_ROUTE). */
  alertsQueue: string;
  /** Retries a batch's failed jobs; returns how many went back to the queue. */
  retryBatch(batchId: string): Promise<number>;
  /** SPEND_LIMIT_USD_PER_DAY when set. */
  spendLimitUsdPerDay?: number;
  logger: Logger;
  now?: () => number;
}

const sessions = new WeakMap<FastifyRequest, string>();
const NO_PICTURE = `<svg xmlns="http://www.w3.org/2000/svg" width="240" height="160"><rect width="100%" height="100%" fill="#eef0f4"/><text x="50%" y="50%" font-family="sans-serif" font-size="14" fill="#6b7385" text-anchor="middle" dominant-baseline="middle">no picture (unreadable)</text></svg>`;
const SOURCES_SHOWN = 60;

export function registerDashboard(app: FastifyInstance, options: DashboardOptions): void {
  const keys: SessionKeys = { tokens: options.tokens };
  const now = options.now ?? Date.now;
  const base = DASHBOARD_PATH;
  const thumbnails = new ThumbnailCache(300);
  const alerts = new Queue(options.alertsQueue, { connection: options.redis, prefix: options.prefix });
  const runQueue = createPipelineRunQueue({ connection: options.redis, prefix: options.prefix });
  const pipelines = createPipelineStore(options.redis, { prefix: options.prefix });
  let closeBoard: () => Promise<void> = async () => {};
  app.addHook("onClose", async () => {
    await closeBoard();
    await Promise.all([alerts.close(), runQueue.close()]);
  });

  app.register(
    async (scope) => {
      await scope.register(cookie);
      await scope.register(formbody);
      scope.addHook("onRequest", async (request, reply) => guard(request, reply));
      scope.setErrorHandler((error: Error & { statusCode?: number }, _request, reply) => {
        const status = error.statusCode ?? 500;
        if (status >= 500) options.logger.error({ err: error }, "dashboard request failed");
        return reply
          .code(status)
          .type("text/plain")
          .send(status >= 500 ? "the request failed" : error.message);
      });

      scope.get("/login", async (request, reply) =>
        reply.type("text/html").send(loginPage(base, (request.query as { failed?: string }).failed === "1")),
      );
      scope.post("/login", async (request, reply) => {
        const token = (request.body as { token?: unknown } | undefined)?.token;
        if (typeof token !== "string" || !isLoginToken(keys, token)) {
          options.logger.warn({ ip: request.ip }, "dashboard login refused");
          return reply.redirect(`${base}/login?failed=1`, 303);
        }
        reply.setCookie(SESSION_COOKIE, newSession(keys, now()), {
          path: base,
          httpOnly: true,
          sameSite: "strict",
          secure: isHttps(request),
          maxAge: SESSION_TTL_MS / 1000,
        });
        return reply.redirect(base, 303);
      });
      scope.post("/logout", async (request, reply) => {
        requireCsrf(request);
        reply.clearCookie(SESSION_COOKIE, { path: base });
        return reply.redirect(`${base}/login`, 303);
      });

      scope.get("/", async (request, reply) => {
        const [pause, counts, listed, recentAlerts, breakers] = await Promise.all([
          readPauseState(options.queue),
          options.queue.getJobCounts(...SAMPLED_STATES),
          listBatches(options.redis, { prefix: options.prefix, limit: 30 }),
          alerts.getJobs(["waiting", "active", "completed", "failed", "delayed"], 0, 19),
          listBreakers(options.redis, { prefix: options.prefix }),
        ]);
        const statuses = (
          await Promise.all(listed.map((entry) => options.batches.status(entry.batchId)))
        ).filter((status): status is BatchStatus => status !== undefined);
        // The alerts queue holds alert events only; anything else (a hand-added job) is not shown.
        const alertViews: AlertView[] = recentAlerts
          .flatMap((job) => {
            const parsed = alertEventSchema.safeParse(job.data);
            return parsed.success ? [parsed.data] : [];
          })
          .sort((a, b) => b.time.localeCompare(a.time))
          .map((event) => ({
            type: event.type,
            subject: event.subject,
            message: event.data.message,
            time: event.time,
          }));
        return reply.type("text/html").send(
          overviewPage(
            context(request),
            {
              name: options.queue.name,
              counts,
              pause,
              breakers: breakers.map((breaker) => ({
                service: breaker.service,
                open: breaker.open,
                line: describeBreaker(breaker, now()),
              })),
            },
            statuses,
            alertViews,
          ),
        );
      });

      scope.post("/queue/resume", async (request, reply) => {
        requireCsrf(request);
        await resumeQueue(options.queue);
        options.logger.info("outpaint queue resumed from the dashboard");
        return reply.redirect(base, 303);
      });

      scope.get<{ Params: { batchId: string } }>("/batches/:batchId", async (request, reply) => {
        const status = await options.batches.status(request.params.batchId).catch(() => undefined);
        if (!status) return reply.code(404).type("text/plain").send(`no batch ${request.params.batchId}`);
        const { sources, more } = await sourceViews(status.batchId);
        return reply.type("text/html").send(batchPage(context(request), status, sources, more));
      });

      scope.post<{ Params: { batchId: string } }>("/batches/:batchId/retry", async (request, reply) => {
        requireCsrf(request);
        const retried = await options.retryBatch(request.params.batchId);
        options.logger.info(
          { batchId: request.params.batchId, retried },
          "batch failures retried from the dashboard",
        );
        return reply.redirect(`${base}/batches/${encodeURIComponent(request.params.batchId)}`, 303);
      });

      scope.get("/pipelines", async (request, reply) => {
        const views: PipelineView[] = [];
        const today = new Date(now()).toISOString().slice(0, 10);
        for (const { name, definition } of await pipelines.all()) {
          const [scheduler, runs] = await Promise.all([
            definition.schedule ? runQueue.getJobScheduler(schedulerIdOf(name)) : undefined,
            pipelines.runs(name, 20),
          ]);
          // A run's batch, read once for both its spend today and its progress.
          const statuses = new Map<string, Promise<BatchStatus | undefined>>();
          const batchOf = (runId: string) => {
            let status = statuses.get(runId);
            if (!status) {
              status = options.batches.status(runId).catch(() => undefined);
              statuses.set(runId, status);
            }
            return status;
          };
          let spentTodayUsd = 0;
          for (const run of runs.filter((r) => new Date(r.startedAt).toISOString().slice(0, 10) === today)) {
            spentTodayUsd += (await batchOf(run.runId))?.costUsd ?? 0;
          }
          const lastRuns = await Promise.all(
            runs.slice(0, 3).map(async (run) => ({
              ...run,
              batch: run.state === "enqueued" ? await batchOf(run.runId) : undefined,
            })),
          );
          views.push({
            name,
            schedule: definition.schedule
              ? `${definition.schedule.cron} (${definition.schedule.timezone})`
              : undefined,
            nextRun: scheduler?.next,
            triggers: definition.triggers.map(describeTrigger),
            budgetPerRunUsd: definition.budget?.maxCostUsd,
            spentTodayUsd,
            dailyLimitUsd: options.spendLimitUsdPerDay,
            lastRuns,
          });
        }
        return reply.type("text/html").send(pipelinesPage(context(request), views));
      });

      scope.get("/thumb", async (request, reply) => {
        const { ref, sig } = request.query as { ref?: string; sig?: string };
        if (!ref || !isSignedRef(keys, ref, sig)) return reply.code(404).send();
        if (!options.loadImage) return reply.code(404).send();
        const picture = await thumbnails.get(ref, async () =>
          makeThumbnail(await options.loadImage!(ref), 360),
        );
        // Gone or not an image: a placeholder that says so, not a broken-image icon.
        if (!picture) return reply.type("image/svg+xml").header("cache-control", "no-store").send(NO_PICTURE);
        return reply.type("image/webp").header("cache-control", "private, max-age=600").send(picture);
      });

      const board = await registerBullBoard(scope, {
        basePath: `${base}/queues`,
        mountPath: "/queues",
        redis: options.redis,
        prefix: options.prefix,
        actions: options.actions,
      });
      closeBoard = board.close;
    },
    { prefix: base },
  );

  function context(request: FastifyRequest): PageContext {
    return { base, csrf: csrfTokenOf(keys, sessions.get(request) ?? ""), actions: options.actions };
  }

  function requireCsrf(request: FastifyRequest): void {
    const nonce = sessions.get(request);
    if (!nonce || !isCsrfToken(keys, nonce, (request.body as { csrf?: unknown } | undefined)?.csrf)) {
      throw Object.assign(new Error("the form is stale or not the dashboard's own: reload the page"), {
        statusCode: 403,
      });
    }
  }

  /** Authentication, same-origin actions and the read-only switch, before any route runs. */
  async function guard(request: FastifyRequest, reply: FastifyReply): Promise<unknown> {
    const path = (request.url.split("?")[0] ?? "").slice(base.length) || "/";
    const reading = request.method === "GET" || request.method === "HEAD";
    if (path === "/login") return reading || sameOrigin(request) ? undefined : forbid(reply, "cross-origin");
    const nonce = readSession(keys, request.cookies?.[SESSION_COOKIE] ?? cookieOf(request), now());
    if (!nonce) {
      if (reading && !path.startsWith("/queues/api") && !path.startsWith("/thumb"))
        return reply.redirect(`${base}/login`, 303);
      return reply
        .code(401)
        .type("application/json")
        .send({ error: "unauthorized", message: "log in at /dashboard/login" });
    }
    sessions.set(request, nonce);
    if (reading) return undefined;
    if (!sameOrigin(request)) return forbid(reply, "an action must come from the dashboard's own pages");
    if (path === "/logout") return undefined;
    if (!options.actions)
      return forbid(reply, "the dashboard is read-only (DASHBOARD_ACTIONS=on allows actions)");
    if (
      path.startsWith("/queues/") &&
      !BULL_BOARD_ACTIONS.some((pattern) => pattern.test(path.slice("/queues".length)))
    )
      return forbid(reply, "this action is not offered by the dashboard; use the CLI");
    return undefined;
  }

  async function sourceViews(batchId: string): Promise<{ sources: SourceView[]; more: number }> {
    const bySource = new Map<string, SourceView>();
    let more = 0;
    const picture = (ref: string) =>
      options.loadImage
        ? `${base}/thumb?ref=${encodeURIComponent(ref)}&sig=${signRef(keys, ref)}`
        : undefined;
    for await (const [, end] of options.batches.results(batchId)) {
      let row = bySource.get(end.source);
      if (!row) {
        if (bySource.size >= SOURCES_SHOWN) {
          more += 1;
          continue;
        }
        row = { source: end.source, picture: picture(end.source), outputs: [], failures: [] };
        bySource.set(end.source, row);
      }
      for (const output of end.outputs) {
        row.outputs.push({
          caption: `${end.target} → ${output.width}×${output.height}`,
          picture: picture(`s3://${output.bucket}/${output.key}`),
        });
      }
      if (end.state === "failed" && end.reason) row.failures.push({ target: end.target, ...end.reason });
    }
    const sources = [...bySource.values()].sort((a, b) => a.source.localeCompare(b.source));
    for (const row of sources) row.outputs.sort((a, b) => a.caption.localeCompare(b.caption));
    return { sources, more };
  }
}

function forbid(reply: FastifyReply, message: string) {
  return reply.code(403).type("application/json").send({ error: "forbidden", message });
}

function isHttps(request: FastifyRequest): boolean {
  return request.protocol === "https" || request.headers["x-forwarded-proto"] === "https";
}

/** An action from another site carries another Origin; browsers send Origin on every POST and PUT. */
function sameOrigin(request: FastifyRequest): boolean {
  const origin = request.headers.origin;
  if (origin) {
    try {
      return new URL(origin).host === request.headers.host;
    } catch {
      return false;
    }
  }
  return request.headers["sec-fetch-site"] === "same-origin";
}

/** Before @fastify/cookie has parsed (the guard runs at onRequest of the scope, after it). */
function cookieOf(request: FastifyRequest): string | undefined {
  const header = request.headers.cookie ?? "";
  const match = new RegExp(`(?:^|;\\s*)${SESSION_COOKIE}=([^;]+)`).exec(header);
  return match?.[1];
}

function describeTrigger(trigger: Trigger): string {
  const suffix = trigger.suffix?.length ? ` ${trigger.suffix.join(" ")}` : "";
  return `s3://${trigger.bucket}/${trigger.prefix ?? ""}${suffix}`;
}

/** Thumbnails made once per object and kept, the newest `capacity` of them. */
class ThumbnailCache {
  private readonly capacity: number;
  private readonly entries = new Map<string, Promise<Buffer | undefined>>();
  constructor(capacity: number) {
    this.capacity = capacity;
  }
  get(ref: string, make: () => Promise<Buffer>): Promise<Buffer | undefined> {
    let entry = this.entries.get(ref);
    if (entry) {
      this.entries.delete(ref);
      this.entries.set(ref, entry);
      return entry;
    }
    entry = make().catch(() => undefined);
    // A failed read is not kept: the object may appear (an output still on its way).
    void entry.then((picture) => {
      if (!picture) this.entries.delete(ref);
    });
    this.entries.set(ref, entry);
    while (this.entries.size > this.capacity) this.entries.delete(this.entries.keys().next().value!);
    return entry;
  }
}
