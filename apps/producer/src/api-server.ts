import {
  BATCH_ID_PATTERN,
  type BatchStore,
  createBatchStore,
  enqueueIntoLabelledBatches,
  formatIssuePath,
  JobValidationError,
  type OutpaintJob,
  parseOutpaintJobs,
} from "@reframe/jobs";
import { ServiceUnreachableError } from "@reframe/reachability";
import { type RedisClient, redisError, WriteNotConfirmedError } from "@reframe/redis";
import { ATTRIBUTES, type Logger, type Metrics, withRequestSpan } from "@reframe/telemetry";
import type { Queue } from "bullmq";
import Fastify, { type FastifyReply, type FastifyRequest } from "fastify";
import { batchView } from "./batch-view.ts";
import { DASHBOARD_PATH, type DashboardOptions, registerDashboard } from "./dashboard/dashboard.ts";
import { hasBearerToken, INTAKE_PATH, type IntakeOptions, registerIntakeRoute } from "./intake-route.ts";
import { jobStatus } from "./job-status.ts";
import { openApiDocument } from "./openapi.ts";
import { hasIntakeCredentials, INTAKE_CHALLENGES } from "./sns/index.ts";

export interface ApiServerOptions {
  queue: Queue;
  redis: RedisClient;
  prefix: string;
  /** Bearer token every request must carry (except the OpenAPI document). */
  token: string;
  logger: Logger;
  /** Jobs per POST at most; a bigger list belongs to `reframe bulk`. */
  maxJobsPerRequest?: number;
  /** The S3 event intake (POST /v1/events/s3), with its own token; absent, the route does not exist. */
  intake?: Omit<IntakeOptions, "queue" | "redis" | "prefix" | "logger" | "confirmWrites">;
  /**
   * Before a 202: the added jobs are on enough replicas to survive a failover. When they are not in
   * time it throws WriteNotConfirmedError, answered 503 (retrying adds nothing twice).
   */
  confirmWrites?: () => Promise<void>;
  /** The dashboard at /dashboard (its own login); absent, the path does not exist. */
  dashboard?: Omit<DashboardOptions, "queue" | "redis" | "prefix" | "batches" | "logger">;
  /** Requests by route and status, jobs added (reframe_http_requests_total, reframe_api_jobs_added_total). */
  metrics?: Pick<Metrics, "httpRequest" | "jobsAdded" | "setSpend">;
}

/**
 * The HTTP API: POST /v1/jobs (one job, or {jobs: [...]}), GET /v1/jobs/:id, GET /v1/batches/:id,
 * GET /openapi.json. Validation errors are 400 with the path of each bad field; nothing is added
 * unless every job of the request is valid.
 */
export function createApiServer(options: ApiServerOptions) {
  // Fastify's own request logs stay off: failures are logged by the error handler, with redaction.
  const app = Fastify({ logger: false, bodyLimit: 5 * 1024 * 1024 });
  const maxJobs = options.maxJobsPerRequest ?? 1000;
  const batches = createBatchStore(options.redis, { prefix: options.prefix });
  const metrics = options.metrics;
  if (metrics) {
    app.addHook("onResponse", async (request, reply) => {
      metrics.httpRequest(request.routeOptions.url ?? "unmatched", reply.statusCode);
    });
  }
  app.get("/openapi.json", async () => openApiDocument());
  app.addHook("onRequest", async (request, reply) => {
    if (request.url === "/openapi.json" || request.url === "/healthz") return;
    // The dashboard authenticates with its own session cookie (dashboard.ts).
    const path = request.url.split("?")[0];
    if (options.dashboard && (path === DASHBOARD_PATH || path?.startsWith(`${DASHBOARD_PATH}/`))) return;
    const intake = request.url === INTAKE_PATH && options.intake;
    const token = intake ? options.intake!.token : options.token;
    if (!(intake ? hasIntakeCredentials(request, token) : hasBearerToken(request, token))) {
      return reply
        .code(401)
        .header("www-authenticate", intake ? INTAKE_CHALLENGES : "Bearer")
        .send({
          error: "unauthorized",
          message: `send Authorization: Bearer <${token === options.token ? "API_TOKEN" : "INTAKE_TOKEN"}>`,
        });
    }
  });
  app.get("/healthz", async () => ({ ok: (await options.redis.ping()) === "PONG" }));
  if (options.intake) {
    registerIntakeRoute(app, {
      ...options.intake,
      queue: options.queue,
      redis: options.redis,
      prefix: options.prefix,
      logger: options.logger,
      ...(options.confirmWrites ? { confirmWrites: options.confirmWrites } : {}),
      ...(options.metrics ? { metrics: options.metrics } : {}),
    });
  }
  app.post("/v1/jobs", async (request, reply) =>
    withRequestSpan(
      request.headers,
      { [ATTRIBUTES.httpMethod]: "POST", [ATTRIBUTES.httpRoute]: "/v1/jobs" },
      async (span) => {
        const answer = await postJobs(request, reply, options.queue, batches, maxJobs, {
          confirmWrites: options.confirmWrites,
          metrics,
        });
        span?.setAttribute(ATTRIBUTES.httpStatus, reply.statusCode);
        return answer;
      },
    ),
  );
  app.get<{ Params: { jobId: string } }>("/v1/jobs/:jobId", async (request, reply) => {
    const status = await jobStatus(options.queue, request.params.jobId);
    return status ?? reply.code(404).send({ error: "not-found", message: `no job ${request.params.jobId}` });
  });
  // What `reframe queue counts` prints; KEDA's metrics-api scaler reads `delayed` here (its Redis
  // scalers count lists only, and delayed jobs are a sorted set).
  app.get("/v1/queue/counts", async () =>
    options.queue.getJobCounts("waiting", "prioritized", "delayed", "active", "completed", "failed"),
  );
  app.get<{ Params: { batchId: string } }>("/v1/batches/:batchId", async (request, reply) => {
    const status = BATCH_ID_PATTERN.test(request.params.batchId)
      ? await batches.status(request.params.batchId)
      : undefined;
    if (!status)
      return reply.code(404).send({ error: "not-found", message: `no batch ${request.params.batchId}` });
    return batchView(status);
  });
  if (options.dashboard) {
    registerDashboard(app, {
      ...options.dashboard,
      queue: options.queue,
      redis: options.redis,
      prefix: options.prefix,
      batches,
      logger: options.logger,
    });
  }
  app.setErrorHandler((error: Error & { statusCode?: number }, _request, reply) => {
    if (error instanceof WriteNotConfirmedError) {
      options.logger.warn({ err: error }, "a write was not confirmed by the replicas; answered 503");
      return reply
        .code(503)
        .header("retry-after", "1")
        .send({ error: "unavailable", message: error.message });
    }
    // Redis away: 503 and one line in the log (the reconnection attempts are reported by the
    // connection); where Redis is stays out of the answer.
    const failure = redisError(options.redis, error);
    if (failure instanceof ServiceUnreachableError) {
      options.logger.warn({ unreachable: failure.target }, `request not served: ${failure.message}`);
      return reply
        .code(503)
        .header("retry-after", "5")
        .send({ error: "unavailable", message: "the queue cannot be reached; try again later" });
    }
    const status = error.statusCode ?? 500;
    if (status >= 500) options.logger.error({ err: error }, "request failed");
    reply.code(status).send({
      error: status >= 500 ? "internal" : "bad-request",
      message: status >= 500 ? "the request failed" : error.message,
    });
  });
  return app;
}

async function postJobs(
  request: FastifyRequest,
  reply: FastifyReply,
  queue: Queue,
  batches: BatchStore,
  maxJobs: number,
  after: { confirmWrites: (() => Promise<void>) | undefined; metrics: ApiServerOptions["metrics"] },
) {
  const body = request.body as { jobs?: unknown } | undefined;
  const prefixed = Array.isArray(body?.jobs);
  const list = prefixed ? (body!.jobs as unknown[]) : [body];
  if (list.length === 0 || list.length > maxJobs) {
    return reply
      .code(400)
      .send({ error: "validation", issues: [{ path: "jobs", rule: `must hold 1 to ${maxJobs} jobs` }] });
  }
  let jobs: OutpaintJob[];
  try {
    jobs = parseOutpaintJobs(list);
  } catch (error) {
    if (!(error instanceof JobValidationError)) throw error;
    // Fields are named from the list (["inputs", 1, "output", "quality"]); say them as the body does.
    const issues = error.issues.map(({ path: [, index, ...field], rule }) => ({
      path: formatIssuePath(prefixed ? ["jobs", index ?? 0, ...field] : field),
      rule,
    }));
    return reply.code(400).send({ error: "validation", issues });
  }
  const { added, existing, jobIds } = await enqueueIntoLabelledBatches(queue, batches, jobs, "api");
  await after.confirmWrites?.();
  after.metrics?.jobsAdded(added, existing);
  return reply.code(202).send({ added, existing, jobIds });
}
