import { jobTraceMetadata, promoteJob, type TaskStore } from "@reframe/jobs";
import { ServiceUnreachableError } from "@reframe/reachability";
import { type RedisClient, redisError } from "@reframe/redis";
import { verifyTaskWebhookToken } from "@reframe/runware";
import {
  ATTRIBUTES,
  type Logger,
  linkFromJobMetadata,
  type Metrics,
  SPANS,
  type SpanHandle,
  startRootSpan,
  tracingActive,
  withSpan,
} from "@reframe/telemetry";
import type { Queue } from "bullmq";
import Fastify, { type FastifyError, type FastifyInstance, type FastifyRequest } from "fastify";
import { readDelivery } from "./delivery.ts";

/**
 * The public receiver of provider webhooks. Each provider task carries its own URL,
 * `${baseUrl}/runware/${taskUUID}?token=…` (runware's taskWebhookURL), whose token is checked in
 * constant time before the body is even read. A delivery stores the task's outcome (first final one wins)
 * and wakes the parked job; the answer goes back as soon as Redis has it, because the provider
 * retries slow or failed deliveries.
 *
 * Stateless: everything lives in Redis, so any number of replicas can sit behind a load balancer.
 *
 *   200 {ok:true, stored:true}    stored; the job was promoted
 *   200 {ok:true, stored:false}   a duplicate or a replay: the first outcome stays, nothing changes;
 *                                 also a task no job waits for (finished, or unknown): nothing stored;
 *                                 also an answer that does not end the task (still processing, a
 *                                 refusal for now): nothing stored, counted as notFinal
 *   400                           malformed JSON, not a webhook body, or a taskUUID that is not the URL's
 *   401                           missing or wrong token (nothing is read or stored)
 *   413                           body over the limit
 *   503                           Redis unavailable: the provider should deliver again later
 */

export interface WebhookServerOptions {
  redis: RedisClient;
  queue: Queue;
  taskStore: TaskStore;
  secret: string;
  logger: Logger;
  /** A webhook is one task's JSON (a few KB); 1 MiB leaves room and stops abuse. */
  bodyLimitBytes?: number;
  /** The whole request must arrive within this (a body trickled byte by byte is cut off). */
  bodyTimeoutMs?: number;
  /**
   * Before the 200: the stored outcome is on enough replicas to survive a failover (the provider
   * does not deliver twice what we acknowledged). Not in time: 503, and the provider delivers again.
   */
  confirmWrites?: () => Promise<void>;
  now?: () => number;
  /** Deliveries by result and refused verifications (reframe_webhook_*). */
  metrics?: Pick<Metrics, "webhookDelivery" | "webhookVerificationRefused">;
}

const HEALTH_TIMEOUT_MS = 2_000;
const NO_METRICS: NonNullable<WebhookServerOptions["metrics"]> = {
  webhookDelivery: () => {},
  webhookVerificationRefused: () => {},
};
/** The arrival span of a delivery, from its first byte to the answer. */
const arrivals = new WeakMap<FastifyRequest, SpanHandle>();

interface DeliveryRoute {
  Params: { taskUUID: string };
  Querystring: { token?: string | string[] };
}

export function createWebhookServer(options: WebhookServerOptions): FastifyInstance {
  const {
    redis,
    queue,
    taskStore,
    secret,
    logger,
    bodyLimitBytes = 1024 * 1024,
    bodyTimeoutMs = 10_000,
  } = options;
  const now = options.now ?? Date.now;
  const metrics = options.metrics ?? NO_METRICS;
  const app = Fastify({
    logger: false,
    bodyLimit: bodyLimitBytes,
    requestTimeout: bodyTimeoutMs,
    // Given to http.createServer: Node 24 ignores a requestTimeout set on the server afterwards (as
    // Fastify's own option does). It checks timeouts on `connectionsCheckingInterval` (30 s by
    // default), which bounds how late a trickling body is cut off (408).
    http: {
      requestTimeout: bodyTimeoutMs,
      headersTimeout: bodyTimeoutMs,
      connectionsCheckingInterval: Math.min(1_000, bodyTimeoutMs),
    },
    return503OnClosing: true,
  });

  // Providers do not all send `application/json`; any content type is read as JSON text.
  app.addContentTypeParser("*", { parseAs: "string" }, (_request, body, done) => {
    try {
      done(null, JSON.parse(body as string));
    } catch {
      done(Object.assign(new Error("the body is not valid JSON"), { statusCode: 400, code: "invalid-json" }));
    }
  });

  app.setErrorHandler((error: FastifyError, request, reply) => {
    const status = error.statusCode ?? 500;
    const taskUUID = (request.params as { taskUUID?: string } | undefined)?.taskUUID;
    metrics.webhookDelivery(status >= 400 && status < 500 ? "refused" : "unavailable");
    if (status >= 400 && status < 500) {
      logger.warn({ taskUUID, status, code: error.code }, `webhook refused: ${error.message}`);
      return reply
        .code(status)
        .send({ ok: false, error: error.code ?? "bad-request", message: error.message });
    }
    // Redis away: one line, no stack (the reconnection attempts are reported by the connection).
    const failure = redisError(redis, error);
    if (failure instanceof ServiceUnreachableError)
      logger.warn(
        { taskUUID, unreachable: failure.target },
        `webhook not stored: ${failure.message}; the provider will deliver again`,
      );
    else logger.error({ taskUUID, err: error }, "webhook failed; the provider will deliver again");
    return reply.code(503).send({ ok: false, error: "unavailable" });
  });

  app.post<DeliveryRoute>(
    "/runware/:taskUUID",
    {
      onRequest: async (request, reply) => {
        const arrival = startRootSpan(SPANS.webhookArrival, {
          [ATTRIBUTES.taskUUID]: request.params.taskUUID,
        });
        arrivals.set(request, arrival);
        await arrival.run(() =>
          withSpan(SPANS.webhookVerify, { [ATTRIBUTES.taskUUID]: request.params.taskUUID }, async (span) => {
            const refused = await rejectBadToken(request, reply, secret, logger);
            span?.setAttribute(ATTRIBUTES.result, refused ? "refused" : "verified");
            if (!refused) return;
            metrics.webhookVerificationRefused();
            metrics.webhookDelivery("refused");
          }),
        );
      },
      onResponse: async (request, reply) => {
        arrivals.get(request)?.setAttributes({ [ATTRIBUTES.httpStatus]: reply.statusCode });
        arrivals.get(request)?.end(reply.statusCode >= 500 ? `HTTP ${reply.statusCode}` : undefined);
      },
    },
    async (request, reply) => {
      const { taskUUID } = request.params;
      const arrival = arrivals.get(request);
      const delivery = readDelivery(request.body, taskUUID, now());
      if (!delivery.ok) {
        logger.warn({ taskUUID, reason: delivery.reason }, "webhook refused: not a delivery for this task");
        metrics.webhookDelivery("refused");
        return reply.code(400).send({ ok: false, error: delivery.error, message: delivery.reason });
      }
      const { reading } = delivery;
      if (reading.kind !== "store") {
        // Still running, or refused for now: nothing final to store. The provider sends the task's
        // end later, and the reconciler keeps polling it meanwhile.
        metrics.webhookDelivery("notFinal");
        arrival?.setAttributes({ [ATTRIBUTES.result]: "notFinal" });
        logger.info({ taskUUID, answer: reading.kind }, "webhook received: not final, nothing stored");
        return reply.code(200).send({ ok: true, stored: false });
      }
      const { stored, jobId } = await taskStore.storeOutcome(taskUUID, reading.record);
      // Also on a duplicate: the provider delivers again when our last answer failed, possibly
      // after the store but before the promote. Promoting a job that is not delayed does nothing.
      const promoted = jobId ? await promoteJob(queue, jobId) : "missing";
      await options.confirmWrites?.();
      metrics.webhookDelivery(stored ? "stored" : "duplicate");
      if (jobId && tracingActive())
        arrival?.addLink(linkFromJobMetadata(await jobTraceMetadata(queue, jobId).catch(() => undefined)));
      arrival?.setAttributes({
        [ATTRIBUTES.jobId]: jobId ?? "",
        [ATTRIBUTES.result]: stored ? "stored" : "duplicate",
      });
      logger.info({ taskUUID, jobId, stored, promoted, outcome: reading.record.kind }, "webhook received");
      return reply.code(200).send({ ok: true, stored });
    },
  );

  app.get("/healthz", async (_request, reply) => {
    const healthy = await pingWithin(redis, HEALTH_TIMEOUT_MS);
    return reply.code(healthy ? 200 : 503).send({ ok: healthy, redis: healthy ? "up" : "down" });
  });

  return app;
}

/** True when the delivery was refused (401 sent). */
async function rejectBadToken(
  request: FastifyRequest<DeliveryRoute>,
  reply: { code(status: number): { send(body: unknown): unknown } },
  secret: string,
  logger: Logger,
): Promise<boolean> {
  const { taskUUID } = request.params;
  const token = request.query.token;
  const verdict =
    typeof token === "string"
      ? verifyTaskWebhookToken({ taskUUID, token, secret })
      : { ok: false as const, reason: "missing token" };
  if (verdict.ok) return false;
  // The token itself is never logged.
  logger.warn({ taskUUID, reason: verdict.reason }, "webhook refused: bad token");
  await reply.code(401).send({ ok: false, error: "unauthorized" });
  return true;
}

async function pingWithin(redis: RedisClient, timeoutMs: number): Promise<boolean> {
  let timer: NodeJS.Timeout | undefined;
  const timeout = new Promise<boolean>((resolve) => {
    timer = setTimeout(() => resolve(false), timeoutMs);
  });
  try {
    return await Promise.race([redis.ping().then((reply) => reply === "PONG"), timeout]);
  } catch {
    return false;
  } finally {
    clearTimeout(timer);
  }
}
